/* Channel id to channel lookup: a chained hash table that grows. */
#include "chanmap.h"

#include <stdlib.h>

#include <openssl/rand.h>

#include "channel.h"
#include "log.h"
#include "xmalloc.h"

/*
 * Bucket for an id. The peer chooses its ids: mixed with a random key of
 * this map's, ids that share their low bits (or any other pattern) do not
 * share a bucket, so no lookup walks a long chain.
 */
static size_t
chanmap_slot(const struct chanmap *m, size_t nbuckets, uint32_t id)
{
	uint64_t h = ((uint64_t)id ^ m->cm_k0) * m->cm_k1;

	return (size_t)((h ^ (h >> 29) ^ (h >> 47)) & (nbuckets - 1));
}

/* Start empty. */
void
chanmap_init(struct chanmap *m)
{
	uint64_t k[2];

	if (RAND_bytes((unsigned char *)k, sizeof k) != 1)
		fatalx("cannot draw a channel table key");
	m->cm_k0 = k[0];
	m->cm_k1 = k[1] | 1;
	m->cm_nbuckets = 64;
	m->cm_buckets = xcalloc(m->cm_nbuckets, sizeof *m->cm_buckets);
	m->cm_count = 0;
}

/* Free the table, not the channels. */
void
chanmap_free(struct chanmap *m)
{
	free(m->cm_buckets);
	m->cm_buckets = NULL;
	m->cm_nbuckets = m->cm_count = 0;
}

/* Find a channel by id. */
struct channel *
chanmap_find(const struct chanmap *m, uint32_t id)
{
	struct channel *ch;

	for (ch = m->cm_buckets[chanmap_slot(m, m->cm_nbuckets, id)];
	     ch != NULL; ch = ch->ch_hnext)
		if (ch->ch_id == id)
			return ch;
	return NULL;
}

/* Double the table when it is full. */
static void
chanmap_grow(struct chanmap *m)
{
	size_t n = m->cm_nbuckets * 2, i, s;
	struct channel **b = xcalloc(n, sizeof *b), *ch, *next;

	for (i = 0; i < m->cm_nbuckets; i++) {
		for (ch = m->cm_buckets[i]; ch != NULL; ch = next) {
			next = ch->ch_hnext;
			s = chanmap_slot(m, n, ch->ch_id);
			ch->ch_hnext = b[s];
			b[s] = ch;
		}
	}
	free(m->cm_buckets);
	m->cm_buckets = b;
	m->cm_nbuckets = n;
}

/* Add a channel; its id must be new. */
void
chanmap_insert(struct chanmap *m, struct channel *ch)
{
	size_t s;

	if (m->cm_count >= m->cm_nbuckets)
		chanmap_grow(m);
	s = chanmap_slot(m, m->cm_nbuckets, ch->ch_id);
	ch->ch_hnext = m->cm_buckets[s];
	m->cm_buckets[s] = ch;
	m->cm_count++;
}

/* Remove a channel if present. */
void
chanmap_remove(struct chanmap *m, struct channel *ch)
{
	struct channel **pp;

	for (pp = &m->cm_buckets[chanmap_slot(m, m->cm_nbuckets, ch->ch_id)];
	     *pp != NULL; pp = &(*pp)->ch_hnext) {
		if (*pp == ch) {
			*pp = ch->ch_hnext;
			ch->ch_hnext = NULL;
			m->cm_count--;
			return;
		}
	}
}

/* Call fn on every channel; fn must not add or remove any. */
void
chanmap_walk(const struct chanmap *m, void (*fn)(struct channel *, void *),
    void *arg)
{
	struct channel *ch;
	size_t i;

	for (i = 0; i < m->cm_nbuckets; i++)
		for (ch = m->cm_buckets[i]; ch != NULL; ch = ch->ch_hnext)
			fn(ch, arg);
}

/* Any one channel, for teardown loops. */
struct channel *
chanmap_any(const struct chanmap *m)
{
	size_t i;

	if (m->cm_count == 0)
		return NULL;
	for (i = 0; i < m->cm_nbuckets; i++)
		if (m->cm_buckets[i] != NULL)
			return m->cm_buckets[i];
	return NULL;
}
