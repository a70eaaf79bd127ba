/* Shared helpers for the benchmark tools: clocks, addresses, SOCKS5 dial. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Monotonic time in seconds. */
double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Parse "1.2.3.4:port" or "[v6]:port" (numeric only). */
int
bench_parse(const char *s, struct bench_addr *a)
{
	char host[128];
	const char *colon, *h = s;
	size_t hl;
	long port;
	char *end;

	memset(a, 0, sizeof *a);
	if ((colon = strrchr(s, ':')) == NULL)
		return -1;
	hl = colon - s;
	if (s[0] == '[') {
		if (hl < 2 || s[hl - 1] != ']')
			return -1;
		h = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -1;
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ba_ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		a->ba_len = sizeof *sin6;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ba_ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		a->ba_len = sizeof *sin;
	}
	return 0;
}

/* Write everything or fail. */
int
bench_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Read exactly len bytes or fail (EOF included). */
int
bench_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* The SOCKS5 exchange as a plain client does it: greeting, then CONNECT. */
static int
bench_socks5(int fd, const struct bench_addr *dst)
{
	unsigned char req[22], rep[22];
	size_t n = 0, replen;

	if (bench_write_all(fd, "\x05\x01\x00", 3) != 0 ||
	    bench_read_all(fd, rep, 2) != 0 || rep[0] != 5 || rep[1] != 0)
		return -1;
	req[n++] = 5;
	req[n++] = 1;
	req[n++] = 0;
	if (dst->ba_ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&dst->ba_ss;

		req[n++] = 1;
		memcpy(req + n, &sin->sin_addr, 4);
		n += 4;
		memcpy(req + n, &sin->sin_port, 2);
		n += 2;
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)&dst->ba_ss;

		req[n++] = 4;
		memcpy(req + n, &sin6->sin6_addr, 16);
		n += 16;
		memcpy(req + n, &sin6->sin6_port, 2);
		n += 2;
	}
	if (bench_write_all(fd, req, n) != 0 || bench_read_all(fd, rep, 4) != 0 ||
	    rep[0] != 5 || rep[1] != 0)
		return -1;
	switch (rep[3]) {
	case 1: replen = 4 + 2; break;
	case 4: replen = 16 + 2; break;
	default: return -1;
	}
	return bench_read_all(fd, rep + 4, replen);
}

/*
 * Blocking connect to dst, through a SOCKS5 proxy when socks is not NULL.
 * Reads and writes time out after timeout_sec, so no loop hangs for ever.
 */
int
bench_dial(const struct bench_addr *dst, const struct bench_addr *socks,
    int timeout_sec)
{
	const struct bench_addr *to = socks != NULL ? socks : dst;
	struct timeval tv = { timeout_sec, 0 };
	int fd;

	fd = socket(to->ba_ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (const struct sockaddr *)&to->ba_ss, to->ba_len) != 0 ||
	    (socks != NULL && bench_socks5(fd, dst) != 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A listening socket with SO_REUSEADDR. */
int
bench_listen(const struct bench_addr *a, int backlog)
{
	int fd, one = 1;

	fd = socket(a->ba_ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&a->ba_ss, a->ba_len) != 0 ||
	    listen(fd, backlog) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Raise the open-file limit to the hard limit. */
void
bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* qsort comparator for doubles. */
int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of n sorted values, nearest rank. */
double
bench_pct(const double *sorted, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * n);
	if (i >= n)
		i = n - 1;
	return sorted[i];
}
