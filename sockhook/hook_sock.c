/* sockhook: the socket calls a program makes, interposed. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "sockhook.h"

#define HOOK __attribute__((visibility("default")))

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

/* Is fd a TCP socket (or MPTCP, which is TCP to everyone else)? */
static int
hook_is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t len = sizeof type;

	if (real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    type != SOCK_STREAM)
		return 0;
	len = sizeof proto;
	if (real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0)
		return 0;
	return proto == IPPROTO_TCP || proto == IPPROTO_MPTCP;
}

/* Is fd, unknown to us, connected or listening already? The kernel says
 * EISCONN then, and leaves it alone. */
static int
hook_is_busy(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int v = 0;

	if (real.getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		return 1;
	len = sizeof v;
	return real.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 &&
	    v != 0;
}

/* A connect on a descriptor we already handled: answer like the kernel. */
static int
hook_connect_again(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct fdtab_slot *s;
	int err = 0, rc = -1;

	fdtab_lock();
	s = fdtab_check(fd);
	switch (s != NULL ? s->state : FD_NONE) {
	case FD_PENDING:
		err = EALREADY;
		break;
	case FD_PROXIED:
		if (sa->sa_family == AF_UNSPEC) {
			fdtab_forget(fd);
			rc = real.connect(fd, sa, len);
			err = errno;
		} else
			err = EISCONN;
		break;
	case FD_FAILED:
		err = s->error;
		fdtab_forget(fd);
		break;
	default:
		rc = -2;
	}
	fdtab_unlock();
	if (rc == -1)
		errno = err;
	return rc;
}

/* connect(2): routed destinations go through the ESP. */
HOOK int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct socks_dest d;
	struct sockaddr_in6 sin6;
	int rc, err = 0, verdict;

	real_ready();
	if (sa == NULL || len < sizeof sa->sa_family)
		return real.connect(fd, sa, len);
	if (fdtab_state(fd) != FD_NONE &&
	    (rc = hook_connect_again(fd, sa, len)) != -2)
		return rc;
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return real.connect(fd, sa, len);
	/* The kernel takes IPv6 addresses without a scope id (RFC 2133). */
	if (sa->sa_family == AF_INET6 && len >= 24 && len < sizeof sin6) {
		memset(&sin6, 0, sizeof sin6);
		memcpy(&sin6, sa, len);
		sa = (const struct sockaddr *)&sin6;
		len = sizeof sin6;
	}
	verdict = route_decide(sa, len, &d, &err);
	if (verdict == ROUTE_DIRECT || !hook_is_tcp(fd))
		return real.connect(fd, sa, len);
	if (fdtab_state(fd) == FD_NONE && hook_is_busy(fd)) {
		errno = EISCONN;
		return -1;
	}
	if (verdict == ROUTE_DENY) {
		char buf[128];

		shlog_debug("connect %s refused: %s",
		    shlog_addr(sa, buf, sizeof buf), strerror(err));
		errno = err;
		return -1;
	}
	if (fcntl(fd, F_GETFL) & O_NONBLOCK)
		return proxy_start(fd, &d);
	return proxy_blocking(fd, &d);
}

/* sendto(2) with MSG_FASTOPEN connects too: never let it bypass us. */
HOOK ssize_t
sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
    socklen_t len)
{
	real_ready();
	if ((flags & MSG_FASTOPEN) && sa != NULL &&
	    (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
	    hook_is_tcp(fd)) {
		if (connect(fd, sa, len) == -1)
			return -1;
		return send(fd, buf, n, flags & ~MSG_FASTOPEN);
	}
	return real.sendto(fd, buf, n, flags, sa, len);
}

/* sendmsg(2), for the same reason as sendto. */
HOOK ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr m;
	const struct sockaddr *sa;

	real_ready();
	if ((flags & MSG_FASTOPEN) && msg != NULL && msg->msg_name != NULL &&
	    hook_is_tcp(fd)) {
		sa = msg->msg_name;
		if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
			if (connect(fd, sa, msg->msg_namelen) == -1)
				return -1;
			m = *msg;
			m.msg_name = NULL;
			m.msg_namelen = 0;
			return real.sendmsg(fd, &m, flags & ~MSG_FASTOPEN);
		}
	}
	return real.sendmsg(fd, msg, flags);
}

/* sendmmsg(2) with MSG_FASTOPEN connects to the first message's address,
 * as sendmsg does; the connection then carries them all. */
HOOK int
sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	const struct sockaddr *sa;

	real_ready();
	if ((flags & MSG_FASTOPEN) && vec != NULL && n > 0 &&
	    vec[0].msg_hdr.msg_name != NULL && hook_is_tcp(fd)) {
		sa = vec[0].msg_hdr.msg_name;
		if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
			if (connect(fd, sa, vec[0].msg_hdr.msg_namelen) == -1)
				return -1;
			flags &= ~MSG_FASTOPEN;
		}
	}
	return real.sendmmsg(fd, vec, n, flags);
}

