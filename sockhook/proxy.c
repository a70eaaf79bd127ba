/* sockhook: connecting a program's socket through the ESP.
 *
 * Blocking sockets talk SOCKS on the program's own socket. A non-blocking
 * connect puts a quiet "gate" (a socketpair end that is neither readable
 * nor writable) on the program's descriptor, talks SOCKS on a new socket
 * in a helper thread, and when the outcome is known puts either that
 * socket (success) or the program's own, unconnected socket (failure) on
 * the descriptor, moving epoll registrations along (fdtab_replace). */
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monotime.h"
#include "sockhook.h"

/* Options a program may set before connect, carried to the new socket. */
static const struct {
	int level, name;
} proxy_opts[] = {
	{ SOL_SOCKET, SO_KEEPALIVE },
	{ SOL_SOCKET, SO_SNDBUF },
	{ SOL_SOCKET, SO_RCVBUF },
	{ SOL_SOCKET, SO_LINGER },
	{ SOL_SOCKET, SO_OOBINLINE },
	{ SOL_SOCKET, SO_PRIORITY },
	{ SOL_SOCKET, SO_RCVTIMEO },
	{ SOL_SOCKET, SO_SNDTIMEO },
	{ SOL_SOCKET, SO_MARK },
	{ IPPROTO_TCP, TCP_NODELAY },
	{ IPPROTO_TCP, TCP_KEEPIDLE },
	{ IPPROTO_TCP, TCP_KEEPINTVL },
	{ IPPROTO_TCP, TCP_KEEPCNT },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT },
	{ IPPROTO_TCP, TCP_CONGESTION },
	{ IPPROTO_TCP, TCP_CORK },
};

/* The socket's family and IPV6_V6ONLY setting. */
static int
proxy_family(int fd, int *v6only)
{
	int family = 0, v = 0;
	socklen_t len = sizeof family;

	*v6only = 0;
	if (real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0)
		return -1;
	len = sizeof v;
	if (family == AF_INET6 &&
	    real.getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) == 0)
		*v6only = v;
	return family;
}

