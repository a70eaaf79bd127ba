/* Test client: connect in one of several styles, fetch a path over HTTP/1.0
 * and write the body to stdout.
 *
 * nbconnect MODE HOST PORT PATH
 * MODE: block, poll, select, epoll, epoll-pre (registered edge-triggered
 * before connect), fork (resolve in the parent, connect in a child),
 * fclose (connect, close with fclose behind the hook's back, then connect
 * a new socket that gets the same descriptor number), cancel (start a
 * non-blocking connect to port $NB_CANCEL_PORT, close at once, then
 * connect a new socket that gets the same descriptor number),
 * signal-pending (start a non-blocking connect, then block SIGUSR1 and
 * send it to the process while the connect is pending: prints "main" if
 * its handler ran on the main thread once unblocked, "other" if another
 * thread, such as the hook's, took it),
 * fclose-pending (start a non-blocking connect, close it with fclose
 * while it is still pending, open /dev/null at the same number, wait
 * $NB_WAIT_MS and check the descriptor still holds /dev/null: prints
 * "kept" or "replaced"), close-pending (start a non-blocking connect,
 * close it at once, and stay $NB_WAIT_MS before exiting),
 * intr (a blocking connect that a SIGALRM without SA_RESTART interrupts
 * after 300 ms: it must fail with EINTR and go on in the background: a
 * second connect says EALREADY, poll says writable, SO_ERROR the outcome,
 * a third connect EISCONN), sndtimeo (the same with SO_SNDTIMEO at 300 ms
 * and EINPROGRESS), restart (SIGALRM every 100 ms with SA_RESTART: the
 * blocking connect is not interrupted; prints how many signals came),
 * len24 (an IPv6 socket connected to the IPv4-mapped address with an
 * address length of 24, as RFC 2133 had it), reconnect (once connected:
 * connect on a dup of it and on a listening socket must say EISCONN and
 * leave both working), sendmmsg (connect with sendmmsg and MSG_FASTOPEN,
 * the request in its message), setopt-pending (TCP_NODELAY set while a
 * non-blocking connect is pending must hold on the connected socket),
 * vfork (a non-blocking connect, then a vfork child that closes the
 * descriptor and exits: the parent's connect goes on), sigepoll (for 2 s,
 * epoll_ctl in a loop while a SIGALRM handler every 100 us registers and
 * closes a descriptor of its own: nothing may hang).
 * A failed connect prints "errno=NAME" on stderr and exits 3. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *nb_mode;
static volatile sig_atomic_t nb_sig_tid;
static volatile sig_atomic_t nb_alarms;

/* SIGALRM: count it. */
static void
nb_alarmcb(int sig)
{
	(void)sig;
	nb_alarms++;
}

/* Milliseconds on the monotonic clock. */
static long
nb_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Arm SIGALRM every interval_ms (once if 0), with these sigaction flags. */
static void
nb_alarm(int flags, int first_ms, int interval_ms)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = nb_alarmcb;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	memset(&it, 0, sizeof it);
	it.it_value.tv_usec = first_ms * 1000;
	it.it_interval.tv_usec = interval_ms * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* SIGUSR1: note the thread that ran it. */
static void
nb_sigcb(int sig)
{
	(void)sig;
	nb_sig_tid = (sig_atomic_t)gettid();
}

/* Exit with the name of an errno. */
static void
nb_errno(const char *what, int err)
{
	fprintf(stderr, "nbconnect %s: %s: errno=%s (%s)\n", nb_mode, what,
	    strerrorname_np(err), strerror(err));
	exit(3);
}

/* Wait for writability in the chosen style. */
static void
nb_wait(int fd, int epfd)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	struct epoll_event ev;
	fd_set w;
	struct timeval tv = { 20, 0 };
	int n;

	if (strcmp(nb_mode, "poll") == 0 || strcmp(nb_mode, "vfork") == 0) {
		if ((n = poll(&pfd, 1, 20000)) != 1)
			nb_errno("poll", n == 0 ? ETIMEDOUT : errno);
	} else if (strcmp(nb_mode, "select") == 0) {
		FD_ZERO(&w);
		FD_SET(fd, &w);
		if ((n = select(fd + 1, NULL, &w, NULL, &tv)) != 1)
			nb_errno("select", n == 0 ? ETIMEDOUT : errno);
	} else {
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLOUT | EPOLLET;
		ev.data.u64 = 0x1234567890abcdefULL;
		if (strcmp(nb_mode, "epoll-pre") == 0) {
			ev.events |= EPOLLIN;
			if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
				nb_errno("epoll_ctl mod", errno);
		} else if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			nb_errno("epoll_ctl add", errno);
		memset(&ev, 0, sizeof ev);
		if ((n = epoll_wait(epfd, &ev, 1, 20000)) != 1)
			nb_errno("epoll_wait", n == 0 ? ETIMEDOUT : errno);
		if (ev.data.u64 != 0x1234567890abcdefULL) {
			fprintf(stderr, "nbconnect: epoll data lost\n");
			exit(4);
		}
	}
}

