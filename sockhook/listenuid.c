/*
 * sockhook: who listens on the agent's port. A program shows the agent
 * its token only when the socket listening there belongs to its own user:
 * an agent that died leaves its state file behind, and any local user may
 * then take the port and wait for tokens and destinations. The kernel's
 * sock_diag answers for one socket by its address (what ss(8) asks).
 *
 * Only libc and the real socket calls: this is in the preload library.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "sockhook.h"

/*
 * The owner of the TCP socket listening at sin (an IPv4 address and
 * port). 0 and *uid, or -1 with errno (ENOENT: nobody listens there).
 */
int
listenuid_get(const struct sockaddr_in *sin, uid_t *uid)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr h;
		char b[8192];
	} rep;
	struct nlmsghdr *h;
	struct inet_diag_msg *m;
	ssize_t n;
	int fd, err = EPROTO, saved;

	memset(&req, 0, sizeof req);
	req.nlh.nlmsg_len = sizeof req;
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = AF_INET;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = 1U << 10; /* TCP_LISTEN */
	req.r.id.idiag_sport = sin->sin_port;
	req.r.id.idiag_src[0] = sin->sin_addr.s_addr;
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
		 NETLINK_SOCK_DIAG)) < 0)
		return -1;
	if (real.sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&nl,
		sizeof nl) != (ssize_t)sizeof req) {
		saved = errno;
		real.close(fd);
		errno = saved;
		return -1;
	}
	do
		n = recv(fd, &rep, sizeof rep, 0);
	while (n < 0 && errno == EINTR);
	saved = errno;
	real.close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	for (h = &rep.h; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
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
		if (m->idiag_state != 10 || m->id.idiag_sport != sin->sin_port)
			continue;
		*uid = m->idiag_uid;
		return 0;
	}
	errno = err != 0 ? err : EPROTO;
	return -1;
}
