/*
 * Null relay for the "two relays, no crypto" path: "relay -l [HOST:]PORT -t
 * HOST:PORT [-l ... -t ...]" listens on HOST:PORT (127.0.0.1 without HOST)
 * and, for every connection, dials the -t address (non-blocking) and
 * copies bytes both ways: no framing, no crypto. Two chained relays are the
 * floor of any two-daemon tunnel (one process per side, like ssh and sshd
 * with two -L).
 *
 * Dial-out pair, for a firewall that lets connections out only (bench/path):
 *
 *   relay -B [HOST:]PORT -l [HOST:]PORT ...         the outside half
 *   relay -d HOST:PORT [-n SPARES] -t HOST:PORT ...  the inside half
 *
 * The inside half keeps SPARES (default 128) connections dialled to the
 * outside half's -B address. The outside half joins each client accepted
 * on its i-th -l to one of them and sends the byte i ahead of the client's
 * bytes; the inside half, on that byte, dials its i-th -t, relays, and
 * dials a spare in place of the one used. So every stream has its own TCP
 * connection across the firewall, opened before the client came, as a
 * tunnel's session is. With no spare left, clients wait in the backlog.
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

#define BACK_LSN MAXLSN /* e_side of the -B listener */

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
	int c_spare; /* dial-out: a spare, not yet joined to a client/target */
	int c_back_up; /* inside half: the spare's own connect completed */
	struct conn *c_next;  /* dead or pool list */
	struct conn *c_snext, *c_sprev; /* outside half: the spare list */
	char c_buf[2][BUFSZ]; /* last: not cleared on reuse */
};

static int ep;
static struct end lsn[MAXLSN], blsn;
static int nlsn;
static struct bench_addr targets[MAXLSN];
static struct conn *dead_list, *pool;
static int pool_n;

/* Dial-out pair: spares held (outside) or dialled (inside). */
static struct conn *spares;
static int spare_n, spare_want, lsn_armed = 1;
static struct bench_addr back;
static double retry_at;

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
	c->c_end[0].e_fd = c->c_end[1].e_fd = -1;
	return c;
}

/* Close both sockets; the memory is released after the current batch. */
static void
conn_close(struct conn *c)
{
	if (c->c_dead)
		return;
	if (c->c_spare) {
		if (c->c_sprev != NULL)
			c->c_sprev->c_snext = c->c_snext;
		else if (spares == c)
			spares = c->c_snext;
		if (c->c_snext != NULL)
			c->c_snext->c_sprev = c->c_sprev;
		spare_n--;
		retry_at = bench_now() + 0.2; /* inside: redial, not at once */
	}
	if (c->c_end[0].e_fd >= 0)
		close(c->c_end[0].e_fd);
	if (c->c_end[1].e_fd >= 0)
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

/* Dial "to" as end 1 of c (non-blocking); -1 if that failed at once. */
static int
conn_dial(struct conn *c, const struct bench_addr *to)
{
	int fd;

	fd = socket(to->ba_ss.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("relay: socket");
		return -1;
	}
	c->c_end[1].e_fd = fd;
	if (connect(fd, (const struct sockaddr *)&to->ba_ss, to->ba_len) == 0)
		c->c_connected = 1;
	else if (errno != EINPROGRESS)
		return -1;
	return end_add(c, 1, fd);
}

/*
 * A spare's event. Outside half: the inside half sends nothing before a
 * client is joined, so anything readable is its EOF. Inside half: the
 * spare's connect completes, then its first byte names the target.
 */
static void
spare_event(struct conn *c, struct end *e)
{
	socklen_t len = sizeof(int);
	unsigned char i;
	int err = 0;
	ssize_t n;

	if (e->e_side == 1) {
		if (e->e_readable)
			conn_close(c);
		return;
	}
	if (!c->c_back_up) {
		if (!e->e_writable)
			return;
		getsockopt(e->e_fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			conn_close(c);
			return;
		}
		c->c_back_up = 1;
	}
	if (!e->e_readable)
		return;
	n = read(e->e_fd, &i, 1);
	if (n < 0 && errno == EAGAIN) {
		e->e_readable = 0;
		return;
	}
	if (n <= 0 || i >= nlsn) {
		conn_close(c);
		return;
	}
	c->c_spare = 0;
	spare_n--;
	if (conn_dial(c, &targets[i]) != 0) {
		conn_close(c);
		return;
	}
	conn_pump(c);
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
	if (c->c_spare) {
		spare_event(c, e);
		return;
	}
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

/* Accept one connection from lfd, or -1 when there is none left. */
static int
accept_one(int lfd)
{
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0 || errno == EAGAIN)
			return fd;
		if (errno != EINTR && errno != ECONNABORTED) {
			perror("relay: accept");
			return -1;
		}
	}
}

/* Accept what is pending on a listener; dial its target for each. */
static void
accept_all(int lfd, const struct bench_addr *to)
{
	struct conn *c;
	int cfd;

	while ((cfd = accept_one(lfd)) >= 0) {
		if ((c = conn_get()) == NULL) {
			close(cfd);
			continue;
		}
		if (end_add(c, 0, cfd) != 0 || conn_dial(c, to) != 0)
			conn_close(c);
	}
}

