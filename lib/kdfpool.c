/*
 * Password checks off the event loop. scrypt costs tens of milliseconds
 * and megabytes by design; on the loop, a burst of wrong logins would stall
 * every channel. Here worker threads run it. Jobs wait in one queue per
 * source (a client address). A worker takes the next job from the source
 * with the fewest checks running and, among equals, the one whose last
 * turn is longest ago (a new source has had none). So a source that
 * floods waits behind itself, not in front of others, and a new source
 * waits only for the checks already running. Each
 * finished job comes back to the loop through a pipe, one pointer per
 * write (atomic below PIPE_BUF).
 */
#include "kdfpool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kdf.h"
#include "log.h"
#include "xmalloc.h"

#define KDFPOOL_MAX_THREADS 16

struct kdfsrc;

struct kdfjob {
	struct kdfpool *j_pool;
	struct kdfsrc *j_src; /* while queued or running */
	int j_running;        /* under the lock */
	uint8_t *j_pw;
	size_t j_pwlen;
	char *j_hash;
	int j_ok;
	int j_cancelled; /* under the lock */
	kdfpool_cb j_cb;
	void *j_arg;
	TAILQ_ENTRY(kdfjob) j_entry;
};

struct kdfsrc {
	uint8_t s_key[16];
	TAILQ_HEAD(, kdfjob) s_jobs; /* queued */
	unsigned s_running;
	uint64_t s_turn; /* when it last had a turn; 0: never */
	TAILQ_ENTRY(kdfsrc) s_entry;
};

struct kdfpool {
	pthread_mutex_t p_lock;
	pthread_cond_t p_cond;
	TAILQ_HEAD(, kdfsrc) p_srcs; /* sources with jobs queued or running */
	size_t p_queued;
	uint64_t p_turns;
	int p_stop;
	pthread_t p_threads[KDFPOOL_MAX_THREADS];
	int p_nthreads;
	int p_pipe[2];
	struct event *p_ev;
	size_t p_pending; /* queued or running; the loop's count */
	size_t p_max;
};

/* Free a job, forgetting the password. */
static void
kdfjob_free(struct kdfjob *j)
{
	OPENSSL_cleanse(j->j_pw, j->j_pwlen);
	free(j->j_pw);
	free(j->j_hash);
	free(j);
}

/* Forget a source once it has no job queued or running. */
static void
kdfsrc_put(struct kdfpool *p, struct kdfsrc *s)
{
	if (s->s_running > 0 || !TAILQ_EMPTY(&s->s_jobs))
		return;
	TAILQ_REMOVE(&p->p_srcs, s, s_entry);
	free(s);
}

/*
 * Take the next job: from the source with the fewest checks running, then
 * the longest without a turn; NULL when stopping.
 */
static struct kdfjob *
kdfpool_next(struct kdfpool *p)
{
	struct kdfsrc *s, *best = NULL;
	struct kdfjob *j;

	while (!p->p_stop && p->p_queued == 0)
		pthread_cond_wait(&p->p_cond, &p->p_lock);
	if (p->p_stop)
		return NULL;
	TAILQ_FOREACH(s, &p->p_srcs, s_entry)
	if (!TAILQ_EMPTY(&s->s_jobs) &&
	    (best == NULL || s->s_running < best->s_running ||
		(s->s_running == best->s_running && s->s_turn < best->s_turn)))
		best = s;
	j = TAILQ_FIRST(&best->s_jobs);
	TAILQ_REMOVE(&best->s_jobs, j, j_entry);
	p->p_queued--;
	best->s_running++;
	best->s_turn = ++p->p_turns;
	j->j_running = 1;
	return j;
}

/* A worker: check passwords until told to stop. */
static void *
kdfpool_worker(void *arg)
{
	struct kdfpool *p = arg;
	struct kdfjob *j;
	int cancelled;
	ssize_t n;

	pthread_mutex_lock(&p->p_lock);
	while ((j = kdfpool_next(p)) != NULL) {
		cancelled = j->j_cancelled;
		pthread_mutex_unlock(&p->p_lock);
		if (!cancelled)
			j->j_ok =
			    kdf_verify_bytes(j->j_pw, j->j_pwlen, j->j_hash);
		pthread_mutex_lock(&p->p_lock);
		j->j_src->s_running--;
		kdfsrc_put(p, j->j_src);
		j->j_src = NULL;
		pthread_mutex_unlock(&p->p_lock);
		do
			n = write(p->p_pipe[1], &j, sizeof j);
		while (n < 0 && errno == EINTR);
		pthread_mutex_lock(&p->p_lock);
	}
	pthread_mutex_unlock(&p->p_lock);
	return NULL;
}

/* Results are back: run the callbacks of jobs still wanted. */
static void
kdfpool_donecb(evutil_socket_t fd, short what, void *arg)
{
	struct kdfpool *p = arg;
	struct kdfjob *jobs[64];
	ssize_t n;
	size_t i;
	int cancelled;

	(void)what;
	while ((n = read(fd, jobs, sizeof jobs)) > 0) {
		for (i = 0; i < (size_t)n / sizeof jobs[0]; i++) {
			pthread_mutex_lock(&p->p_lock);
			cancelled = jobs[i]->j_cancelled;
			pthread_mutex_unlock(&p->p_lock);
			p->p_pending--;
			if (!cancelled)
				jobs[i]->j_cb(jobs[i]->j_ok, jobs[i]->j_arg);
			kdfjob_free(jobs[i]);
		}
	}
}

