/* delaybridge: a two-port Ethernet bridge that delays every frame, to
 * emulate a WAN link where the kernel has no netem qdisc.
 *
 * delaybridge [-d MS] [-q FRAMES] [-b MIB] [-g US] IF_A IF_B
 *
 * Runs in a namespace that owns IF_A and IF_B (veth ends, no addresses),
 * reads every frame arriving on one (AF_PACKET, ETH_P_ALL, frames the
 * kernel sends itself ignored) and writes it to the other MS milliseconds
 * later (default 10, fractions allowed), in order. Each direction has a
 * bounded queue: FRAMES frames (default 65536) and MIB MiB (default 64);
 * a frame that does not fit is dropped and counted, as a router would.
 *
 * Each frame's arrival time is the kernel's receive timestamp, so while
 * frames are queued the sockets need not wake the bridge for every new
 * one: it sleeps until the next frame is due, but at least US
 * microseconds (default 50) and at most 1 ms, and reads what has arrived
 * when it wakes. An idle link is exact to the timer's precision (a few
 * microseconds); under load a frame leaves at most US late. Without
 * kernel timestamps it falls back to waking on every frame.
 *
 * Frames are read and written with a virtio_net_hdr in front
 * (PACKET_VNET_HDR), so GSO super-frames (up to 64 KiB and more) and
 * frames whose checksum is left to offload pass through intact: the
 * ends may keep TSO/GSO and checksum offload on.
 *
 * Prints "delaybridge: bridging ..." on stderr once both sockets are bound.
 * SIGUSR1 prints the counters; SIGTERM or SIGINT prints them and exits 0.
 * Exit 1 on a bad argument or a setup error. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Room for a virtio_net_hdr and the largest GSO frame (BIG TCP included). */
#define DB_VNET_LEN  ((ssize_t)sizeof(struct virtio_net_hdr))
#define DB_MAX_FRAME (512 * 1024)
/* Frames read from one socket before the queues are looked at again. */
#define DB_BATCH 256
/* Longest sleep while frames are queued: how long frames may wait unread
 * in the socket buffers (their timestamps keep the delay exact). */
#define DB_READ_LAG 1000000u

struct db_frame {
	uint64_t arrived; /* CLOCK_MONOTONIC, ns */
	size_t len;       /* virtio_net_hdr + frame */
	unsigned char *data;
};

/* One direction: frames read from in_fd, written to out_fd. */
struct db_dir {
	const char *from, *to;
	int in_fd, out_fd;
	struct db_frame *ring;
	size_t cap, head, count;
	size_t bytes, max_bytes;
	bool blocked; /* out_fd said EAGAIN: wait for POLLOUT */
	uint64_t in_frames, out_frames, out_bytes;
	uint64_t drop_full, drop_send, drop_bad, sock_drops;
	int last_send_errno;
	uint64_t last_arrived;
	uint64_t no_tstamp; /* frames timed by the clock at read time */
};

/* A frame without a kernel timestamp was seen: wake on every frame. */
static bool db_no_tstamp;

static unsigned char db_buf[DB_MAX_FRAME + sizeof(struct virtio_net_hdr)];

static void
db_usage(void)
{
	fprintf(stderr,
	    "usage: delaybridge [-d MS] [-q FRAMES] [-b MIB] [-g US] IF_A "
	    "IF_B\n"
	    "  -d MS      one-way delay in milliseconds (default 10)\n"
	    "  -q FRAMES  queue bound per direction in frames (default 65536)\n"
	    "  -b MIB     queue bound per direction in MiB (default 64)\n"
	    "  -g US      under load, wake at most every US microseconds "
	    "(default 50)\n");
	exit(1);
}

static void
db_die(const char *what, const char *name)
{
	fprintf(stderr, "delaybridge: %s%s%s: %s\n", what, name ? " " : "",
	    name ? name : "", strerror(errno));
	exit(1);
}

static uint64_t
db_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
db_now(void)
{
	return db_clock(CLOCK_MONOTONIC);
}

/* A raw packet socket on one interface: all protocols, incoming frames
 * only, with a virtio_net_hdr in front of every frame. */
