/*
 * Limits on attempts (logins) per source and in total: how many may be in
 * flight at once, and how many may start per minute.
 */
#ifndef DP_RATELIMIT_H
#define DP_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ratelimit_conf {
	unsigned rc_src_inflight; /* per source, at once */
	unsigned rc_src_per_min;  /* per source, started per minute */
	unsigned rc_inflight;     /* everyone, at once */
	unsigned rc_per_min;      /* everyone, started per minute */
};

struct ratelimit;

struct ratelimit *ratelimit_new(const struct ratelimit_conf *);
void ratelimit_free(struct ratelimit *);
void ratelimit_key(const struct sockaddr *, uint8_t key[16]);
void ratelimit_key16(const uint8_t addr[16], uint8_t key[16]);
uint32_t ratelimit_key_hash(const uint8_t key[16]);
const char *ratelimit_take(struct ratelimit *, const uint8_t key[16]);
void ratelimit_release(struct ratelimit *, const uint8_t key[16]);
size_t ratelimit_sources(const struct ratelimit *);

#endif
