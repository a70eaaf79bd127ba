/*
 * Null relay for the "two relays, no crypto" path: "relay -l PORT -t
 * HOST:PORT [-l PORT -t HOST:PORT ...]" listens on 127.0.0.1:PORT and, for
 * every connection, dials HOST:PORT (non-blocking) and copies bytes both
 * ways: no framing, no crypto. Two chained relays are the floor of any
 * two-daemon tunnel (one process per side, like ssh and sshd with two -L).
 *
 * One thread, epoll in edge-triggered mode. Each direction has a 256 KiB
 * buffer: read into it only when it is empty, write it out before reading
 * more (backpressure). EOF on one side becomes shutdown(SHUT_WR) on the
 * other once the buffer is written; both directions done, or any error,
 * closes both sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define BUFSZ    (256 * 1024)
#define MAXEV    256
#define POOL_MAX 64 /* freed connections kept for reuse */
#define MAXLSN   8

struct conn;

struct end {
	struct conn *e_conn; /* NULL: a listener */
	int e_fd;
	int e_side; /* 0: accepted, 1: dialled; listener: index in targets */
	int e_readable; /* no EAGAIN since the last edge */
	int e_writable;
	int e_hup; /* peer's FIN seen: read until EOF */
};

struct half { /* bytes read on end i, to be written to end 1 - i */
	size_t h_off, h_len;
	int h_eof;  /* end i gave EOF */
	int h_shut; /* end 1 - i shut for writing */
};

struct conn {
	struct end c_end[2];
	struct half c_half[2];
	int c_connected;
	int c_dead;
	struct conn *c_next;  /* dead or pool list */
	char c_buf[2][BUFSZ]; /* last: not cleared on reuse */
};

static int ep;
static struct end lsn[MAXLSN];
static struct bench_addr targets[MAXLSN];
static struct conn *dead_list, *pool;
static int pool_n;

/* Take a connection from the pool or allocate one (buffers untouched). */
static struct conn *
conn_get(void)
{
	struct conn *c = pool;

	if (c != NULL) {
		pool = c->c_next;
		pool_n--;
	} else if ((c = malloc(sizeof *c)) == NULL)
		return NULL;
	memset(c, 0, offsetof(struct conn, c_buf));
	return c;
}

/* Close both sockets; the memory is released after the current batch. */
static void
conn_close(struct conn *c)
{
	if (c->c_dead)
		return;
	close(c->c_end[0].e_fd);
	close(c->c_end[1].e_fd);
	c->c_dead = 1;
	c->c_next = dead_list;
	dead_list = c;
}

/* Release the connections closed in this batch (to the pool or free). */
static void
conn_reap(void)
{
	struct conn *c;

	while ((c = dead_list) != NULL) {
		dead_list = c->c_next;
		if (pool_n < POOL_MAX) {
			c->c_next = pool;
			pool = c;
			pool_n++;
		} else
			free(c);
	}
}

/*
 * One direction, end i to end 1 - i: write what is pending, read more only
 * once it is all written, pass EOF on. 1: progress, 0: stuck, -1: error.
 */
static int
half_move(struct conn *c, int i)
{
	struct half *h = &c->c_half[i];
	struct end *src = &c->c_end[i], *dst = &c->c_end[1 - i];
	int progress = 0;
	ssize_t n;

	if (h->h_len > 0 && dst->e_writable && c->c_connected) {
		/* write/read, not send/recv: /proc/PID/io counts these. */
		n = write(dst->e_fd, c->c_buf[i] + h->h_off, h->h_len);
		if (n < 0 && errno != EAGAIN)
			return -1;
		/* Partial: the socket is full; wait for an edge. */
		if (n < (ssize_t)h->h_len)
			dst->e_writable = 0;
		if (n > 0) {
			h->h_off += n;
			h->h_len -= n;
			progress = 1;
		}
		if (h->h_len == 0)
			h->h_off = 0;
	}
	if (h->h_len == 0 && !h->h_eof && src->e_readable) {
		n = read(src->e_fd, c->c_buf[i], BUFSZ);
		if (n < 0 && errno != EAGAIN)
			return -1;
		/* Short: the socket is drained, unless a FIN waits behind. */
		if (n < 0 || (n > 0 && n < BUFSZ && !src->e_hup))
			src->e_readable = 0;
		if (n == 0)
			h->h_eof = 1;
		if (n > 0) {
			h->h_len = n;
			progress = 1;
		}
	}
	if (h->h_eof && h->h_len == 0 && !h->h_shut && c->c_connected) {
		if (shutdown(dst->e_fd, SHUT_WR) != 0)
			return -1;
		h->h_shut = 1;
	}
	return progress;
}