static int
db_open(const char *ifname)
{
	struct sockaddr_ll sll;
	struct packet_mreq mr;
	unsigned int ifindex;
	int fd, one = 1, buf = 32 * 1024 * 1024;

	if ((ifindex = if_nametoindex(ifname)) == 0)
		db_die("no interface", ifname);
	/* Protocol 0: nothing is queued before the bind to one interface. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		db_die("socket(AF_PACKET)", ifname);
#ifdef PACKET_IGNORE_OUTGOING
	/* Older kernels lack it; frames are filtered by sll_pkttype too. */
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
	    sizeof(one));
#endif
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		db_die("PACKET_VNET_HDR", ifname);
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
		db_no_tstamp = true;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) < 0)
		db_die("SO_RCVBUF", ifname);
	buf = 8 * 1024 * 1024;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)) < 0)
		db_die("SO_SNDBUF", ifname);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		db_die("bind", ifname);
	/* A bridge port hears every frame (veth does anyway). */
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = (int)ifindex;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) <
	    0)
		db_die("PACKET_MR_PROMISC", ifname);
	return fd;
}

static void
db_dir_init(struct db_dir *d, const char *from, const char *to, int in_fd,
    int out_fd, size_t cap, size_t max_bytes)
{
	memset(d, 0, sizeof(*d));
	d->from = from;
	d->to = to;
	d->in_fd = in_fd;
	d->out_fd = out_fd;
	d->cap = cap;
	d->max_bytes = max_bytes;
	if ((d->ring = calloc(cap, sizeof(*d->ring))) == NULL)
		db_die("out of memory for the queue", NULL);
}

/* The monotonic time a frame arrived, from its kernel timestamp
 * (CLOCK_REALTIME); now if there is none or it is more than a second
 * off (the realtime clock was stepped). */
static uint64_t
db_arrival(struct db_dir *d, struct msghdr *mh, uint64_t now, uint64_t real_off)
{
	struct cmsghdr *c;
	struct timespec ts;
	uint64_t t;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		if (t == 0)
			break;
		/* Frames that came in while this batch was being read
		 * are stamped a little after now. */
		t -= real_off;
		if (t > now + 1000000000u || t + 1000000000u < now) {
			d->no_tstamp++;
			return now;
		}
		return t;
	}
	/* This kernel does not stamp these frames: from now on, read
	 * every frame as soon as it arrives. */
	d->no_tstamp++;
	db_no_tstamp = true;
	return now;
}

/* Read up to DB_BATCH frames from d->in_fd and queue them. */
static void
db_read(struct db_dir *d)
{
	struct sockaddr_ll sll;
	struct iovec iov;
	struct msghdr mh;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct timespec)) * 2];
	} cbuf;
	ssize_t n;
	struct db_frame *f;
	uint64_t now, real_off;
	int i;

	now = db_now();
	real_off = db_clock(CLOCK_REALTIME) - now;
	for (i = 0; i < DB_BATCH; i++) {
		iov.iov_base = db_buf;
		iov.iov_len = sizeof(db_buf);
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &sll;
		mh.msg_namelen = sizeof(sll);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		n = recvmsg(d->in_fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EINVAL: a GSO type virtio_net_hdr cannot
			 * describe (the kernel has consumed the frame);
			 * ENETDOWN: the interface went down. */
			if (errno == EINVAL || errno == ENETDOWN ||
			    errno == ENXIO) {
				d->drop_bad++;
				continue;
			}
			db_die("recvmsg", d->from);
		}
		if (sll.sll_pkttype == PACKET_OUTGOING)
			continue;
		d->in_frames++;
		if (n <= DB_VNET_LEN || (size_t)n > sizeof(db_buf)) {
			d->drop_bad++;
			continue;
		}
		if (d->count == d->cap || d->bytes + (size_t)n > d->max_bytes) {
			d->drop_full++;
			continue;
		}
		f = &d->ring[(d->head + d->count) % d->cap];
		if ((f->data = malloc((size_t)n)) == NULL) {
			d->drop_full++;
			continue;
		}
		memcpy(f->data, db_buf, (size_t)n);
		f->len = (size_t)n;
		/* In order: a frame never leaves before the one ahead. */
		f->arrived = db_arrival(d, &mh, now, real_off);
		if (f->arrived < d->last_arrived)
			f->arrived = d->last_arrived;
		d->last_arrived = f->arrived;
		d->count++;
		d->bytes += (size_t)n;
	}
}

