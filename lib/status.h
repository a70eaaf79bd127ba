/* esp -S, isp -S: the running daemon's metrics, for people. */
#ifndef DP_STATUS_H
#define DP_STATUS_H

#include <stdio.h>

#include "listen.h"

int status_run(const char *prog, const char *path);
int status_print(const char *prog, const struct listen_set *, FILE *);

#endif
