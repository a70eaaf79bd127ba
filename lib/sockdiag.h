/*
 * Whose is a TCP socket on this host: the kernel's sock_diag answers for
 * one socket by its addresses (what ss(8) asks), so that a program checks
 * that its agent's port is its own user's, and the agent that a program
 * that connected is.
 */
#ifndef DP_SOCKDIAG_H
#define DP_SOCKDIAG_H

#include <netinet/in.h>
#include <sys/types.h>

int sockdiag_uid(const struct sockaddr_in *local,
    const struct sockaddr_in *remote, uid_t *uid);
int sockdiag_v4(const struct sockaddr *, struct sockaddr_in *);

#endif
