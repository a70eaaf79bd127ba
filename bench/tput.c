/*
 * Throughput pair: "tput sink -l ADDR" accepts connections (a thread
 * each); "tput send -c ADDR [-s SOCKS] [-n STREAMS] [-t SECS] [-R] [-T]"
 * opens STREAMS connections and moves data for SECS seconds, then prints
 * the aggregate in MB/s (10^6 bytes) on stdout.
 *
 * Each connection starts with an 8-byte header: "BT", the mode ('S': the
 * client sends, 'R': the sink sends), the payload ('b' binary, 't' FTP-like
 * text) and the duration in ms (u32, big-endian). In mode S the sink counts
 * until EOF and answers with the count (u64, big-endian), so the figure is
 * what arrived, not what sat in buffers. In mode R the client counts until
 * the sink's EOF.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define CHUNK (128 * 1024)
#define MAX_STREAMS 256

/* Text with no PORT/EPRT/227/229 announcement in it, for rule scanning. */
static const char text_line[] =
    "250-This is ordinary FTP control text without any address "
    "announcement in it, long enough to keep a rule scanner busy.\r\n";

struct stream {
	struct bench_addr *st_dst, *st_socks;
	char st_mode, st_kind;
	uint32_t st_ms;
	int st_fd;
	uint64_t st_bytes;
	double st_end;
	int st_err;
};

static pthread_barrier_t start_barrier;

/* Big-endian u64 to and from bytes. */
static void
put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

/* Read a big-endian u64. */
static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}
static double start_time;

/* Fill a buffer with the chosen payload. */
static void
fill(char *buf, size_t len, char kind)
{
	size_t i, tl = sizeof text_line - 1;

	for (i = 0; i < len; i++)
		buf[i] = kind == 't' ? text_line[i % tl] : (char)(i * 31 + 7);
}

/* Send for ms milliseconds from now; returns bytes sent or -1. */
static int64_t
send_for(int fd, const char *buf, uint32_t ms)
{
	double end = bench_now() + ms / 1000.0;
	int64_t total = 0;

	while (bench_now() < end) {
		if (bench_write_all(fd, buf, CHUNK) != 0)
			return -1;
		total += CHUNK;
	}
	return total;
}

/* Serve one sink connection. */
static void *
sink_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char hdr[8];
	char *buf = malloc(CHUNK);
	unsigned char be[8];
	uint64_t total = 0;
	uint32_t ms;
	ssize_t n;

	if (buf == NULL || bench_read_all(fd, hdr, 8) != 0 ||
	    hdr[0] != 'B' || hdr[1] != 'T')
		goto out;
	memcpy(&ms, hdr + 4, 4);
	ms = ntohl(ms);
	if (hdr[2] == 'R') {
		fill(buf, CHUNK, hdr[3]);
		send_for(fd, buf, ms);
		shutdown(fd, SHUT_WR);
		while (read(fd, buf, CHUNK) > 0)
			;
		goto out;
	}
	for (;;) {
		n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	if (n == 0) {
		put64(be, total);
		bench_write_all(fd, be, 8);
	}
out:
	free(buf);
	close(fd);
	return NULL;
}

/* The sink's accept loop. */
static int
sink_main(const char *laddr)
{
	struct bench_addr a;
	pthread_attr_t attr;
	pthread_t t;
	int lfd, fd;

	if (bench_parse(laddr, &a) != 0 || (lfd = bench_listen(&a, 1024)) < 0) {
		fprintf(stderr, "tput: cannot listen on %s\n", laddr);
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE)
				continue;
			return 1;
		}
		if (pthread_create(&t, &attr, sink_conn, (void *)(intptr_t)fd))
			close(fd);
	}
}

