/*
 * Password checks off the event loop: worker threads run scrypt, a pipe
 * brings each result back to the loop. The queue is bounded and served
 * round-robin by source, so one source cannot push others out.
 */
#ifndef DP_KDFPOOL_H
#define DP_KDFPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct kdfpool;
struct kdfjob;

/* ok: the password matches the hash. Runs on the loop, never after cancel. */
typedef void (*kdfpool_cb)(int ok, void *arg);

struct kdfpool *kdfpool_new(struct event_base *, int nthreads, size_t maxjobs);
struct kdfjob *kdfpool_verify(struct kdfpool *, const uint8_t source[16],
    const void *password, size_t len, const char *hash, kdfpool_cb, void *);
void kdfpool_cancel(struct kdfjob *);
size_t kdfpool_pending(const struct kdfpool *);
void kdfpool_free(struct kdfpool *);

#endif
