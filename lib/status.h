/* esp -S, isp -S: the running daemon's metrics, for people. */
#ifndef DP_STATUS_H
#define DP_STATUS_H

#include <stdio.h>

#include "listen.h"

int status_run(const char *prog, const char *path);
void status_show(FILE *, const char *prog, const char *url, char *text);
int status_print(const char *prog, const struct listen_set *, FILE *);

#endif
