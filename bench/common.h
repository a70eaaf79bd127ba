/* Shared helpers for the benchmark tools: clocks, addresses, SOCKS5 dial. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <sys/socket.h>

struct bench_addr {
	struct sockaddr_storage ba_ss;
	socklen_t ba_len;
};

double bench_now(void);
int bench_parse(const char *s, struct bench_addr *a);
int bench_dial(const struct bench_addr *dst, const struct bench_addr *socks,
    int timeout_sec);
int bench_listen(const struct bench_addr *a, int backlog);
int bench_write_all(int fd, const void *buf, size_t len);
int bench_read_all(int fd, void *buf, size_t len);
void bench_raise_nofile(void);
int bench_cmp_double(const void *a, const void *b);
double bench_pct(const double *sorted, size_t n, double p);

#endif