/* Copy options that differ from a fresh socket's from src to dst. */
static void
proxy_copy_opts(int src, int family, int dst)
{
	unsigned char a[64], b[64];
	socklen_t la, lb;
	size_t i;
	int fresh, v;

	if ((fresh = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	for (i = 0; i < sizeof proxy_opts / sizeof proxy_opts[0]; i++) {
		la = lb = sizeof a;
		memset(a, 0, sizeof a);
		memset(b, 0, sizeof b);
		if (real.getsockopt(src, proxy_opts[i].level,
			proxy_opts[i].name, a, &la) != 0 ||
		    real.getsockopt(fresh, proxy_opts[i].level,
			proxy_opts[i].name, b, &lb) != 0)
			continue;
		if (la == lb && memcmp(a, b, la) == 0)
			continue;
		if (proxy_opts[i].level == SOL_SOCKET &&
		    (proxy_opts[i].name == SO_SNDBUF ||
			proxy_opts[i].name == SO_RCVBUF)) {
			memcpy(&v, a, sizeof v);
			v /= 2; /* the kernel doubles what is set */
			memcpy(a, &v, sizeof v);
		}
		if (proxy_opts[i].name == TCP_CONGESTION &&
		    proxy_opts[i].level == IPPROTO_TCP)
			la = (socklen_t)strnlen((char *)a, la);
		real.setsockopt(dst, proxy_opts[i].level, proxy_opts[i].name, a,
		    la);
	}
	real.close(fresh);
}

/* Mark fd as connected through the ESP to d. */
static void
proxy_mark(int fd, const struct socks_dest *d, int state, int error)
{
	struct fdtab_slot *s = fdtab_get(fd, 1);

	if (s == NULL)
		return;
	memcpy(&s->peer, &d->sa, d->salen);
	s->peerlen = d->salen;
	s->error = error;
	s->job = NULL;
	s->ino = fdtab_ino(fd);
	__atomic_store_n(&s->state, state, __ATOMIC_RELEASE);
}

/* Describe a destination for trace lines. */
static const char *
proxy_dest_str(const struct socks_dest *d, char *buf, size_t len)
{
	if (d->name != NULL)
		snprintf(buf, len, "%s:%u", d->name, d->port);
	else
		shlog_addr((const struct sockaddr *)&d->sa, buf, len);
	return buf;
}

/* Open a new socket to the ESP and ask for d; returns it or -1/errno. */
static int
proxy_dial(int like, const struct socks_dest *d, int64_t deadline)
{
	struct sockaddr_storage esp;
	socklen_t len;
	int family, v6only, fd, err;

	family = proxy_family(like, &v6only);
	if (route_esp_addr(family, v6only, &esp, &len) != 0 &&
	    route_esp_addr(family == AF_INET ? AF_INET6 : AF_INET, 0, &esp,
		&len) != 0) {
		errno = ENETUNREACH;
		return -1;
	}
	fd = socket(esp.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	proxy_copy_opts(like, family, fd);
	if (socks_connect_esp(fd, (struct sockaddr *)&esp, len, deadline) !=
	    0) {
		err = errno == ETIMEDOUT || errno == ECANCELED ? errno
							       : ENETUNREACH;
		shlog_debug("cannot reach the esp: %s", strerror(errno));
		goto fail;
	}
	if (socks_handshake(fd, d, deadline) != 0) {
		err = errno;
		goto fail;
	}
	return fd;
fail:
	real.close(fd);
	errno = err;
	return -1;
}

/* Start a non-blocking connect; see proxy_start. deadline 0: from now. */
static int proxy_begin(int fd, const struct socks_dest *d, int64_t deadline);

/* A blocking connect that the program's signal or SO_SNDTIMEO ended early
 * (why: EINTR or EINPROGRESS) goes on in the background, as the kernel's
 * would: a later connect says EALREADY, then EISCONN; SO_ERROR the outcome. */
static int
proxy_background(int fd, const struct socks_dest *d, int64_t deadline, int why)
{
	if (proxy_begin(fd, d, deadline) == 0 || errno != EINPROGRESS)
		return -1;
	shlog_debug("connect %s: it goes on in the background",
	    why == EINTR ? "interrupted by a signal"
			 : "timed out (SO_SNDTIMEO)");
	errno = why;
	return -1;
}

/* Connect a blocking socket through the ESP, in the calling thread. */
int
proxy_blocking(int fd, const struct socks_dest *d)
{
	struct sockaddr_storage esp;
	struct sockaddr unspec;
	struct blockwait bw;
	socklen_t len;
	int64_t deadline = (int64_t)monotime_ms() + sh_conf.timeout_ms;
	int family, v6only, nfd, err, cloexec, fl, why;
	char buf[300];

	shlog_debug("connect %s through the esp",
	    proxy_dest_str(d, buf, sizeof buf));
	family = proxy_family(fd, &v6only);
	if (route_esp_addr(family, v6only, &esp, &len) == 0) {
		/* The socket waits in blockwait, never in the kernel. */
		fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		blockwait_begin(&bw, fd);
		if (socks_connect_esp(fd, (struct sockaddr *)&esp, len,
			deadline) != 0) {
			err = errno == ETIMEDOUT ? ETIMEDOUT : ENETUNREACH;
			shlog_debug("cannot reach the esp: %s",
			    strerror(errno));
		} else if (socks_handshake(fd, d, deadline) != 0)
			err = errno;
		else
			err = 0;
		why = blockwait_end(&bw);
		fcntl(fd, F_SETFL, fl);
		fdtab_lock();
		if (err == 0)
			proxy_mark(fd, d, FD_PROXIED, 0);
		fdtab_unlock();
		if (err != 0) {
			/* Back to unconnected, as after a failed connect. */
			memset(&unspec, 0, sizeof unspec);
			unspec.sa_family = AF_UNSPEC;
			real.connect(fd, &unspec, sizeof unspec);
			if (why != 0)
				return proxy_background(fd, d, deadline, why);
			shlog_debug("connect failed: %s", strerror(err));
			errno = err;
			return -1;
		}
		return 0;
	}
	/* The ESP has no address of this family: use a new socket. */
	blockwait_begin(&bw, fd);
	nfd = proxy_dial(fd, d, deadline);
	err = errno;
	if ((why = blockwait_end(&bw)) != 0 && nfd == -1)
		return proxy_background(fd, d, deadline, why);
	if (nfd == -1) {
		errno = err;
		return -1;
	}
	cloexec = (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
	fcntl(nfd, F_SETFL, fcntl(fd, F_GETFL));
	fdtab_lock();
	err = fdtab_replace(fd, nfd, cloexec) == 0 ? 0 : errno;
	if (err == 0)
		proxy_mark(fd, d, FD_PROXIED, 0);
	fdtab_unlock();
	real.close(nfd);
	errno = err;
	return err == 0 ? 0 : -1;
}

/* A socketpair end that stays neither readable nor writable. */
static int
proxy_gate(int *peer, int flags)
{
	int sp[2], small = 1, i;
	char junk[1024];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		sp) == -1)
		return -1;
	real.setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	memset(junk, 0, sizeof junk);
	for (i = 0; i < 4096; i++)
		if (send(sp[0], junk, sizeof junk, MSG_DONTWAIT) == -1)
			break;
	if (i == 4096 || errno != EAGAIN) {
		real.close(sp[0]);
		real.close(sp[1]);
		errno = EMFILE;
		return -1;
	}
	fcntl(sp[0], F_SETFL, flags);
	*peer = sp[1];
	return sp[0];
}

/* The helper thread: dial, then put the outcome on the descriptor. */
static void *
proxy_thread(void *arg)
{
	struct job *j = arg;
	int64_t deadline = j->deadline;
	int nfd, err = 0, cloexec, fl, v6only;
	char buf[300];

	/* Once the program has closed the gate everywhere, stop at once. */
	blockwait_hangup(j->gatepeer);
	if ((nfd = proxy_dial(j->orig, &j->dest, deadline)) == -1)
		err = errno;
	blockwait_hangup(-1);
	fdtab_lock();
	/*
	 * The program may have closed the descriptor behind our back (fclose,
	 * close_range) and the number been reused for another file: only a
	 * descriptor still holding our gate gets the outcome.
	 */
	if (!__atomic_load_n(&j->cancelled, __ATOMIC_ACQUIRE) &&
	    fdtab_ino(j->fd) != j->gate_ino) {
		shlog_debug("descriptor %d no longer holds the connect in "
			    "progress; leaving it alone",
		    j->fd);
		if (fdtab_get(j->fd, 0)->job == j)
			fdtab_forget(j->fd); /* its state was about the gate */
		__atomic_store_n(&j->cancelled, 1, __ATOMIC_RELEASE);
	}
	if (!__atomic_load_n(&j->cancelled, __ATOMIC_ACQUIRE)) {
		cloexec = (fcntl(j->fd, F_GETFD) & FD_CLOEXEC) != 0;
		fl = fcntl(j->fd,
		    F_GETFL); /* the gate's, as the program left it */
		fl =
		    (fcntl(j->orig, F_GETFL) & ~O_NONBLOCK) | (fl & O_NONBLOCK);
		if (err == 0) {
			fcntl(nfd, F_SETFL, fl);
			/* Options the program set while it waited count too. */
			if (j->opts_set)
				proxy_copy_opts(j->orig,
				    proxy_family(j->orig, &v6only), nfd);
			if (fdtab_replace(j->fd, nfd, cloexec) == 0)
				proxy_mark(j->fd, &j->dest, FD_PROXIED, 0);
			else
				err = errno;
		}
		if (err != 0 && fdtab_replace(j->fd, j->orig, cloexec) == 0)
			proxy_mark(j->fd, &j->dest, FD_FAILED, err);
	}
	fdtab_unlock();
	shlog_debug("connect %s: %s", proxy_dest_str(&j->dest, buf, sizeof buf),
	    err == 0 ? "connected" : strerror(err));
	if (nfd != -1)
		real.close(nfd);
	real.close(j->orig);
	real.close(j->gatepeer);
	free(j);
	return NULL;
}

/* Start a non-blocking connect through the ESP; -1/EINPROGRESS if begun. */
int
proxy_start(int fd, const struct socks_dest *d)
{
	return proxy_begin(fd, d, 0);
}

/* The same, to be done by deadline (0: [sockhook] timeout from now). */
static int
proxy_begin(int fd, const struct socks_dest *d, int64_t deadline)
{
	struct job *j;
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, old;
	int gate, fl, cloexec, rc;
	char buf[300];

	shlog_debug("connect %s through the esp (non-blocking)",
	    proxy_dest_str(d, buf, sizeof buf));
	if ((j = calloc(1, sizeof *j)) == NULL) {
		errno = ENOBUFS;
		return -1;
	}
	j->fd = fd;
	j->dest = *d;
	j->deadline = deadline != 0
	    ? deadline
	    : (int64_t)monotime_ms() + sh_conf.timeout_ms;
	if (d->name != NULL)
		j->dest.name = j->dest.namebuf;
	fl = fcntl(fd, F_GETFL);
	cloexec = (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
	if ((j->orig = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		free(j);
		return -1;
	}
	if ((gate = proxy_gate(&j->gatepeer, fl)) == -1) {
		real.close(j->orig);
		free(j);
		return -1;
	}
	j->gate_ino = fdtab_ino(gate);
	fdtab_lock();
	rc = fdtab_replace(fd, gate, cloexec);
	if (rc == 0) {
		proxy_mark(fd, d, FD_PENDING, 0);
		fdtab_get(fd, 1)->job = j;
	}
	fdtab_unlock();
	real.close(gate);
	if (rc != 0)
		goto fail;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	/* The program's signals are for its own threads, never this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, &attr, proxy_thread, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc == 0) {
		errno = EINPROGRESS;
		return -1;
	}
	fdtab_lock();
	fdtab_replace(fd, j->orig, cloexec);
	fdtab_forget(fd);
	fdtab_unlock();
fail:
	real.close(j->orig);
	real.close(j->gatepeer);
	free(j);
	errno = EAGAIN;
	return -1;
}
