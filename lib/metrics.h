/*
 * What a daemon counts, for the Prometheus endpoint ([metrics] listen):
 * a fixed set of families, each with at most two labels and a bounded
 * number of series.
 */
#ifndef DP_METRICS_H
#define DP_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum metric_id {
	M_SESSIONS,        /* gauge {peer}: sessions up, by the peer's role */
	M_SESSION_RTT,     /* gauge {peer}: last PING round trip, seconds */
	M_CHANNELS,        /* gauge {user}: channels open now */
	M_CHANNELS_ALL,    /* counter {kind}: forward or reverse */
	M_BYTES,           /* counter {direction}: to_server or to_client */
	M_REFUSALS,        /* counter {reason} */
	M_ANNOUNCEMENTS,   /* counter {rule, outcome} */
	M_LOGINS,          /* counter {method, result} */
	M_PASSWORD_HASHES, /* counter {result}: scrypt checks run */
	M_NFAMILIES
};

/* Most series a family keeps; more go under the label value "_other". */
#define METRICS_MAX_SERIES 4096

void metrics_init(const char *prog);
void metrics_add(enum metric_id, const char *v1, double delta);
void metrics_add2(enum metric_id, const char *v1, const char *v2, double);
void metrics_set(enum metric_id, const char *v1, double);
void metrics_clear(enum metric_id);
void metrics_bytes(int to_server, uint64_t);
void metrics_set_collector(void (*)(void *), void *);
void metrics_render(struct evbuffer *);
const char *metrics_reason(uint8_t open_code);
void metrics_free(void);

#endif
