/* The channel id table: a peer chooses the ids, so it must not be able
 * to choose ids that all land in one bucket. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "chanmap.h"
#include "channel.h"
#include "unit.h"

/* CPU seconds for `lookups` finds of an id that is not there, with 2048
 * channels whose ids are 1 + (k << shift) for k = 0, 1, ... */
static double
lookup_cpu(int shift, long lookups)
{
	static struct channel chans[2048];
	struct chanmap m;
	struct timespec t0, t1;
	long i;
	int k, found = 0;

	chanmap_init(&m);
	for (k = 0; k < 2048; k++) {
		chans[k].ch_id = 1 + ((uint32_t)k << shift);
		chanmap_insert(&m, &chans[k]);
	}
	for (k = 0; k < 2048; k++)
		found +=
		    chanmap_find(&m, 1 + ((uint32_t)k << shift)) == &chans[k];
	CHECK(found == 2048);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (i = 0; i < lookups; i++)
		found += chanmap_find(&m,
			     1 + ((uint32_t)(3000 + (i & 7)) << shift)) != NULL;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	CHECK(found == 2048);
	for (k = 0; k < 2048; k++)
		chanmap_remove(&m, &chans[k]);
	CHECK(chanmap_any(&m) == NULL);
	chanmap_free(&m);
	return (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/*
 * Ids that differ only above bit 20 cost a lookup no more than
 * sequential ids do (1 + 2k): the bucket depends on a key of the map's
 * own, not on the id's low bits alone.
 */
static void
test_chosen_ids(void)
{
	double seq, chosen;

	seq = lookup_cpu(1, 200000);
	chosen = lookup_cpu(20, 200000);
	fprintf(stderr,
	    "200000 lookups among 2048 channels: %.3f s CPU with "
	    "sequential ids, %.3f s with ids chosen to collide\n",
	    seq, chosen);
	CHECK(chosen < 5 * seq + 0.02);
}

int
main(void)
{
	test_chosen_ids();
	return unit_done("chanmap");
}