/* A pool of nthreads workers taking at most maxjobs at once. */
struct kdfpool *
kdfpool_new(struct event_base *base, int nthreads, size_t maxjobs)
{
	struct kdfpool *p = xcalloc(1, sizeof *p);
	int i;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > KDFPOOL_MAX_THREADS)
		nthreads = KDFPOOL_MAX_THREADS;
	p->p_max = maxjobs;
	TAILQ_INIT(&p->p_srcs);
	pthread_mutex_init(&p->p_lock, NULL);
	pthread_cond_init(&p->p_cond, NULL);
	if (pipe2(p->p_pipe, O_CLOEXEC) != 0)
		fatal("kdfpool: pipe");
	fcntl(p->p_pipe[0], F_SETFL, O_NONBLOCK);
	p->p_ev = event_new(base, p->p_pipe[0], EV_READ | EV_PERSIST,
	    kdfpool_donecb, p);
	event_add(p->p_ev, NULL);
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&p->p_threads[i], NULL, kdfpool_worker, p) !=
		    0)
			fatal("kdfpool: cannot start a thread");
		p->p_nthreads++;
	}
	return p;
}

/*
 * Queue a check of password against hash for source; cb runs on the loop
 * with the answer. NULL when maxjobs are already pending.
 */
struct kdfjob *
kdfpool_verify(struct kdfpool *p, const uint8_t source[16], const void *pw,
    size_t len, const char *hash, kdfpool_cb cb, void *arg)
{
	struct kdfjob *j;
	struct kdfsrc *s;

	if (p->p_pending >= p->p_max)
		return NULL;
	j = xcalloc(1, sizeof *j);
	j->j_pool = p;
	j->j_pw = xmalloc(len > 0 ? len : 1);
	memcpy(j->j_pw, pw, len);
	j->j_pwlen = len;
	j->j_hash = xstrdup(hash);
	j->j_cb = cb;
	j->j_arg = arg;
	pthread_mutex_lock(&p->p_lock);
	TAILQ_FOREACH(s, &p->p_srcs, s_entry)
	if (memcmp(s->s_key, source, 16) == 0)
		break;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		memcpy(s->s_key, source, 16);
		TAILQ_INIT(&s->s_jobs);
		TAILQ_INSERT_TAIL(&p->p_srcs, s, s_entry);
	}
	TAILQ_INSERT_TAIL(&s->s_jobs, j, j_entry);
	j->j_src = s;
	p->p_queued++;
	pthread_cond_signal(&p->p_cond);
	pthread_mutex_unlock(&p->p_lock);
	p->p_pending++;
	return j;
}

/* Nobody wants the answer: drop the job, or let it finish unheard. */
void
kdfpool_cancel(struct kdfjob *j)
{
	struct kdfpool *p = j->j_pool;
	struct kdfsrc *s;

	pthread_mutex_lock(&p->p_lock);
	if (j->j_running) {
		/* Running or done: freed when it comes back. */
		j->j_cancelled = 1;
		pthread_mutex_unlock(&p->p_lock);
		return;
	}
	s = j->j_src;
	TAILQ_REMOVE(&s->s_jobs, j, j_entry);
	p->p_queued--;
	kdfsrc_put(p, s);
	pthread_mutex_unlock(&p->p_lock);
	p->p_pending--;
	kdfjob_free(j);
}

/* Checks queued or running. */
size_t
kdfpool_pending(const struct kdfpool *p)
{
	return p->p_pending;
}

/* Stop the workers and free everything; callbacks do not run. */
void
kdfpool_free(struct kdfpool *p)
{
	struct kdfsrc *s;
	struct kdfjob *j, *jobs[64];
	ssize_t n;
	size_t i;
	int k;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->p_lock);
	p->p_stop = 1;
	pthread_cond_broadcast(&p->p_cond);
	pthread_mutex_unlock(&p->p_lock);
	for (k = 0; k < p->p_nthreads; k++)
		pthread_join(p->p_threads[k], NULL);
	while ((s = TAILQ_FIRST(&p->p_srcs)) != NULL) {
		while ((j = TAILQ_FIRST(&s->s_jobs)) != NULL) {
			TAILQ_REMOVE(&s->s_jobs, j, j_entry);
			kdfjob_free(j);
		}
		TAILQ_REMOVE(&p->p_srcs, s, s_entry);
		free(s);
	}
	while ((n = read(p->p_pipe[0], jobs, sizeof jobs)) > 0)
		for (i = 0; i < (size_t)n / sizeof jobs[0]; i++)
			kdfjob_free(jobs[i]);
	event_free(p->p_ev);
	close(p->p_pipe[0]);
	close(p->p_pipe[1]);
	pthread_mutex_destroy(&p->p_lock);
	pthread_cond_destroy(&p->p_cond);
	free(p);
}
