/* Places per source: the limit, the count, and forgetting a source. */
#include <netinet/in.h>
#include <arpa/inet.h>

#include "ratelimit.h"
#include "srccount.h"
#include "unit.h"

/* The key of an IPv4 or IPv6 address. */
static void
key_of(const char *addr, uint8_t key[16])
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1)
		ratelimit_key((struct sockaddr *)&sin, key);
	else if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1)
		ratelimit_key((struct sockaddr *)&sin6, key);
}

/* A source holds at most max places; another source is not held up. */
static void
test_limit(void)
{
	struct srccount *sc = srccount_new();
	uint8_t a[16], b[16], c[16], d[16];
	unsigned held = 99;
	int i;

	key_of("192.0.2.1", a);
	key_of("192.0.2.2", b);
	key_of("2001:db8:1:2::1", c);
	key_of("2001:db8:1:2::ffff", d); /* the same /64 */
	for (i = 0; i < 5; i++)
		CHECK(
		    srccount_take(sc, a, 5, &held) == 0 && held == (unsigned)i);
	CHECK(srccount_take(sc, a, 5, &held) == -1 && held == 5);
	CHECK(srccount_held(sc, a) == 5);
	CHECK(srccount_take(sc, b, 5, NULL) == 0);
	CHECK(srccount_sources(sc) == 2);
	srccount_release(sc, a);
	CHECK(srccount_take(sc, a, 5, NULL) == 0);
	CHECK(srccount_take(sc, a, 5, NULL) == -1);
	/* IPv6 counts by /64. */
	CHECK(srccount_take(sc, c, 2, NULL) == 0);
	CHECK(srccount_take(sc, d, 2, NULL) == 0);
	CHECK(srccount_take(sc, c, 2, NULL) == -1);
	CHECK(srccount_held(sc, d) == 2);
	/* 0: no limit. */
	for (i = 0; i < 1000; i++)
		CHECK(srccount_take(sc, b, 0, NULL) == 0);
	CHECK(srccount_held(sc, b) == 1001);
	srccount_free(sc);
}

/* A source whose last place goes is forgotten; releases never go below 0. */
static void
test_forget(void)
{
	struct srccount *sc = srccount_new();
	uint8_t k[16] = { 0 };
	unsigned i;

	for (i = 0; i < 5000; i++) {
		k[0] = i & 0xff;
		k[1] = i >> 8;
		CHECK(srccount_take(sc, k, 1, NULL) == 0);
	}
	CHECK(srccount_sources(sc) == 5000);
	for (i = 0; i < 5000; i++) {
		k[0] = i & 0xff;
		k[1] = i >> 8;
		srccount_release(sc, k);
	}
	CHECK(srccount_sources(sc) == 0);
	srccount_release(sc, k); /* not held: nothing happens */
	CHECK(srccount_held(sc, k) == 0 && srccount_sources(sc) == 0);
	CHECK(srccount_take(sc, k, 1, NULL) == 0);
	CHECK(srccount_held(sc, k) == 1);
	srccount_free(sc);
}

int
main(void)
{
	test_limit();
	test_forget();
	return unit_done("srccount");
}
