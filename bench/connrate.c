/*
 * Connection setup load generator:
 * "connrate -c ADDR:PORT [-s SOCKS] [-p INFLIGHT] [-t SECS] [-n MAXOPS]".
 * INFLIGHT threads each repeat connect (and the SOCKS5 exchange), write one
 * byte, read it back, close, until SECS pass or MAXOPS operations are done.
 * Prints "rate P50_MS P99_MS OPS ERRORS" on one line.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define MAX_THREADS 512

struct worker {
	double *w_lat;		/* latencies in seconds */
	size_t w_n, w_cap;
	long w_err;
	pthread_t w_t;
};

static struct bench_addr dst, socks;
static int use_socks;
static double deadline;
static long max_ops;
static long ops_started;
static pthread_mutex_t ops_lock = PTHREAD_MUTEX_INITIALIZER;

/* Claim one operation from the shared budget; 0 when it is spent. */
static int
claim(void)
{
	int ok;

	pthread_mutex_lock(&ops_lock);
	ok = ops_started < max_ops;
	if (ok)
		ops_started++;
	pthread_mutex_unlock(&ops_lock);
	return ok && bench_now() < deadline;
}

/* One thread's loop of connect + 1-byte echo + close. */
static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	double t0, t1;
	char c = 'x', r;
	int fd;

	while (claim()) {
		t0 = bench_now();
		fd = bench_dial(&dst, use_socks ? &socks : NULL, 10);
		if (fd < 0) {
			w->w_err++;
			usleep(1000);
			continue;
		}
		if (bench_write_all(fd, &c, 1) != 0 ||
		    bench_read_all(fd, &r, 1) != 0) {
			w->w_err++;
			close(fd);
			continue;
		}
		close(fd);
		t1 = bench_now();
		if (w->w_n == w->w_cap) {
			w->w_cap = w->w_cap ? w->w_cap * 2 : 4096;
			w->w_lat = realloc(w->w_lat, w->w_cap * sizeof(double));
			if (w->w_lat == NULL)
				abort();
		}
		w->w_lat[w->w_n++] = t1 - t0;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static struct worker w[MAX_THREADS];
	const char *c = NULL, *s = NULL;
	double secs = 5, start, elapsed, *all;
	size_t total = 0, k;
	long errs = 0;
	int opt, p = 1, i;

	max_ops = 1000000;
	while ((opt = getopt(argc, argv, "c:s:p:t:n:")) != -1) {
		switch (opt) {
		case 'c': c = optarg; break;
		case 's': s = optarg; break;
		case 'p': p = atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'n': max_ops = atol(optarg); break;
		default: c = NULL; p = 0; break;
		}
	}
	if (c == NULL || bench_parse(c, &dst) != 0 || p < 1 ||
	    p > MAX_THREADS || secs <= 0 || secs > 600 || max_ops < 1 ||
	    (s != NULL && bench_parse(s, &socks) != 0)) {
		fprintf(stderr, "usage: connrate -c ADDR:PORT [-s SOCKS_ADDR:PORT] "
		    "[-p inflight] [-t secs] [-n maxops]\n");
		return 2;
	}
	use_socks = s != NULL;
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	start = bench_now();
	deadline = start + secs;
	for (i = 0; i < p; i++)
		if (pthread_create(&w[i].w_t, NULL, worker_run, &w[i]) != 0) {
			fprintf(stderr, "connrate: cannot start a thread\n");
			return 1;
		}
	for (i = 0; i < p; i++) {
		pthread_join(w[i].w_t, NULL);
		total += w[i].w_n;
		errs += w[i].w_err;
	}
	elapsed = bench_now() - start;
	if (total == 0) {
		fprintf(stderr, "connrate: no connection succeeded (%ld errors)\n",
		    errs);
		return 1;
	}
	if ((all = malloc(total * sizeof *all)) == NULL)
		return 1;
	for (i = 0, k = 0; i < p; i++) {
		memcpy(all + k, w[i].w_lat, w[i].w_n * sizeof *all);
		k += w[i].w_n;
	}
	qsort(all, total, sizeof *all, bench_cmp_double);
	printf("%.0f %.3f %.3f %zu %ld\n", total / elapsed,
	    bench_pct(all, total, 50) * 1e3, bench_pct(all, total, 99) * 1e3,
	    total, errs);
	return 0;
}