static int nb_sig_src = -1, nb_sig_ep = -1;

/* SIGALRM for sigepoll: register a descriptor, close it. */
static void
nb_sigepoll(int sig)
{
	struct epoll_event ev;
	int a = dup(nb_sig_src);

	(void)sig;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	epoll_ctl(nb_sig_ep, EPOLL_CTL_ADD, a, &ev);
	close(a);
	nb_alarms++;
}

/* Hooked calls in a signal handler that interrupts hooked calls. */
static int
nb_sigepoll_run(void)
{
	struct sigaction sa;
	struct itimerval it;
	struct epoll_event ev;
	int p[2];
	long t0 = nb_ms(), n = 0;

	if (pipe(p) != 0 || (nb_sig_ep = epoll_create1(0)) == -1)
		nb_errno("pipe", errno);
	nb_sig_src = p[0];
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	if (epoll_ctl(nb_sig_ep, EPOLL_CTL_ADD, p[1], &ev) != 0)
		nb_errno("epoll_ctl", errno);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = nb_sigepoll;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	memset(&it, 0, sizeof it);
	it.it_value.tv_usec = it.it_interval.tv_usec = 100;
	setitimer(ITIMER_REAL, &it, NULL);
	while (nb_ms() - t0 < 2000) {
		ev.events = (n & 1) ? EPOLLIN : EPOLLOUT;
		epoll_ctl(nb_sig_ep, EPOLL_CTL_MOD, p[1], &ev);
		n++;
	}
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	printf("%ld epoll_ctl, %d signals\n", n, (int)nb_alarms);
	return nb_alarms > 0 ? 0 : 9;
}

/* A vfork child closes fd and exits; the parent waits for it. */
static void
nb_vfork_close(int fd)
{
	pid_t pid;
	int status;

	if ((pid = vfork()) == -1)
		nb_errno("vfork", errno);
	if (pid == 0) {
		close(fd);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		nb_errno("waitpid", errno);
}

/* A blocking connect cut short by a signal (intr) or SO_SNDTIMEO
 * (sndtimeo): it goes on, and ends as a non-blocking one does. */
static void
nb_cut_short(int fd, const struct addrinfo *ai)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	struct timeval tv = { 0, 300000 };
	socklen_t len = sizeof(int);
	int want, err = 0;
	long t0;

	if (strcmp(nb_mode, "intr") == 0) {
		nb_alarm(0, 300, 0);
		want = EINTR;
	} else {
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv))
			nb_errno("setsockopt", errno);
		want = EINPROGRESS;
	}
	t0 = nb_ms();
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		nb_errno("connect did not stop", 0);
	if (errno != want)
		nb_errno("connect", errno);
	fprintf(stderr, "nbconnect: connect: %s after %ld ms (%d signals)\n",
	    strerrorname_np(errno), nb_ms() - t0, (int)nb_alarms);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno != EALREADY)
		nb_errno("connect again", errno);
	if (poll(&pfd, 1, 20000) != 1)
		nb_errno("poll", ETIMEDOUT);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		nb_errno("getsockopt", errno);
	if (err != 0)
		nb_errno("connect", err);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno != EISCONN)
		nb_errno("connect once done", errno);
	fprintf(stderr, "nbconnect: connected %ld ms after the first connect\n",
	    nb_ms() - t0);
}

