/*
 * The audit log: one line per channel at close, per refused request and
 * per announcement a rule found, in logfmt or JSON lines.
 */
#ifndef DP_AUDIT_H
#define DP_AUDIT_H

#include <stdint.h>
#include <sys/types.h>

#include "frame.h"

struct channel;

enum audit_format { AUDIT_LOGFMT = 0, AUDIT_JSON = 1 };

int audit_open(const char *path, int format, char **cause);
int audit_reopen(char **cause);
int audit_chown(uid_t, gid_t);
void audit_set_format(int format);
void audit_set_self(const char *isp_id);
void audit_channel(const struct channel *, int esp_side, const char *end);
void audit_refusal(int esp_side, const char *reason, const char *user,
    const struct endpoint *, const struct endpoint *, const char *end);
void audit_announce(const struct channel *, int esp_side, const char *text,
    const char *fate, const char *why);
void audit_reported(const char *esp, const char *user, const struct endpoint *,
    const struct endpoint *, const char *why);
typedef void (*audit_refusal_hook)(const char *user, const struct endpoint *,
    const struct endpoint *, const char *why, void *);
void audit_set_refusal_hook(audit_refusal_hook, void *);

#endif
