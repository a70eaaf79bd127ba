/*
 * Places held per source: how many connections each source (an IPv4
 * address, or an IPv6 /64, keyed as ratelimit_key does) has open, so
 * that one source cannot take every descriptor a daemon has.
 */
#ifndef DP_SRCCOUNT_H
#define DP_SRCCOUNT_H

#include <stddef.h>
#include <stdint.h>

struct srccount;

struct srccount *srccount_new(void);
void srccount_free(struct srccount *);
int srccount_take(struct srccount *, const uint8_t key[16], unsigned max,
    unsigned *held);
void srccount_release(struct srccount *, const uint8_t key[16]);
unsigned srccount_held(const struct srccount *, const uint8_t key[16]);
size_t srccount_sources(const struct srccount *);

#endif
