/*
 * Whose is a TCP socket (sockdiag.h). Only libc and system calls that no
 * preloaded library hooks (socket, write, recv, and close by syscall):
 * this is linked into sockhook's preload library too.
 */
#include "sockdiag.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#define SOCKDIAG_LISTEN 10 /* TCP_LISTEN, as the kernel numbers states */

/*
 * Ask the kernel for one socket of family (AF_INET, or AF_INET6 with the
 * IPv4 addresses as v4-mapped: a dual-stack socket) bound to local and
 * connected to remote, or listening at local with remote NULL.
 */
static int
sockdiag_ask(int family, const struct sockaddr_in *local,
    const struct sockaddr_in *remote, uid_t *uid)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	union {
		struct nlmsghdr h;
		char b[8192];
	} rep;
	struct nlmsghdr *h;
	struct inet_diag_msg *m;
	ssize_t n;
	int fd, err;

	memset(&req, 0, sizeof req);
	req.nlh.nlmsg_len = sizeof req;
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states =
	    remote != NULL ? ~(1U << SOCKDIAG_LISTEN) : 1U << SOCKDIAG_LISTEN;
	req.r.id.idiag_sport = local->sin_port;
	if (remote != NULL)
		req.r.id.idiag_dport = remote->sin_port;
	if (family == AF_INET) {
		req.r.id.idiag_src[0] = local->sin_addr.s_addr;
		if (remote != NULL)
			req.r.id.idiag_dst[0] = remote->sin_addr.s_addr;
	} else {
		req.r.id.idiag_src[2] = htonl(0xffff);
		req.r.id.idiag_src[3] = local->sin_addr.s_addr;
		if (remote != NULL) {
			req.r.id.idiag_dst[2] = htonl(0xffff);
			req.r.id.idiag_dst[3] = remote->sin_addr.s_addr;
		}
	}
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
		 NETLINK_SOCK_DIAG)) < 0)
		return -1;
	/* To the kernel: a netlink socket's default destination. */
	if (write(fd, &req, sizeof req) != (ssize_t)sizeof req)
		n = -1;
	else
		do
			n = recv(fd, &rep, sizeof rep, 0);
		while (n < 0 && errno == EINTR);
	err = n < 0 ? errno : ENOENT;
	syscall(SYS_close, fd);
	for (h = &rep.h; n > 0 && NLMSG_OK(h, (size_t)n);
	     h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			if (h->nlmsg_len >=
			    NLMSG_LENGTH(sizeof(struct nlmsgerr)))
				err =
				    -((struct nlmsgerr *)NLMSG_DATA(h))->error;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof *m))
			continue;
		m = NLMSG_DATA(h);
		if (m->id.idiag_sport != local->sin_port ||
		    (remote != NULL ? m->id.idiag_dport != remote->sin_port
				    : m->idiag_state != SOCKDIAG_LISTEN))
			continue;
		*uid = m->idiag_uid;
		return 0;
	}
	errno = err != 0 ? err : ENOENT;
	return -1;
}

/*
 * The owner of the TCP socket bound to local and connected to remote
 * (IPv4 addresses; the socket itself may be an IPv6 one that reached
 * them v4-mapped), or with remote NULL the one listening at local (the
 * one a connection there reaches). 0 and *uid, or -1 with errno (ENOENT:
 * no such socket).
 */
int
sockdiag_uid(const struct sockaddr_in *local, const struct sockaddr_in *remote,
    uid_t *uid)
{
	if (sockdiag_ask(AF_INET, local, remote, uid) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	return sockdiag_ask(AF_INET6, local, remote, uid);
}

/* An IPv4 address, or an IPv6 one that maps it, as sockaddr_in; -1 if not. */
int
sockdiag_v4(const struct sockaddr *sa, struct sockaddr_in *out)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		0xff };

	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	if (sa->sa_family == AF_INET) {
		memcpy(out, sa, sizeof *out);
		return 0;
	}
	if (sa->sa_family != AF_INET6 ||
	    memcmp(&s6->sin6_addr, mapped, sizeof mapped) != 0) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memcpy(&out->sin_addr, (const uint8_t *)&s6->sin6_addr + 12, 4);
	out->sin_port = s6->sin6_port;
	return 0;
}