/* One client stream: connect, wait for all, move data, collect the count. */
static void *
stream_run(void *arg)
{
	struct stream *st = arg;
	unsigned char hdr[8] = { 'B', 'T', 0, 0 };
	char *buf = malloc(CHUNK);
	uint32_t ms = htonl(st->st_ms);
	unsigned char be[8];
	ssize_t n;

	st->st_err = 1;
	st->st_fd = bench_dial(st->st_dst, st->st_socks, 30);
	pthread_barrier_wait(&start_barrier);
	if (st->st_fd < 0 || buf == NULL)
		goto out;
	hdr[2] = st->st_mode;
	hdr[3] = st->st_kind;
	memcpy(hdr + 4, &ms, 4);
	if (bench_write_all(st->st_fd, hdr, 8) != 0)
		goto out;
	if (st->st_mode == 'S') {
		fill(buf, CHUNK, st->st_kind);
		if (send_for(st->st_fd, buf, st->st_ms) < 0)
			goto out;
		shutdown(st->st_fd, SHUT_WR);
		if (bench_read_all(st->st_fd, be, 8) != 0)
			goto out;
		st->st_bytes = get64(be);
	} else {
		for (;;) {
			n = read(st->st_fd, buf, CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto out;
			if (n == 0)
				break;
			st->st_bytes += n;
		}
	}
	st->st_end = bench_now();
	st->st_err = 0;
out:
	free(buf);
	if (st->st_fd >= 0)
		close(st->st_fd);
	return NULL;
}

/* The sending side: start the streams, wait for them, print MB/s. */
static int
send_main(struct bench_addr *dst, struct bench_addr *socks, int nstreams,
    double secs, char mode, char kind)
{
	static struct stream st[MAX_STREAMS];
	pthread_t t[MAX_STREAMS];
	uint64_t total = 0;
	double end = 0;
	int i, errs = 0;

	pthread_barrier_init(&start_barrier, NULL, nstreams + 1);
	for (i = 0; i < nstreams; i++) {
		st[i].st_dst = dst;
		st[i].st_socks = socks;
		st[i].st_mode = mode;
		st[i].st_kind = kind;
		st[i].st_ms = (uint32_t)(secs * 1000);
		st[i].st_fd = -1;
		if (pthread_create(&t[i], NULL, stream_run, &st[i]) != 0) {
			fprintf(stderr, "tput: cannot start a thread\n");
			return 1;
		}
	}
	pthread_barrier_wait(&start_barrier);
	start_time = bench_now();
	for (i = 0; i < nstreams; i++) {
		pthread_join(t[i], NULL);
		if (st[i].st_err) {
			errs++;
			continue;
		}
		total += st[i].st_bytes;
		if (st[i].st_end > end)
			end = st[i].st_end;
	}
	if (errs > 0) {
		fprintf(stderr, "tput: %d of %d streams failed\n", errs, nstreams);
		return 1;
	}
	printf("%.1f\n", total / (end - start_time) / 1e6);
	fprintf(stderr, "tput: %d streams, %llu bytes in %.2f s\n", nstreams,
	    (unsigned long long)total, end - start_time);
	return 0;
}

/* Print usage and exit. */
static void
usage(void)
{
	fprintf(stderr, "usage: tput sink -l ADDR:PORT\n"
	    "       tput send -c ADDR:PORT [-s SOCKS_ADDR:PORT] [-n streams] "
	    "[-t secs] [-R] [-T]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct bench_addr dst, socks;
	const char *l = NULL, *c = NULL, *s = NULL;
	int opt, n = 1;
	double secs = 10;
	char mode = 'S', kind = 'b';

	if (argc < 2)
		usage();
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	optind = 2;
	while ((opt = getopt(argc, argv, "l:c:s:n:t:RT")) != -1) {
		switch (opt) {
		case 'l': l = optarg; break;
		case 'c': c = optarg; break;
		case 's': s = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'R': mode = 'R'; break;
		case 'T': kind = 't'; break;
		default: usage();
		}
	}
	if (strcmp(argv[1], "sink") == 0 && l != NULL)
		return sink_main(l);
	if (strcmp(argv[1], "send") != 0 || c == NULL || n < 1 ||
	    n > MAX_STREAMS || secs <= 0 || secs > 600)
		usage();
	if (bench_parse(c, &dst) != 0 || (s != NULL && bench_parse(s, &socks) != 0))
		usage();
	return send_main(&dst, s != NULL ? &socks : NULL, n, secs, mode, kind);
}
