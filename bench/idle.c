/*
 * Idle channel opener: "idle -c ADDR:PORT [-s SOCKS] -n N [-j THREADS]
 * [-w SECS]". Opens N connections (THREADS at a time, each one proven by a
 * 1-byte echo), prints "ready OPENED failed FAILED in SECS s" and holds
 * the open ones until SIGTERM or -w SECS seconds, whichever comes first.
 * Exits 1 if none could be opened.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

#define MAX_THREADS 64

static struct bench_addr dst, socks;
static int use_socks;
static long nconn;
static long next_conn;
static long failed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Open connections until the shared count is reached. */
static void *
opener(void *arg)
{
	char c = 'i', r;
	long i;
	int fd;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		i = next_conn < nconn ? next_conn++ : -1;
		pthread_mutex_unlock(&lock);
		if (i < 0)
			return NULL;
		fd = bench_dial(&dst, use_socks ? &socks : NULL, 30);
		if (fd < 0 || bench_write_all(fd, &c, 1) != 0 ||
		    bench_read_all(fd, &r, 1) != 0) {
			if (fd >= 0)
				close(fd);
			pthread_mutex_lock(&lock);
			failed++;
			pthread_mutex_unlock(&lock);
		}
		/* An open fd is kept on purpose: that is the idle channel. */
	}
}

int
main(int argc, char **argv)
{
	pthread_t t[MAX_THREADS];
	const char *c = NULL, *s = NULL;
	int opt, j = 16, i;
	long w = 300;
	double t0;

	while ((opt = getopt(argc, argv, "c:s:n:j:w:")) != -1) {
		switch (opt) {
		case 'c': c = optarg; break;
		case 's': s = optarg; break;
		case 'n': nconn = atol(optarg); break;
		case 'j': j = atoi(optarg); break;
		case 'w': w = atol(optarg); break;
		default: c = NULL; break;
		}
	}
	if (c == NULL || bench_parse(c, &dst) != 0 || nconn < 1 ||
	    nconn > 200000 || j < 1 || j > MAX_THREADS || w < 1 ||
	    (s != NULL && bench_parse(s, &socks) != 0)) {
		fprintf(stderr, "usage: idle -c ADDR:PORT [-s SOCKS_ADDR:PORT] "
		    "-n N [-j threads] [-w secs]\n");
		return 2;
	}
	use_socks = s != NULL;
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	t0 = bench_now();
	for (i = 0; i < j; i++)
		if (pthread_create(&t[i], NULL, opener, NULL) != 0)
			return 1;
	for (i = 0; i < j; i++)
		pthread_join(t[i], NULL);
	printf("ready %ld failed %ld in %.1f s\n", nconn - failed, failed,
	    bench_now() - t0);
	fflush(stdout);
	if (failed == nconn)
		return 1;
	sleep(w);
	return 0;
}
