/* Telling systemd how a daemon is doing (Type=notify). */
#ifndef DP_NOTIFY_H
#define DP_NOTIFY_H

void notify_systemd(const char *state);

#endif
