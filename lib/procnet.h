/*
 * Which process holds which TCP socket, from /proc (Linux): a client
 * agent checks that the program behind a channel listens on the port an
 * isp approved a reverse connection to, before it connects there.
 */
#ifndef DP_PROCNET_H
#define DP_PROCNET_H

#include "frame.h"

#define PROCNET_LISTEN 0x0a /* st of a listening socket */

/* One line of /proc/net/tcp or tcp6; v4-mapped addresses as IPv4. */
struct procnet_sock {
	struct endpoint ps_local;
	struct endpoint ps_remote;
	int ps_state;
	unsigned long ps_inode;
};

int procnet_parse(const char *line, int v6, struct procnet_sock *);
int procnet_owner_listens(const struct endpoint *prog,
    const struct endpoint *door, const struct endpoint *dst, const char **why);

#endif
