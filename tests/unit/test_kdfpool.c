/* The password-check pool: answers, bounds, cancels and the order of turns. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "kdf.h"
#include "kdfpool.h"
#include "unit.h"

static char order[16];
static int answers[16], ndone;

/* A check came back: note which one and its answer. */
static void
test_donecb(int ok, void *arg)
{
	const char *name = arg;

	order[ndone] = name[0];
	answers[ndone++] = ok;
}

static struct event_base *base;

/* Run the loop until n checks are back, at most 20 s. */
static void
test_wait(int n)
{
	time_t end = time(NULL) + 20;

	while (ndone < n && time(NULL) < end)
		event_base_loop(base, EVLOOP_ONCE);
}

/*
 * A source with a check running and more queued (a flood) does not go
 * before a source that arrives later with none running: the newcomer
 * waits only for the check already running.
 */
static void
test_turns(const char *hash)
{
	struct kdfpool *p = kdfpool_new(base, 1, 16);
	uint8_t a[16] = { 1 }, b[16] = { 2 };
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	ndone = 0;
	CHECK(
	    kdfpool_verify(p, a, "wrong", 5, hash, test_donecb, "A1") != NULL);
	CHECK(
	    kdfpool_verify(p, a, "wrong", 5, hash, test_donecb, "A2") != NULL);
	nanosleep(&ts, NULL); /* A1 is running now: scrypt takes longer */
	CHECK(
	    kdfpool_verify(p, b, "secret", 6, hash, test_donecb, "B1") != NULL);
	CHECK(kdfpool_pending(p) == 3);
	test_wait(3);
	CHECK(ndone == 3);
	order[ndone] = '\0';
	CHECK_STR_EQ(order, "ABA");
	CHECK(answers[0] == 0 && answers[1] == 1 && answers[2] == 0);
	CHECK(kdfpool_pending(p) == 0);
	kdfpool_free(p);
}

/* The queue is bounded; a cancelled check never calls back. */
static void
test_bounds(const char *hash)
{
	struct kdfpool *p = kdfpool_new(base, 1, 2);
	uint8_t a[16] = { 1 }, b[16] = { 2 };
	struct kdfjob *j;

	ndone = 0;
	CHECK(
	    kdfpool_verify(p, a, "secret", 6, hash, test_donecb, "A") != NULL);
	j = kdfpool_verify(p, b, "secret", 6, hash, test_donecb, "B");
	CHECK(j != NULL);
	CHECK(
	    kdfpool_verify(p, b, "secret", 6, hash, test_donecb, "C") == NULL);
	kdfpool_cancel(j); /* queued or running: either way, never heard */
	test_wait(1);
	CHECK(ndone == 1 && order[0] == 'A' && answers[0] == 1);
	/* The cancelled one may still be running; free waits for it. */
	kdfpool_free(p);
	CHECK(ndone == 1);
}

int
main(void)
{
	char *hash = kdf_hash("secret");

	base = event_base_new();
	CHECK(hash != NULL);
	test_turns(hash);
	test_bounds(hash);
	event_base_free(base);
	free(hash);
	printf("kdfpool: %d passed, %d failed\n", unit_pass, unit_fail);
	return unit_fail != 0;
}
