/*
 * Worker threads with their own event bases (worker.h). Parking: the main
 * thread activates each worker's park event and waits until all of them
 * sit in it; a parked worker runs no callback of its own until unparked,
 * so the main thread may then touch its sessions, events and sockets.
 */
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "daemon.h"
#include "xmalloc.h"

struct workers {
	int ws_n;
	struct worker *ws_w;
	pthread_t *ws_threads;
	int ws_started;
	pthread_mutex_t ws_lock;
	pthread_cond_t ws_cond;
	int ws_parking; /* how deep the main thread has parked */
	int ws_parked;  /* workers sitting in worker_parkcb */
};

static __thread struct worker *worker_cur;

/* Let libevent lock its bases, once, before any base is made. */
int
workers_threading(void)
{
	static int done;

	if (!done && evthread_use_pthreads() != 0)
		return -1;
	done = 1;
	return 0;
}

/* The worker the calling thread runs, or NULL on the main thread. */
struct worker *
worker_self(void)
{
	return worker_cur;
}

/* Sit here while the main thread has the workers parked. */
static void
worker_parkcb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct workers *ws = w->w_set;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&ws->ws_lock);
	if (ws->ws_parking > 0) {
		ws->ws_parked++;
		pthread_cond_broadcast(&ws->ws_cond);
		while (ws->ws_parking > 0)
			pthread_cond_wait(&ws->ws_cond, &ws->ws_lock);
		ws->ws_parked--;
		pthread_cond_broadcast(&ws->ws_cond);
	}
	pthread_mutex_unlock(&ws->ws_lock);
}

/* A worker thread: its loop, until workers_stop breaks it. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	worker_cur = w;
	event_base_loop(w->w_base, EVLOOP_NO_EXIT_ON_EMPTY);
	worker_cur = NULL;
	return NULL;
}

/* Make n workers (1 to WORKERS_MAX) and start their threads. */
struct workers *
workers_new(const char *prog, int n, char **cause)
{
	struct workers *ws;
	struct worker *w;
	sigset_t all, old;
	char name[32];
	int i;

	if (workers_threading() != 0) {
		xasprintf(cause, "cannot enable threads in libevent");
		return NULL;
	}
	ws = xcalloc(1, sizeof *ws);
	ws->ws_n = n;
	ws->ws_w = xcalloc((size_t)n, sizeof *ws->ws_w);
	ws->ws_threads = xcalloc((size_t)n, sizeof *ws->ws_threads);
	pthread_mutex_init(&ws->ws_lock, NULL);
	pthread_cond_init(&ws->ws_cond, NULL);
	for (i = 0; i < n; i++) {
		w = &ws->ws_w[i];
		w->w_id = i;
		w->w_set = ws;
		if ((w->w_base = daemon_event_base()) == NULL ||
		    (w->w_park = event_new(w->w_base, -1, 0, worker_parkcb,
			 w)) == NULL) {
			xasprintf(cause, "worker %d: cannot make an event base",
			    i);
			workers_free(ws);
			return NULL;
		}
		w->w_dns = daemon_dns_base(w->w_base);
	}
	/* Signals go to the main thread's loop, not to a worker. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		if (pthread_create(&ws->ws_threads[i], NULL, worker_main,
			&ws->ws_w[i]) != 0)
			break;
		/* A thread's name holds 15 characters. */
		snprintf(name, sizeof name, "%.8s-w%d", prog, i % 100);
		name[15] = '\0';
		pthread_setname_np(ws->ws_threads[i], name);
		ws->ws_started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ws->ws_started < n) {
		xasprintf(cause, "cannot start worker thread %d",
		    ws->ws_started);
		workers_free(ws);
		return NULL;
	}
	return ws;
}

/* How many workers there are. */
int
workers_count(const struct workers *ws)
{
	return ws != NULL ? ws->ws_n : 0;
}

/* Worker i, counted round the set. */
struct worker *
workers_get(struct workers *ws, int i)
{
	return &ws->ws_w[(unsigned)i % (unsigned)ws->ws_n];
}

/*
 * From the main thread: wait until every worker sits between callbacks.
 * Parks nest; each needs its workers_unpark.
 */
void
workers_park(struct workers *ws)
{
	int i;

	if (ws == NULL || ws->ws_started == 0)
		return;
	pthread_mutex_lock(&ws->ws_lock);
	if (ws->ws_parking++ == 0) {
		for (i = 0; i < ws->ws_started; i++)
			event_active(ws->ws_w[i].w_park, EV_TIMEOUT, 1);
		while (ws->ws_parked < ws->ws_started)
			pthread_cond_wait(&ws->ws_cond, &ws->ws_lock);
	}
	pthread_mutex_unlock(&ws->ws_lock);
}

/* Let parked workers go on. */
void
workers_unpark(struct workers *ws)
{
	if (ws == NULL || ws->ws_started == 0)
		return;
	pthread_mutex_lock(&ws->ws_lock);
	if (--ws->ws_parking == 0) {
		pthread_cond_broadcast(&ws->ws_cond);
		while (ws->ws_parked > 0)
			pthread_cond_wait(&ws->ws_cond, &ws->ws_lock);
	}
	pthread_mutex_unlock(&ws->ws_lock);
}

/* Stop the threads; their bases stay, for the daemon to free what is on
 * them. */
void
workers_stop(struct workers *ws)
{
	int i;

	if (ws == NULL)
		return;
	for (i = 0; i < ws->ws_started; i++)
		event_base_loopbreak(ws->ws_w[i].w_base);
	for (i = 0; i < ws->ws_started; i++)
		pthread_join(ws->ws_threads[i], NULL);
	ws->ws_started = 0;
}

/* Stop the workers and free their bases. */
void
workers_free(struct workers *ws)
{
	struct worker *w;
	int i;

	if (ws == NULL)
		return;
	workers_stop(ws);
	for (i = 0; i < ws->ws_n; i++) {
		w = &ws->ws_w[i];
		if (w->w_dns != NULL)
			evdns_base_free(w->w_dns, 0);
		if (w->w_park != NULL)
			event_free(w->w_park);
		if (w->w_base != NULL)
			event_base_free(w->w_base);
	}
	pthread_cond_destroy(&ws->ws_cond);
	pthread_mutex_destroy(&ws->ws_lock);
	free(ws->ws_threads);
	free(ws->ws_w);
	free(ws);
}
