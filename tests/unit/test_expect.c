/* Expected connections: one use, by the announcing client only, in time. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "expect.h"
#include "log.h"
#include "unit.h"

/* Fill an IPv4 sockaddr. */
static struct sockaddr *
v4(struct sockaddr_in *sin, const char *a, int port)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, a, &sin->sin_addr);
	sin->sin_port = htons(port);
	return (struct sockaddr *)sin;
}

/* Fill an IPv6 sockaddr. */
static struct sockaddr *
v6(struct sockaddr_in6 *sin6, const char *a, int port)
{
	memset(sin6, 0, sizeof *sin6);
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, a, &sin6->sin6_addr);
	sin6->sin6_port = htons(port);
	return (struct sockaddr *)sin6;
}

int
main(void)
{
	struct expect_table t;
	struct sockaddr_in c, o, d;
	struct sockaddr_in6 m;

	log_init("test_expect", 0, 0);
	expect_init(&t, 60000);
	expect_add(&t, v4(&c, "198.51.100.3", 40000),
	    v4(&d, "192.0.2.3", 50000));
	/* Another client may not use the opening. */
	CHECK(!expect_take(&t, v4(&o, "198.51.100.9", 1),
	    v4(&d, "192.0.2.3", 50000)));
	/* Nor another port or host. */
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50001)));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.4", 50000)));
	/* The client may, once (its source port does not matter). */
	CHECK(expect_take(&t, v4(&c, "198.51.100.3", 12345),
	    v4(&d, "192.0.2.3", 50000)));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 12345),
	    v4(&d, "192.0.2.3", 50000)));
	CHECK(t.et_count == 0);

	/* IPv4-mapped clients are the same client. */
	expect_add(&t, v4(&c, "198.51.100.3", 1), v4(&d, "192.0.2.3", 50002));
	CHECK(expect_take(&t, v6(&m, "::ffff:198.51.100.3", 7),
	    v4(&d, "192.0.2.3", 50002)));

	/* Openings expire. */
	expect_clear(&t);
	expect_init(&t, 100);
	expect_add(&t, v4(&c, "198.51.100.3", 1), v4(&d, "192.0.2.3", 50003));
	usleep(200000);
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50003)));
	CHECK(t.et_count == 0);

	/* The table is bounded. */
	for (int i = 0; i < 5000; i++)
		expect_add(&t, v4(&c, "198.51.100.3", 1),
		    v4(&d, "192.0.2.3", 1024 + i));
	CHECK(t.et_count == 4096);
	CHECK(expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024 + 4999)));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024)));
	expect_clear(&t);
	return unit_done("expect");
}
