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
	    v4(&d, "192.0.2.3", 50000), "alice", 7);
	/* Another client may not use the opening. */
	CHECK(!expect_take(&t, v4(&o, "198.51.100.9", 1),
	    v4(&d, "192.0.2.3", 50000), "alice", 7));
	/* Nor another port or host. */
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50001), "alice", 7));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.4", 50000), "alice", 7));
	/* The client may, once (its source port does not matter). */
	CHECK(expect_take(&t, v4(&c, "198.51.100.3", 12345),
	    v4(&d, "192.0.2.3", 50000), "alice", 7));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 12345),
	    v4(&d, "192.0.2.3", 50000), "alice", 7));
	CHECK(t.et_count == 0);

	/* Only for that user, on that session. */
	expect_add(&t, v4(&c, "198.51.100.3", 1), v4(&d, "192.0.2.3", 50010),
	    "alice", 7);
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50010), "bob", 7));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50010), "", 7));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50010), "alice", 8));
	CHECK(expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50010), "alice", 7));

	/* A shorter time after a reload applies to openings made before. */
	expect_add(&t, v4(&c, "198.51.100.3", 1), v4(&d, "192.0.2.3", 50011),
	    "alice", 7);
	expect_add(&t, v4(&c, "198.51.100.3", 1), v4(&d, "192.0.2.3", 50012),
	    "alice", 7);
	t.et_ttl_ms = 100;
	expect_add(&t, v4(&c, "198.51.100.3", 1), v4(&d, "192.0.2.3", 50013),
	    "alice", 7);
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50011), "alice", 7));
	usleep(200000);
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50013), "alice", 7));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50012), "alice", 7));
	expect_clear(&t);
	t.et_ttl_ms = 60000;

	/* IPv4-mapped clients are the same client. */
	expect_add(&t, v4(&c, "198.51.100.3", 1), v4(&d, "192.0.2.3", 50002),
	    "alice", 7);
	CHECK(expect_take(&t, v6(&m, "::ffff:198.51.100.3", 7),
	    v4(&d, "192.0.2.3", 50002), "alice", 7));

	/* Openings expire. */
	expect_clear(&t);
	expect_init(&t, 100);
	expect_add(&t, v4(&c, "198.51.100.3", 1), v4(&d, "192.0.2.3", 50003),
	    "alice", 7);
	usleep(200000);
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 50003), "alice", 7));
	CHECK(t.et_count == 0);

	/* The table is bounded (16 from each control channel here). */
	expect_clear(&t);
	expect_init(&t, 60000);
	for (int i = 0; i < 5000; i++)
		expect_add_from(&t, v4(&c, "198.51.100.3", 1),
		    v4(&d, "192.0.2.3", 1024 + i), "alice", 7,
		    (uint32_t)i / 16);
	CHECK(t.et_count == 4096);
	CHECK(expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024 + 4999), "alice", 7));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024), "alice", 7));
	expect_clear(&t);

	/*
	 * One control channel's flood replaces its own openings only: bob's
	 * one, announced first, is still there after alice's 5000.
	 */
	expect_add_from(&t, v4(&c, "198.51.100.4", 1),
	    v4(&d, "192.0.2.4", 2000), "bob", 8, 3);
	for (int i = 0; i < 5000; i++)
		expect_add_from(&t, v4(&c, "198.51.100.3", 1),
		    v4(&d, "192.0.2.3", 1024 + i), "alice", 7, 5);
	CHECK(t.et_count == 17);
	CHECK(expect_take(&t, v4(&c, "198.51.100.4", 1),
	    v4(&d, "192.0.2.4", 2000), "bob", 8));
	CHECK(expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024 + 4999), "alice", 7));
	CHECK(expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024 + 4984), "alice", 7));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024 + 4983), "alice", 7));
	expect_clear(&t);

	/*
	 * Over many control channels (16 each, 320 channels), one client's
	 * flood fills the table: it replaces that client's own openings,
	 * never bob's, on the same session or on another.
	 */
	expect_init(&t, 60000);
	expect_add_from(&t, v4(&c, "198.51.100.4", 1),
	    v4(&d, "192.0.2.4", 2000), "bob", 7, 3);
	expect_add_from(&t, v4(&c, "198.51.100.5", 1),
	    v4(&d, "192.0.2.5", 2001), "carol", 9, 1);
	for (int i = 0; i < 5120; i++)
		expect_add_from(&t, v4(&c, "198.51.100.3", 1),
		    v4(&d, "192.0.2.3", 1024 + i % 60000), "alice", 7,
		    10 + (uint32_t)i / 16);
	CHECK(t.et_count == 4096);
	CHECK(expect_take(&t, v4(&c, "198.51.100.4", 1),
	    v4(&d, "192.0.2.4", 2000), "bob", 7));
	CHECK(expect_take(&t, v4(&c, "198.51.100.5", 1),
	    v4(&d, "192.0.2.5", 2001), "carol", 9));
	CHECK(expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024 + 5119), "alice", 7));
	CHECK(!expect_take(&t, v4(&c, "198.51.100.3", 1),
	    v4(&d, "192.0.2.3", 1024 + 0), "alice", 7));
	/* IPv6 clients count by /64: one /64's flood replaces its own. */
	expect_clear(&t);
	{
		struct sockaddr_in6 c6 = { .sin6_family = AF_INET6 };
		char a6[64];

		expect_add_from(&t, v4(&c, "198.51.100.4", 1),
		    v4(&d, "192.0.2.4", 2000), "bob", 7, 3);
		for (int i = 0; i < 5000; i++) {
			snprintf(a6, sizeof a6, "2001:db8:1:2::%x", i + 1);
			inet_pton(AF_INET6, a6, &c6.sin6_addr);
			expect_add_from(&t, (struct sockaddr *)&c6,
			    v4(&d, "192.0.2.3", 1024 + i), "", 7,
			    10 + (uint32_t)i);
		}
		CHECK(t.et_count == 4096);
		CHECK(expect_take(&t, v4(&c, "198.51.100.4", 1),
		    v4(&d, "192.0.2.4", 2000), "bob", 7));
	}
	expect_clear(&t);
	return unit_done("expect");
}