/* Outside half: client listeners accept only while there are spares. */
static void
lsn_arm(int on)
{
	struct epoll_event ev;
	int i;

	if (lsn_armed == on)
		return;
	for (i = 0; i < nlsn; i++) {
		ev.events = on ? EPOLLIN : 0;
		ev.data.ptr = &lsn[i];
		epoll_ctl(ep, EPOLL_CTL_MOD, lsn[i].e_fd, &ev);
	}
	lsn_armed = on;
}

/* Outside half: keep every connection from the inside half as a spare. */
static void
accept_spares(int lfd)
{
	struct conn *c;
	int fd;

	while ((fd = accept_one(lfd)) >= 0) {
		if ((c = conn_get()) == NULL) {
			close(fd);
			continue;
		}
		c->c_connected = 1;
		c->c_spare = 1;
		c->c_snext = spares;
		if (spares != NULL)
			spares->c_sprev = c;
		spares = c;
		spare_n++;
		if (end_add(c, 1, fd) != 0)
			conn_close(c);
	}
	lsn_arm(spare_n > 0);
}

/* Outside half: join clients of listener i to spares, the byte i first. */
static void
accept_clients(int lfd, int i)
{
	struct conn *c;
	int cfd;

	while (spare_n > 0 && (cfd = accept_one(lfd)) >= 0) {
		c = spares;
		spares = c->c_snext;
		if (spares != NULL)
			spares->c_sprev = NULL;
		c->c_snext = NULL;
		c->c_spare = 0;
		spare_n--;
		c->c_buf[0][0] = (char)i;
		c->c_half[0].h_len = 1;
		if (end_add(c, 0, cfd) != 0) {
			conn_close(c);
			continue;
		}
		conn_pump(c);
	}
	lsn_arm(spare_n > 0);
}

/* Inside half: dial spares up to the wanted number, unless backing off. */
static void
refill(void)
{
	struct conn *c;
	int fd;

	while (spare_n < spare_want && bench_now() >= retry_at) {
		fd = socket(back.ba_ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || (c = conn_get()) == NULL) {
			if (fd >= 0)
				close(fd);
			retry_at = bench_now() + 0.2;
			return;
		}
		c->c_spare = 1;
		spare_n++;
		c->c_end[0].e_fd = fd;
		if ((connect(fd, (const struct sockaddr *)&back.ba_ss,
			 back.ba_len) != 0 && errno != EINPROGRESS) ||
		    end_add(c, 0, fd) != 0)
			conn_close(c); /* backs off */
	}
}

/* A listener on HOST:PORT, or 127.0.0.1:PORT, registered with epoll. */
static int
lsn_open(struct end *l, int i, const char *spec)
{
	struct epoll_event ev;
	struct bench_addr a;
	char name[160];

	if (strchr(spec, ':') != NULL)
		snprintf(name, sizeof name, "%s", spec);
	else
		snprintf(name, sizeof name, "127.0.0.1:%s", spec);
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
	const char *ports[MAXLSN], *bname = NULL;
	int opt, nt = 0, bad = 0, dial = 0, i, n;

	while ((opt = getopt(argc, argv, "l:t:B:d:n:")) != -1) {
		switch (opt) {
		case 'l':
			if (nlsn < MAXLSN)
				ports[nlsn++] = optarg;
			else
				bad = 1;
			break;
		case 't':
			if (nt < MAXLSN && bench_parse(optarg, &targets[nt]) == 0)
				nt++;
			else
				bad = 1;
			break;
		case 'B': bname = optarg; break;
		case 'd': dial = bench_parse(optarg, &back) == 0; bad |= !dial; break;
		case 'n': spare_want = atoi(optarg); break;
		default: bad = 1;
		}
	}
	if (dial && spare_want == 0)
		spare_want = 128;
	if (bad || optind != argc || (bname != NULL && dial) ||
	    (dial ? nlsn != 0 || nt == 0 || spare_want < 1 :
		    nlsn == 0 || nt != (bname != NULL ? 0 : nlsn) ||
		    spare_want != 0)) {
		fprintf(stderr, "usage: relay -l [HOST:]PORT -t HOST:PORT ...\n"
		    "       relay -B [HOST:]PORT -l [HOST:]PORT ...\n"
		    "       relay -d HOST:PORT [-n SPARES] -t HOST:PORT ...\n");
		return 2;
	}
	if (dial)
		nlsn = nt; /* the index byte's range */
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return 1;
	for (i = 0; i < (dial ? 0 : nlsn); i++)
		if (lsn_open(&lsn[i], i, ports[i]) != 0)
			return 1;
	if (bname != NULL) {
		if (lsn_open(&blsn, BACK_LSN, bname) != 0)
			return 1;
		lsn_arm(0);
	}
	if (dial)
		refill();
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		n = epoll_wait(ep, evs, MAXEV,
		    dial && spare_n < spare_want ? 100 : -1);
		if (n < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < n; i++) {
			e = evs[i].data.ptr;
			if (e == &blsn)
				accept_spares(e->e_fd);
			else if (e->e_conn != NULL)
				end_event(e, evs[i].events);
			else if (bname != NULL)
				accept_clients(e->e_fd, e->e_side);
			else
				accept_all(e->e_fd, &targets[e->e_side]);
		}
		conn_reap();
		if (dial)
			refill();
	}
}