/* getpeername(2): the original destination, not the ESP. */
HOOK int
getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct fdtab_slot *s;
	int st;

	real_ready();
	if (fdtab_state(fd) == FD_NONE || sa == NULL || len == NULL ||
	    fdtab_busy())
		return real.getpeername(fd, sa, len);
	fdtab_lock();
	s = fdtab_check(fd);
	st = s != NULL ? s->state : FD_NONE;
	if (st == FD_PROXIED) {
		memcpy(sa, &s->peer, *len < s->peerlen ? *len : s->peerlen);
		*len = s->peerlen;
	}
	fdtab_unlock();
	if (st == FD_PROXIED)
		return 0;
	if (st == FD_PENDING || st == FD_FAILED) {
		errno = ENOTCONN;
		return -1;
	}
	return real.getpeername(fd, sa, len);
}

/* getsockname(2): while pending, the program's own socket answers. */
HOOK int
getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct fdtab_slot *s;
	int rc;

	real_ready();
	if (fdtab_state(fd) != FD_PENDING || fdtab_busy())
		return real.getsockname(fd, sa, len);
	fdtab_lock();
	s = fdtab_check(fd);
	if (s != NULL && s->state == FD_PENDING && s->job != NULL)
		rc = real.getsockname(s->job->orig, sa, len);
	else
		rc = real.getsockname(fd, sa, len);
	fdtab_unlock();
	return rc;
}

/* getsockopt(2): SO_ERROR tells the outcome of a connect through the ESP;
 * while pending, the program's own socket answers. */
HOOK int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct fdtab_slot *s;
	int rc, st, v;

	real_ready();
	if ((st = fdtab_state(fd)) == FD_NONE || st == FD_PROXIED ||
	    fdtab_busy())
		return real.getsockopt(fd, level, name, val, len);
	fdtab_lock();
	s = fdtab_check(fd);
	st = s != NULL ? s->state : FD_NONE;
	if (level == SOL_SOCKET && name == SO_ERROR && val != NULL &&
	    len != NULL && *len >= sizeof v &&
	    (st == FD_PENDING || st == FD_FAILED)) {
		v = st == FD_FAILED ? s->error : 0;
		if (st == FD_FAILED)
			fdtab_forget(fd);
		memcpy(val, &v, sizeof v);
		*len = sizeof v;
		rc = 0;
	} else if (st == FD_PENDING && s->job != NULL)
		rc = real.getsockopt(s->job->orig, level, name, val, len);
	else
		rc = real.getsockopt(fd, level, name, val, len);
	fdtab_unlock();
	return rc;
}

/* setsockopt(2): while pending, set on the program's own socket. */
HOOK int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct fdtab_slot *s;
	int rc;

	real_ready();
	if (fdtab_state(fd) != FD_PENDING || fdtab_busy())
		return real.setsockopt(fd, level, name, val, len);
	fdtab_lock();
	s = fdtab_check(fd);
	if (s != NULL && s->state == FD_PENDING && s->job != NULL) {
		rc = real.setsockopt(s->job->orig, level, name, val, len);
		s->job->opts_set = 1; /* carried over once connected */
	} else
		rc = real.setsockopt(fd, level, name, val, len);
	fdtab_unlock();
	return rc;
}

/* Is there anything to forget about fd when it goes away? */
static int
hook_known(int fd)
{
	struct fdtab_slot *s = fdtab_get(fd, 0);

	return s != NULL &&
	    (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != FD_NONE ||
		__atomic_load_n(&s->nreg, __ATOMIC_ACQUIRE) != 0);
}

/* close(2): forget the descriptor; a pending connect is abandoned. */
HOOK int
close(int fd)
{
	int rc;

	real_ready();
	if (!hook_known(fd) || fdtab_hands_off())
		return real.close(fd);
	fdtab_lock();
	fdtab_forget(fd);
	rc = real.close(fd);
	fdtab_unlock();
	return rc;
}

/* dup2(2): the target descriptor is closed first. */
HOOK int
dup2(int old, int new)
{
	int rc;

	real_ready();
	if (old == new || !hook_known(new) || fdtab_hands_off())
		return real.dup2(old, new);
	fdtab_lock();
	rc = real.dup2(old, new);
	if (rc != -1)
		fdtab_forget(new);
	fdtab_unlock();
	return rc;
}

/* dup3(2), as dup2. */
HOOK int
dup3(int old, int new, int flags)
{
	int rc;

	real_ready();
	if (old == new || !hook_known(new) || fdtab_hands_off())
		return real.dup3(old, new, flags);
	fdtab_lock();
	rc = real.dup3(old, new, flags);
	if (rc != -1)
		fdtab_forget(new);
	fdtab_unlock();
	return rc;
}

/* epoll_ctl(2): remember registrations, to carry them over when the
 * descriptor's file is replaced. */
HOOK int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int rc;

	real_ready();
	/* Not fdtab_hands_off: no system call more on this hot path (a vfork
	 * child that only closes and execs never comes here). */
	if (fdtab_busy())
		return real.epoll_ctl(epfd, op, fd, ev);
	fdtab_lock();
	if ((rc = real.epoll_ctl(epfd, op, fd, ev)) == 0)
		fdtab_epoll_record(epfd, op, fd, ev);
	fdtab_unlock();
	return rc;
}