/* Connect with sendmmsg(MSG_FASTOPEN), the HTTP request as its data. */
static void
nb_sendmmsg(int fd, const struct addrinfo *ai)
{
	static char req[1024];
	struct mmsghdr m;
	struct iovec iov;
	const char *host = getenv("NB_HOST"), *path = getenv("NB_PATH");

	snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
	    path != NULL ? path : "/", host != NULL ? host : "x");
	iov.iov_base = req;
	iov.iov_len = strlen(req);
	memset(&m, 0, sizeof m);
	m.msg_hdr.msg_name = ai->ai_addr;
	m.msg_hdr.msg_namelen = ai->ai_addrlen;
	m.msg_hdr.msg_iov = &iov;
	m.msg_hdr.msg_iovlen = 1;
	if (sendmmsg(fd, &m, 1, MSG_FASTOPEN) != 1)
		nb_errno("sendmmsg", errno);
	if (m.msg_len != iov.iov_len)
		nb_errno("sendmmsg short", EIO);
}

/* A connect on a dup of a connected socket, and on a listening one. */
static void
nb_reconnect(int fd, const struct addrinfo *ai)
{
	struct sockaddr_in any;
	socklen_t len = sizeof(int);
	int d, l, v = 0;

	if ((d = dup(fd)) == -1)
		nb_errno("dup", errno);
	if (connect(d, ai->ai_addr, ai->ai_addrlen) == 0 || errno != EISCONN)
		nb_errno("connect on a dup", errno);
	close(d);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		nb_errno("socket", errno);
	memset(&any, 0, sizeof any);
	any.sin_family = AF_INET;
	any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&any, sizeof any) != 0 ||
	    listen(l, 1) != 0)
		nb_errno("listen", errno);
	if (connect(l, ai->ai_addr, ai->ai_addrlen) == 0 || errno != EISCONN)
		nb_errno("connect on a listener", errno);
	if (getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0 || !v)
		nb_errno("the listener stopped listening", errno);
	close(l);
	fprintf(stderr, "nbconnect: EISCONN on a dup and on a listener\n");
}

/* TCP_NODELAY set while a non-blocking connect is pending. */
static void
nb_setopt_pending(int fd, const struct addrinfo *ai)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	socklen_t len = sizeof(int);
	int one = 1, v = 0, err = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
	    errno != EINPROGRESS)
		nb_errno("connect", errno);
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
		nb_errno("setsockopt", errno);
	if (poll(&pfd, 1, 20000) != 1)
		nb_errno("poll", ETIMEDOUT);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		nb_errno("connect", err ? err : errno);
	len = sizeof v;
	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0)
		nb_errno("getsockopt", errno);
	if (!v) {
		fprintf(stderr, "nbconnect: TCP_NODELAY lost\n");
		exit(10);
	}
	fprintf(stderr, "nbconnect: TCP_NODELAY kept\n");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