static void
db_pop(struct db_dir *d)
{
	struct db_frame *f = &d->ring[d->head];

	d->bytes -= f->len;
	free(f->data);
	f->data = NULL;
	d->head = (d->head + 1) % d->cap;
	d->count--;
}

/* Write every frame that is due. The delay is added here, so that the
 * queue holds arrival times and -d only matters at the head. */
static void
db_flush(struct db_dir *d, uint64_t delay, uint64_t now)
{
	struct db_frame *f;
	ssize_t n;

	while (d->count > 0 && !d->blocked) {
		f = &d->ring[d->head];
		if (f->arrived + delay > now)
			return;
		n = send(d->out_fd, f->data, f->len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			d->blocked = true;
			return;
		}
		if (n < 0) {
			/* ENOBUFS: the peer's backlog is full; ENETDOWN,
			 * ENXIO: the link is down; EMSGSIZE, EINVAL: a
			 * frame the other side cannot take. Dropped. */
			if (errno != d->last_send_errno)
				fprintf(stderr,
				    "delaybridge: send to %s: %s "
				    "(frame dropped)\n",
				    d->to, strerror(errno));
			d->last_send_errno = errno;
			d->drop_send++;
		} else {
			d->out_frames++;
			d->out_bytes += f->len - (size_t)DB_VNET_LEN;
		}
		db_pop(d);
	}
}

