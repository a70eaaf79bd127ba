/*
 * Places held per source (srccount.h). A hash table of sources with a
 * count each; a source is forgotten when its last place is let go, so the
 * table never holds more sources than there are places taken.
 */
#include "srccount.h"

#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "xmalloc.h"

#define SRCCOUNT_BUCKETS 1024

struct sc_src {
	uint8_t ss_key[16];
	unsigned ss_n;
	struct sc_src *ss_next;
};

struct srccount {
	struct sc_src *sc_buckets[SRCCOUNT_BUCKETS];
	size_t sc_nsrc;
};

/* An empty table. */
struct srccount *
srccount_new(void)
{
	return xcalloc(1, sizeof(struct srccount));
}

/* Free the table. */
void
srccount_free(struct srccount *sc)
{
	struct sc_src *s, *n;
	size_t i;

	if (sc == NULL)
		return;
	for (i = 0; i < SRCCOUNT_BUCKETS; i++)
		for (s = sc->sc_buckets[i]; s != NULL; s = n) {
			n = s->ss_next;
			free(s);
		}
	free(sc);
}

/* The bucket of a key. */
static struct sc_src **
srccount_bucket(const struct srccount *sc, const uint8_t key[16])
{
	return (struct sc_src **)&sc
	    ->sc_buckets[ratelimit_key_hash(key) % SRCCOUNT_BUCKETS];
}

/* Where a source is in its bucket's list (*pp NULL if absent). */
static struct sc_src **
srccount_find(const struct srccount *sc, const uint8_t key[16])
{
	struct sc_src **pp;

	for (pp = srccount_bucket(sc, key); *pp != NULL; pp = &(*pp)->ss_next)
		if (memcmp((*pp)->ss_key, key, 16) == 0)
			break;
	return pp;
}

/*
 * Take a place for a source, if it holds fewer than max (0: no limit).
 * Returns 0, or -1 when it is full; *held (if asked) is what it holds.
 */
int
srccount_take(struct srccount *sc, const uint8_t key[16], unsigned max,
    unsigned *held)
{
	struct sc_src **pp = srccount_find(sc, key), *s = *pp;

	if (held != NULL)
		*held = s != NULL ? s->ss_n : 0;
	if (s != NULL && max != 0 && s->ss_n >= max)
		return -1;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		memcpy(s->ss_key, key, 16);
		*pp = s;
		sc->sc_nsrc++;
	}
	s->ss_n++;
	return 0;
}

/* Let go of a place; the source is forgotten with its last one. */
void
srccount_release(struct srccount *sc, const uint8_t key[16])
{
	struct sc_src **pp = srccount_find(sc, key), *s = *pp;

	if (s == NULL)
		return;
	if (--s->ss_n > 0)
		return;
	*pp = s->ss_next;
	free(s);
	sc->sc_nsrc--;
}

/* The places a source holds. */
unsigned
srccount_held(const struct srccount *sc, const uint8_t key[16])
{
	struct sc_src *s = *srccount_find(sc, key);

	return s != NULL ? s->ss_n : 0;
}

/* Sources holding a place, for tests and metrics. */
size_t
srccount_sources(const struct srccount *sc)
{
	return sc->sc_nsrc;
}
