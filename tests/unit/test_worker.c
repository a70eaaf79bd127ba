/*
 * Worker threads: each runs its own base; a parked worker runs none of
 * its callbacks until unparked (nested parks too); worker_self names the
 * worker in its callbacks and is NULL on the main thread; stop joins.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "unit.h"
#include "worker.h"

/* One busy callback per worker: counts its turns, notes who ran it. */
struct spin {
	struct worker *w;
	struct event *ev;
	uint64_t turns;   /* written by the worker only */
	int wrong_thread; /* worker_self was not w */
};

/* Count a turn and come back at once. */
static void
test_spincb(evutil_socket_t fd, short what, void *arg)
{
	struct spin *s = arg;
	struct timeval zero = { 0, 0 };

	(void)fd;
	(void)what;
	if (worker_self() != s->w)
		s->wrong_thread = 1;
	__atomic_add_fetch(&s->turns, 1, __ATOMIC_RELAXED);
	evtimer_add(s->ev, &zero);
}

/* Sleep ms milliseconds. */
static void
test_sleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The turns of s, read from the main thread. */
static uint64_t
test_turns(struct spin *s)
{
	return __atomic_load_n(&s->turns, __ATOMIC_RELAXED);
}

int
main(void)
{
	struct spin s[2];
	struct workers *ws;
	struct timeval zero = { 0, 0 };
	uint64_t a[2], b[2];
	char *cause = NULL;
	int i, k;

	CHECK(workers_threading() == 0);
	ws = workers_new("test", 2, &cause);
	CHECK(ws != NULL);
	if (ws == NULL)
		return 1;
	CHECK(workers_count(ws) == 2);
	CHECK(workers_get(ws, 0)->w_id == 0 && workers_get(ws, 3)->w_id == 1);
	CHECK(worker_self() == NULL);
	CHECK(workers_get(ws, 0)->w_dns != NULL);
	memset(s, 0, sizeof s);
	for (i = 0; i < 2; i++) {
		s[i].w = workers_get(ws, i);
		s[i].ev = evtimer_new(s[i].w->w_base, test_spincb, &s[i]);
		evtimer_add(s[i].ev, &zero);
	}
	test_sleep(100);
	for (i = 0; i < 2; i++)
		CHECK(test_turns(&s[i]) > 0);

	/* Parked (twice over): no turn at all, on either worker. */
	for (k = 0; k < 3; k++) {
		workers_park(ws);
		workers_park(ws);
		for (i = 0; i < 2; i++)
			a[i] = test_turns(&s[i]);
		test_sleep(50);
		workers_unpark(ws);
		test_sleep(20);
		for (i = 0; i < 2; i++)
			b[i] = test_turns(&s[i]);
		CHECK(a[0] == b[0] && a[1] == b[1]); /* still parked */
		workers_unpark(ws);
		test_sleep(50);
		for (i = 0; i < 2; i++)
			CHECK(test_turns(&s[i]) > b[i]); /* going on again */
	}

	/* Many short parks in a row, as a busy main thread makes. */
	for (k = 0; k < 1000; k++) {
		workers_park(ws);
		workers_unpark(ws);
	}
	CHECK(s[0].wrong_thread == 0 && s[1].wrong_thread == 0);

	/* Stopped: the threads are gone and nothing turns any more. */
	workers_stop(ws);
	a[0] = test_turns(&s[0]);
	test_sleep(30);
	CHECK(test_turns(&s[0]) == a[0]);
	workers_park(ws); /* no threads: returns at once */
	workers_unpark(ws);
	for (i = 0; i < 2; i++)
		event_free(s[i].ev);
	workers_free(ws);
	printf("worker: %d passed, %d failed\n", unit_pass, unit_fail);
	return unit_fail != 0;
}