static void
db_sockstats(struct db_dir *d)
{
	struct tpacket_stats st;
	socklen_t sl = sizeof(st);

	/* Reading the counters resets them: accumulate. */
	if (getsockopt(d->in_fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
		d->sock_drops += st.tp_drops;
}

static void
db_report(struct db_dir *d)
{
	db_sockstats(d);
	fprintf(stderr,
	    "delaybridge: %s -> %s: %" PRIu64 " frames in, %" PRIu64
	    " frames out (%" PRIu64 " bytes), dropped: %" PRIu64
	    " queue full, %" PRIu64 " send failed, %" PRIu64 " bad, %" PRIu64
	    " socket; %zu queued; %" PRIu64 " without timestamp\n",
	    d->from, d->to, d->in_frames, d->out_frames, d->out_bytes,
	    d->drop_full, d->drop_send, d->drop_bad, d->sock_drops, d->count,
	    d->no_tstamp);
}

/* Arm the timer for the earliest head, but no sooner than gran from now
 * and no later than DB_READ_LAG from now; or disarm it when nothing is
 * queued. Returns whether it is armed. */
static bool
db_arm(int tfd, struct db_dir *dirs, uint64_t delay, uint64_t gran,
    uint64_t now)
{
	struct itimerspec its;
	uint64_t due = UINT64_MAX, t;
	int i;

	for (i = 0; i < 2; i++) {
		if (dirs[i].count == 0)
			continue;
		t = dirs[i].blocked
		    ? now + DB_READ_LAG
		    : dirs[i].ring[dirs[i].head].arrived + delay;
		if (t < due)
			due = t;
	}
	memset(&its, 0, sizeof(its));
	if (due != UINT64_MAX) {
		if (due > now + DB_READ_LAG)
			due = now + DB_READ_LAG;
		if (due < now + gran)
			due = now + gran;
		/* A zero it_value disarms: never ask for time 0. */
		if (due == 0)
			due = 1;
		its.it_value.tv_sec = (time_t)(due / 1000000000u);
		its.it_value.tv_nsec = (long)(due % 1000000000u);
	}
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		db_die("timerfd_settime", NULL);
	return due != UINT64_MAX;
}

static unsigned long
db_num(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max) {
		fprintf(stderr, "delaybridge: bad %s: %s\n", what, s);
		db_usage();
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct db_dir dirs[2];
	struct pollfd pfd[4];
	struct signalfd_siginfo si;
	sigset_t sigs;
	uint64_t delay = 10000000u, gran = 50000u, expirations;
	size_t cap = 65536, max_bytes = 64u * 1024 * 1024;
	double ms;
	char *end;
	int c, fa, fb, tfd, sfd, i;
	bool stop = false;

	while ((c = getopt(argc, argv, "d:q:b:g:h")) != -1) {
		switch (c) {
		case 'd':
			errno = 0;
			ms = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(ms >= 0) ||
			    ms > 60000) {
				fprintf(stderr, "delaybridge: bad delay: %s\n",
				    optarg);
				db_usage();
			}
			delay = (uint64_t)(ms * 1e6 + 0.5);
			break;
		case 'q':
			cap = db_num(optarg, "queue length", 1ul << 24);
			break;
		case 'g':
			gran = db_num(optarg, "granularity", 1000000) * 1000u;
			break;
		case 'b':
			max_bytes = db_num(optarg, "queue size", 1ul << 16)
			    << 20;
			break;
		default:
			db_usage();
		}
	}
	if (argc - optind != 2)
		db_usage();
	if (strcmp(argv[optind], argv[optind + 1]) == 0) {
		fprintf(stderr, "delaybridge: IF_A and IF_B are the same\n");
		exit(1);
	}

	/* A shell starts background jobs with SIGINT ignored, and an
	 * ignored signal is discarded even when blocked: take it back. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0)
		db_die("sigprocmask", NULL);
	if ((sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		db_die("signalfd", NULL);
	if ((tfd = timerfd_create(CLOCK_MONOTONIC,
		 TFD_NONBLOCK | TFD_CLOEXEC)) < 0)
		db_die("timerfd_create", NULL);
	/* Wake up on time, not up to 50 us late. */
	(void)prctl(PR_SET_TIMERSLACK, 1ul, 0ul, 0ul, 0ul);

	fa = db_open(argv[optind]);
	fb = db_open(argv[optind + 1]);
	db_dir_init(&dirs[0], argv[optind], argv[optind + 1], fa, fb, cap,
	    max_bytes);
	db_dir_init(&dirs[1], argv[optind + 1], argv[optind], fb, fa, cap,
	    max_bytes);
	fprintf(stderr,
	    "delaybridge: bridging %s <-> %s, delay %.3f ms, queue %zu frames "
	    "/ %zu MiB per direction\n",
	    argv[optind], argv[optind + 1], (double)delay / 1e6, cap,
	    max_bytes >> 20);

	while (!stop) {
		uint64_t now = db_now();
		bool armed;
		short in;

		for (i = 0; i < 2; i++)
			db_flush(&dirs[i], delay, now);
		armed = db_arm(tfd, dirs, delay, gran, now);
		/* Frames queued: the timer wakes us, and whatever arrived
		 * meanwhile carries its own arrival time. */
		in = armed && !db_no_tstamp ? 0 : POLLIN;

		pfd[0].fd = fa;
		pfd[0].events = in | (dirs[1].blocked ? POLLOUT : 0);
		pfd[1].fd = fb;
		pfd[1].events = in | (dirs[0].blocked ? POLLOUT : 0);
		pfd[2].fd = tfd;
		pfd[2].events = POLLIN;
		pfd[3].fd = sfd;
		pfd[3].events = POLLIN;
		if (poll(pfd, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			db_die("poll", NULL);
		}
		if (pfd[0].revents & POLLNVAL || pfd[1].revents & POLLNVAL)
			db_die("poll: bad socket", NULL);
		db_read(&dirs[0]);
		db_read(&dirs[1]);
		if (pfd[0].revents & POLLOUT)
			dirs[1].blocked = false;
		if (pfd[1].revents & POLLOUT)
			dirs[0].blocked = false;
		if (pfd[2].revents & POLLIN)
			(void)read(tfd, &expirations, sizeof(expirations));
		if (pfd[3].revents & POLLIN) {
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGUSR1) {
					db_report(&dirs[0]);
					db_report(&dirs[1]);
				} else
					stop = true;
			}
		}
	}
	db_report(&dirs[0]);
	db_report(&dirs[1]);
	for (i = 0; i < 2; i++) {
		while (dirs[i].count > 0)
			db_pop(&dirs[i]);
		free(dirs[i].ring);
	}
	close(fa);
	close(fb);
	close(tfd);
	close(sfd);
	return 0;
}
