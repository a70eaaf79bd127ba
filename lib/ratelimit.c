/*
 * Limits on attempts per source and in total. Each source (an IPv4
 * address, or an IPv6 /64, since one host holds a whole /64) has a count
 * in flight and a token bucket that refills at the per-minute rate. The
 * table of sources is bounded: when it is full of busy sources, new ones
 * are refused rather than let through.
 */
#include "ratelimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "monotime.h"

#define RATELIMIT_BUCKETS     1024
#define RATELIMIT_MAX_SOURCES 65536

struct rl_src {
	uint8_t rs_key[16];
	unsigned rs_inflight;
	double rs_tokens;
	uint64_t rs_ms; /* when rs_tokens was last brought up to date */
	struct rl_src *rs_next;
};

struct ratelimit {
	struct ratelimit_conf rl_conf;
	struct rl_src *rl_buckets[RATELIMIT_BUCKETS];
	size_t rl_nsrc;
	unsigned rl_inflight;
	double rl_tokens;
	uint64_t rl_ms;
};

/* Refill a bucket of capacity per_min for the time since *ms. */
static void
ratelimit_refill(double *tokens, uint64_t *ms, unsigned per_min, uint64_t now)
{
	*tokens += (double)(now - *ms) * per_min / 60000.0;
	if (*tokens > per_min)
		*tokens = per_min;
	*ms = now;
}

/* A table with these limits. */
struct ratelimit *
ratelimit_new(const struct ratelimit_conf *rc)
{
	struct ratelimit *rl = xcalloc(1, sizeof *rl);

	rl->rl_conf = *rc;
	rl->rl_tokens = rc->rc_per_min;
	rl->rl_ms = monotime_ms();
	return rl;
}

/* Free the table. */
void
ratelimit_free(struct ratelimit *rl)
{
	struct rl_src *s, *n;
	size_t i;

	if (rl == NULL)
		return;
	for (i = 0; i < RATELIMIT_BUCKETS; i++)
		for (s = rl->rl_buckets[i]; s != NULL; s = n) {
			n = s->rs_next;
			free(s);
		}
	free(rl);
}

/*
 * The key of a source from a 16-byte address (IPv4 as mapped IPv6): an
 * IPv4 address as it is, an IPv6 one cut to its /64.
 */
void
ratelimit_key16(const uint8_t addr[16], uint8_t key[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		0xff };

	memcpy(key, addr, 16);
	if (memcmp(addr, mapped, sizeof mapped) != 0)
		memset(key + 8, 0, 8);
}

/* The key of a source: IPv4 as mapped IPv6, IPv6 cut to its /64. */
void
ratelimit_key(const struct sockaddr *sa, uint8_t key[16])
{
	uint8_t a[16] = { 0 };

	if (sa->sa_family == AF_INET) {
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6)
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else {
		memset(key, 0, 16);
		return;
	}
	ratelimit_key16(a, key);
}

/* A key's hash (FNV-1a), for the tables of sources. */
uint32_t
ratelimit_key_hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

/* The bucket index of a key. */
static size_t
ratelimit_hash(const uint8_t key[16])
{
	return ratelimit_key_hash(key) % RATELIMIT_BUCKETS;
}

/* Find a source; create it when asked. */
static struct rl_src *
ratelimit_find(struct ratelimit *rl, const uint8_t key[16], int create,
    uint64_t now)
{
	struct rl_src **pp, *s;
	size_t h = ratelimit_hash(key);

	for (pp = &rl->rl_buckets[h]; (s = *pp) != NULL;) {
		if (memcmp(s->rs_key, key, 16) == 0)
			return s;
		/* Forget idle sources whose bucket has filled up again. */
		ratelimit_refill(&s->rs_tokens, &s->rs_ms,
		    rl->rl_conf.rc_src_per_min, now);
		if (s->rs_inflight == 0 &&
		    s->rs_tokens >= rl->rl_conf.rc_src_per_min) {
			*pp = s->rs_next;
			free(s);
			rl->rl_nsrc--;
			continue;
		}
		pp = &s->rs_next;
	}
	if (!create || rl->rl_nsrc >= RATELIMIT_MAX_SOURCES)
		return NULL;
	s = xcalloc(1, sizeof *s);
	memcpy(s->rs_key, key, 16);
	s->rs_tokens = rl->rl_conf.rc_src_per_min;
	s->rs_ms = now;
	s->rs_next = rl->rl_buckets[h];
	rl->rl_buckets[h] = s;
	rl->rl_nsrc++;
	return s;
}

/* Start an attempt: NULL if allowed, else why not. */
const char *
ratelimit_take(struct ratelimit *rl, const uint8_t key[16])
{
	const struct ratelimit_conf *rc = &rl->rl_conf;
	uint64_t now = monotime_ms();
	struct rl_src *s;

	ratelimit_refill(&rl->rl_tokens, &rl->rl_ms, rc->rc_per_min, now);
	if (rl->rl_inflight >= rc->rc_inflight)
		return "too many logins in progress";
	if (rl->rl_tokens < 1)
		return "too many logins per minute";
	if ((s = ratelimit_find(rl, key, 1, now)) == NULL)
		return "too many sources logging in";
	ratelimit_refill(&s->rs_tokens, &s->rs_ms, rc->rc_src_per_min, now);
	if (s->rs_inflight >= rc->rc_src_inflight)
		return "too many logins in progress from this address";
	if (s->rs_tokens < 1)
		return "too many logins per minute from this address";
	s->rs_tokens -= 1;
	s->rs_inflight++;
	rl->rl_tokens -= 1;
	rl->rl_inflight++;
	return NULL;
}

/* An attempt finished. */
void
ratelimit_release(struct ratelimit *rl, const uint8_t key[16])
{
	struct rl_src *s = ratelimit_find(rl, key, 0, monotime_ms());

	if (s != NULL && s->rs_inflight > 0)
		s->rs_inflight--;
	if (rl->rl_inflight > 0)
		rl->rl_inflight--;
}

/* Sources remembered, for tests. */
size_t
ratelimit_sources(const struct ratelimit *rl)
{
	return rl->rl_nsrc;
}
