/* Metrics: the bound on series, and gauges that come back down. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"
#include "unit.h"

/* The rendered text, NUL-terminated (static). */
static const char *
render(void)
{
	static char text[1 << 20];
	struct evbuffer *b = evbuffer_new();
	size_t n;

	metrics_render(b);
	n = evbuffer_get_length(b);
	if (n >= sizeof text)
		n = sizeof text - 1;
	evbuffer_remove(b, text, n);
	text[n] = '\0';
	evbuffer_free(b);
	return text;
}

/*
 * A per-user gauge whose family is full counts a new user under _other;
 * when that user's channel closes after another user has left (so that
 * there is room again), the decrease goes to _other, which comes back to
 * nothing; before, it made a series of its own at -1 that went away, and
 * _other stayed at 1 for good.
 */
static void
test_other_comes_back(void)
{
	char user[32];
	int i;

	for (i = 0; i < METRICS_MAX_SERIES - 1; i++) {
		snprintf(user, sizeof user, "u%d", i);
		metrics_add(M_CHANNELS, user, 1);
	}
	metrics_add(M_CHANNELS, "late", 1);
	CHECK(strstr(render(), "dynpass_channels{user=\"_other\"} 1") != NULL);
	metrics_add(M_CHANNELS, "u0", -1); /* room again, */
	metrics_add(M_CHANNELS, "u1", -1); /* for a new series too */
	metrics_add(M_CHANNELS, "late", -1);
	CHECK(strstr(render(), "user=\"_other\"") == NULL);
	CHECK(strstr(render(), "user=\"late\"") == NULL);
	CHECK(strstr(render(), "} -") == NULL);
	/* A decrease for a series never counted goes nowhere. */
	metrics_add(M_CHANNELS, "never", -1);
	CHECK(strstr(render(), "user=\"never\"") == NULL);
	for (i = 2; i < METRICS_MAX_SERIES - 1; i++) {
		snprintf(user, sizeof user, "u%d", i);
		metrics_add(M_CHANNELS, user, -1);
	}
	CHECK(strstr(render(), "dynpass_channels{") == NULL);
}

int
main(void)
{
	metrics_init("test_metrics");
	test_other_comes_back();
	metrics_free();
	return unit_done("metrics");
}
