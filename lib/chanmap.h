/* Channel id to channel lookup: a chained hash table that grows. */
#ifndef DP_CHANMAP_H
#define DP_CHANMAP_H

#include <stddef.h>
#include <stdint.h>

struct channel;

struct chanmap {
	struct channel **cm_buckets;
	size_t cm_nbuckets;
	size_t cm_count;
	uint64_t cm_k0, cm_k1; /* the map's own key: a peer that chooses
				  ids cannot choose their buckets */
};

void chanmap_init(struct chanmap *);
void chanmap_free(struct chanmap *);
struct channel *chanmap_find(const struct chanmap *, uint32_t);
void chanmap_insert(struct chanmap *, struct channel *);
void chanmap_remove(struct chanmap *, struct channel *);
struct channel *chanmap_any(const struct chanmap *);
void chanmap_walk(const struct chanmap *, void (*)(struct channel *, void *),
    void *);

#endif