/* Move bytes both ways until stuck; close when both directions are done. */
static void
conn_pump(struct conn *c)
{
	int a, b;

	do {
		if ((a = half_move(c, 0)) < 0 || (b = half_move(c, 1)) < 0) {
			conn_close(c);
			return;
		}
	} while (a || b);
	if (c->c_half[0].h_shut && c->c_half[1].h_shut)
		conn_close(c);
}

/* Readiness on one end of a connection. */
static void
end_event(struct end *e, uint32_t ev)
{
	struct conn *c = e->e_conn;
	socklen_t len = sizeof(int);
	int err = 0;

	if (c->c_dead)
		return;
	if (ev & EPOLLERR) {
		conn_close(c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		e->e_readable = 1;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		e->e_hup = 1;
	if (ev & (EPOLLOUT | EPOLLHUP))
		e->e_writable = 1;
	if (e->e_side == 1 && !c->c_connected && e->e_writable) {
		getsockopt(e->e_fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			conn_close(c);
			return;
		}
		c->c_connected = 1;
	}
	conn_pump(c);
}

/* Register one end with epoll, edge-triggered, for everything. */
static int
end_add(struct conn *c, int side, int fd)
{
	struct epoll_event ev;
	int one = 1;

	c->c_end[side].e_conn = c;
	c->c_end[side].e_fd = fd;
	c->c_end[side].e_side = side;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = &c->c_end[side];
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Accept what is pending on a listener; dial its target for each. */
static void
accept_all(int lfd, const struct bench_addr *to)
{
	struct conn *c;
	int cfd, sfd;

	for (;;) {
		cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				perror("relay: accept");
			return;
		}
		sfd = socket(to->ba_ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (sfd < 0 || (c = conn_get()) == NULL) {
			perror("relay: socket");
			if (sfd >= 0)
				close(sfd);
			close(cfd);
			continue;
		}
		c->c_end[0].e_fd = cfd;
		c->c_end[1].e_fd = sfd;
		if (connect(sfd, (const struct sockaddr *)&to->ba_ss,
			to->ba_len) == 0)
			c->c_connected = 1;
		else if (errno != EINPROGRESS) {
			conn_close(c);
			continue;
		}
		if (end_add(c, 0, cfd) != 0 || end_add(c, 1, sfd) != 0)
			conn_close(c);
	}
}

/* Listener i on 127.0.0.1:port, non-blocking, registered with epoll. */
static int
lsn_open(int i, const char *port)
{
	struct end *l = &lsn[i];
	struct epoll_event ev;
	struct bench_addr a;
	char name[32];

	snprintf(name, sizeof name, "127.0.0.1:%s", port);
	if (bench_parse(name, &a) != 0 ||
	    (l->e_fd = bench_listen(&a, 4096)) < 0 ||
	    fcntl(l->e_fd, F_SETFL, O_NONBLOCK) != 0) {
		fprintf(stderr, "relay: cannot listen on %s\n", name);
		return -1;
	}
	l->e_side = i;
	ev.events = EPOLLIN;
	ev.data.ptr = l;
	return epoll_ctl(ep, EPOLL_CTL_ADD, l->e_fd, &ev);
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[MAXEV];
	struct end *e;
	const char *ports[MAXLSN];
	int opt, nl = 0, nt = 0, bad = 0, i, n;

	while ((opt = getopt(argc, argv, "l:t:")) != -1) {
		if (opt == 'l' && nl < MAXLSN && nl == nt)
			ports[nl++] = optarg;
		else if (opt == 't' && nt + 1 == nl &&
		    bench_parse(optarg, &targets[nt]) == 0)
			nt++;
		else
			bad = 1;
	}
	if (bad || nl == 0 || nl != nt || optind != argc) {
		fprintf(stderr, "usage: relay -l PORT -t HOST:PORT ...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return 1;
	for (i = 0; i < nl; i++)
		if (lsn_open(i, ports[i]) != 0)
			return 1;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		n = epoll_wait(ep, evs, MAXEV, -1);
		if (n < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < n; i++) {
			e = evs[i].data.ptr;
			if (e->e_conn == NULL)
				accept_all(e->e_fd, &targets[e->e_side]);
			else
				end_event(e, evs[i].events);
		}
		conn_reap();
	}
}
