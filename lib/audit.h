/* The audit log: one logfmt line per channel at close, and per refusal. */
#ifndef DP_AUDIT_H
#define DP_AUDIT_H

#include <stdint.h>

#include "frame.h"

struct channel;

int audit_open(const char *path, char **cause);
void audit_channel(const struct channel *, int esp_side, const char *end);
void audit_refusal(int esp_side, const char *user, const struct endpoint *,
    const struct endpoint *, const char *end);

#endif
