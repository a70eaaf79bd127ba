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
 * The owner of the IPv4 TCP socket bound to local and connected to
 * remote, or with remote NULL the one listening at local (the one a
 * connection there reaches). 0 and *uid, or -1 with errno (ENOENT: no
 * such socket).
 */
int
sockdiag_uid(const struct sockaddr_in *local, const struct sockaddr_in *remote,
    uid_t *uid)
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
	int fd, err = ENOENT;

	memset(&req, 0, sizeof req);
	req.nlh.nlmsg_len = sizeof req;
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = AF_INET;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states =
	    remote != NULL ? ~(1U << SOCKDIAG_LISTEN) : 1U << SOCKDIAG_LISTEN;
	req.r.id.idiag_sport = local->sin_port;
	req.r.id.idiag_src[0] = local->sin_addr.s_addr;
	if (remote != NULL) {
		req.r.id.idiag_dport = remote->sin_port;
		req.r.id.idiag_dst[0] = remote->sin_addr.s_addr;
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