/* Connect fd to ai in the chosen style; exits on failure. */
static void
nb_connect(int fd, const struct addrinfo *ai)
{
	struct epoll_event ev;
	socklen_t len = sizeof(int);
	int err = 0, epfd = -1, block;

	block = strcmp(nb_mode, "block") == 0 || strcmp(nb_mode, "fork") == 0 ||
	    strcmp(nb_mode, "intr") == 0 || strcmp(nb_mode, "sndtimeo") == 0 ||
	    strcmp(nb_mode, "restart") == 0 || strcmp(nb_mode, "len24") == 0 ||
	    strcmp(nb_mode, "sendmmsg") == 0 ||
	    strcmp(nb_mode, "reconnect") == 0;
	if (!block)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (strncmp(nb_mode, "epoll", 5) == 0 &&
	    (epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		nb_errno("epoll_create1", errno);
	if (strcmp(nb_mode, "epoll-pre") == 0) {
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN | EPOLLET;
		ev.data.u64 = 1;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			nb_errno("epoll_ctl pre", errno);
	}
	if (strcmp(nb_mode, "intr") == 0 || strcmp(nb_mode, "sndtimeo") == 0) {
		nb_cut_short(fd, ai);
		return;
	}
	if (strcmp(nb_mode, "len24") == 0) {
		struct sockaddr_in6 s6;

		memset(&s6, 0, sizeof s6);
		s6.sin6_family = AF_INET6;
		s6.sin6_port =
		    ((const struct sockaddr_in *)ai->ai_addr)->sin_port;
		s6.sin6_addr.s6_addr[10] = s6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6.sin6_addr.s6_addr[12],
		    &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		if (connect(fd, (struct sockaddr *)&s6, 24) != 0)
			nb_errno("connect", errno);
		return;
	}
	if (strcmp(nb_mode, "sendmmsg") == 0) {
		nb_sendmmsg(fd, ai);
		return;
	}
	if (strcmp(nb_mode, "reconnect") == 0) {
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
			nb_errno("connect", errno);
		nb_reconnect(fd, ai);
		return;
	}
	if (strcmp(nb_mode, "setopt-pending") == 0) {
		nb_setopt_pending(fd, ai);
		return;
	}
	if (strcmp(nb_mode, "restart") == 0) {
		nb_alarm(SA_RESTART, 100, 100);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
			nb_errno("connect", errno);
		nb_alarm(SA_RESTART, 0, 0);
		fprintf(stderr, "nbconnect: connected after %d signals\n",
		    (int)nb_alarms);
		if (nb_alarms == 0)
			exit(9);
		return;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return;
	if (block || errno != EINPROGRESS)
		nb_errno("connect", errno);
	if (strcmp(nb_mode, "vfork") == 0)
		nb_vfork_close(fd);
	nb_wait(fd, epfd);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		nb_errno("getsockopt", errno);
	if (err != 0)
		nb_errno("connect", err);
	/* Read once: the error is gone, as with a real socket. */
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		nb_errno("getsockopt again", err ? err : errno);
	if (epfd != -1)
		close(epfd);
	if (!block)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

/* getpeername must give the address we asked for. */
static void
nb_check_peer(int fd, const struct addrinfo *ai)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char want[NI_MAXHOST], got[NI_MAXHOST], wp[16], gp[16];

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		nb_errno("getpeername", errno);
	getnameinfo(ai->ai_addr, ai->ai_addrlen, want, sizeof want, wp,
	    sizeof wp, NI_NUMERICHOST | NI_NUMERICSERV);
	getnameinfo((struct sockaddr *)&ss, len, got, sizeof got, gp, sizeof gp,
	    NI_NUMERICHOST | NI_NUMERICSERV);
	if (strncmp(got, "::ffff:", 7) == 0) /* len24's IPv4-mapped peer */
		memmove(got, got + 7, strlen(got + 7) + 1);
	if (strcmp(want, got) != 0 || strcmp(wp, gp) != 0) {
		fprintf(stderr, "nbconnect: peer is %s:%s, not %s:%s\n", got,
		    gp, want, wp);
		exit(4);
	}
	fprintf(stderr, "nbconnect: peer %s:%s\n", got, gp);
}

/* Send the request, copy the body to stdout. */
static void
nb_fetch(int fd, const char *host, const char *path)
{
	char req[1024], buf[65536];
	size_t have = 0;
	ssize_t n;
	char *body;
	int inbody = 0;

	snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path,
	    host);
	if (strcmp(nb_mode, "sendmmsg") == 0)
		; /* the request went with the connect */
	else if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		nb_errno("write", errno);
	while ((n = read(fd, buf + have, sizeof buf - have - 1)) > 0) {
		if (inbody) {
			fwrite(buf, 1, (size_t)n, stdout);
			continue;
		}
		have += (size_t)n;
		buf[have] = '\0';
		if ((body = strstr(buf, "\r\n\r\n")) != NULL) {
			if (strncmp(buf, "HTTP/1.0 200", 12) != 0) {
				fprintf(stderr, "nbconnect: %.40s\n", buf);
				exit(5);
			}
			body += 4;
			fwrite(body, 1, have - (size_t)(body - buf), stdout);
			inbody = 1;
			have = 0;
		} else if (have == sizeof buf - 1)
			exit(5);
	}
	if (n < 0)
		nb_errno("read", errno);
}

/* Resolve, connect in the chosen style, fetch. */
int
main(int argc, char **argv)
{
	struct addrinfo hints, *ai;
	int fd, rc, status;
	pid_t pid;

	if (argc != 5) {
		fprintf(stderr, "usage: nbconnect mode host port path\n");
		return 1;
	}
	nb_mode = argv[1];
	if (strcmp(nb_mode, "sigepoll") == 0)
		return nb_sigepoll_run();
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(argv[2], argv[3], &hints, &ai)) != 0) {
		fprintf(stderr, "nbconnect: %s: %s\n", argv[2],
		    gai_strerror(rc));
		return 2;
	}
	if (strcmp(nb_mode, "fork") == 0) {
		if ((pid = fork()) == -1)
			nb_errno("fork", errno);
		if (pid != 0) {
			if (waitpid(pid, &status, 0) != pid)
				return 1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
		}
	}
	if (strcmp(nb_mode, "signal-pending") == 0) {
		sigset_t usr1;
		int fd;

		signal(SIGUSR1, nb_sigcb);
		if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) == -1)
			nb_errno("socket", errno);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno != EINPROGRESS)
			nb_errno("connect", errno);
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		sigprocmask(SIG_BLOCK, &usr1, NULL);
		kill(getpid(), SIGUSR1);
		usleep(200000);
		sigprocmask(SIG_UNBLOCK, &usr1, NULL);
		usleep(100000);
		printf("%s\n",
		    nb_sig_tid == 0              ? "none"
			: nb_sig_tid == getpid() ? "main"
						 : "other");
		return nb_sig_tid == getpid() ? 0 : 8;
	}
	if (strcmp(nb_mode, "close-pending") == 0) {
		const char *w = getenv("NB_WAIT_MS");

		if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK,
			 0)) == -1)
			nb_errno("socket", errno);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno != EINPROGRESS)
			nb_errno("connect", errno);
		close(fd);
		usleep((useconds_t)(w != NULL ? atoi(w) : 2000) * 1000);
		return 0;
	}
	if (strcmp(nb_mode, "fclose-pending") == 0) {
		struct stat st;
		FILE *f;
		int old, nul;
		const char *w = getenv("NB_WAIT_MS");

		if ((old = socket(ai->ai_family, SOCK_STREAM, 0)) == -1)
			nb_errno("socket", errno);
		fcntl(old, F_SETFL, fcntl(old, F_GETFL) | O_NONBLOCK);
		if (connect(old, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno != EINPROGRESS)
			nb_errno("connect", errno);
		if ((f = fdopen(old, "r+")) == NULL)
			nb_errno("fdopen", errno);
		fclose(f); /* inside glibc: the hook does not see it */
		if ((nul = open("/dev/null", O_RDWR)) != old) {
			fprintf(stderr, "nbconnect: descriptor %d not reused\n",
			    old);
			exit(6);
		}
		usleep((useconds_t)(w != NULL ? atoi(w) : 2000) * 1000);
		if (fstat(nul, &st) != 0)
			nb_errno("fstat", errno);
		printf("%s\n", S_ISCHR(st.st_mode) ? "kept" : "replaced");
		return S_ISCHR(st.st_mode) ? 0 : 7;
	}
	if (strcmp(nb_mode, "fclose") == 0 || strcmp(nb_mode, "cancel") == 0) {
		FILE *f;
		int old;

		if ((old = socket(ai->ai_family, SOCK_STREAM, 0)) == -1)
			nb_errno("socket", errno);
		if (strcmp(nb_mode, "cancel") == 0) {
			struct sockaddr_storage ss;
			const char *p = getenv("NB_CANCEL_PORT");

			memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
			if (p != NULL) /* same offset in sin and sin6 */
				((struct sockaddr_in *)&ss)->sin_port =
				    htons((uint16_t)atoi(p));
			fcntl(old, F_SETFL, fcntl(old, F_GETFL) | O_NONBLOCK);
			if (connect(old, (struct sockaddr *)&ss,
				ai->ai_addrlen) == 0 ||
			    errno != EINPROGRESS)
				nb_errno("connect", errno);
			close(old);
		} else {
			nb_mode = "block";
			nb_connect(old, ai);
			if ((f = fdopen(old, "r+")) == NULL)
				nb_errno("fdopen", errno);
			fclose(
			    f); /* closes inside glibc: the hook does not see it */
		}
		nb_mode = "block";
		if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) != old) {
			fprintf(stderr, "nbconnect: descriptor %d not reused\n",
			    old);
			exit(6);
		}
		usleep(300000); /* let an abandoned connect finish, if any */
	} else if ((fd = socket(strcmp(nb_mode, "len24") == 0 ? AF_INET6
							      : ai->ai_family,
			SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		nb_errno("socket", errno);
	nb_connect(fd, ai);
	nb_check_peer(fd, ai);
	nb_fetch(fd, argv[2], argv[4]);
	close(fd);
	freeaddrinfo(ai);
	return 0;
}
