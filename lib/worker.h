/*
 * Worker threads, each with its own event base and resolver. A daemon puts
 * whole sessions on a worker, so that a session, its channels and their
 * sockets are only ever touched by one thread. The main thread keeps
 * signals, reloads and metrics; before it touches what a worker owns, it
 * parks every worker at a point between two callbacks (workers_park), and
 * lets them go on afterwards (workers_unpark).
 */
#ifndef DP_WORKER_H
#define DP_WORKER_H

#include <event2/dns.h>
#include <event2/event.h>

#define WORKERS_MAX 64

struct workers;

struct worker {
	int w_id; /* from 0 */
	struct workers *w_set;
	struct event_base *w_base;
	struct evdns_base *w_dns;
	struct event *w_park;
	void *w_data; /* the daemon's own, per worker */
};

int workers_threading(void);
struct workers *workers_new(const char *prog, int n, char **cause);
int workers_count(const struct workers *);
struct worker *workers_get(struct workers *, int);
void workers_park(struct workers *);
void workers_unpark(struct workers *);
void workers_stop(struct workers *);
void workers_free(struct workers *);
struct worker *worker_self(void);

#endif
