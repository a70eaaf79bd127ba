/*
 * Expected connections: a server on a scanned control channel announced
 * an endpoint the client will connect to (FTP 227/229). One connection
 * from that client, as that user, on that session (owner), to that
 * endpoint is admitted, once, until its time is up, even if the allow
 * list names only the control port.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "expect.h"
#include "log.h"
#include "monotime.h"
#include "ratelimit.h"
#include "srccount.h"
#include "xmalloc.h"

#define EXPECT_MAX        4096 /* at most this many pending at once */
#define EXPECT_PER_PARENT 16   /* ... from one control channel */

struct expect {
	uint8_t ex_client[16]; /* client address, IPv4 as mapped IPv6 */
	uint8_t ex_addr[16];   /* announced endpoint, same form */
	uint16_t ex_port;
	char ex_user[65];    /* "" anonymous */
	uint64_t ex_owner;   /* the session the announcement came on */
	uint32_t ex_parent;  /* the channel it came on */
	uint64_t ex_expires; /* monotonic ms */
	TAILQ_ENTRY(expect) ex_entry;
};

/* An address as 16 bytes, IPv4 as ::ffff:a.b.c.d; -1 if not IP. */
static int
expect_key(const struct sockaddr *sa, uint8_t out[16], uint16_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &sin->sin_addr, 4);
		if (port != NULL)
			*port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &sin6->sin6_addr, 16);
		if (port != NULL)
			*port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -1;
}

/* Start an empty table. */
void
expect_init(struct expect_table *t, int ttl_ms)
{
	TAILQ_INIT(&t->et_list);
	t->et_count = 0;
	t->et_ttl_ms = ttl_ms;
}

/* Drop one entry. */
static void
expect_remove(struct expect_table *t, struct expect *e)
{
	TAILQ_REMOVE(&t->et_list, e, ex_entry);
	t->et_count--;
	free(e);
}

/* Drop expired entries (the list is in order of expiry). */
static void
expect_prune(struct expect_table *t)
{
	struct expect *e;
	uint64_t now = monotime_ms();

	while ((e = TAILQ_FIRST(&t->et_list)) != NULL && e->ex_expires <= now)
		expect_remove(t, e);
}

/*
 * The oldest opening of one control channel, if that channel holds
 * EXPECT_PER_PARENT already: so that one channel's announcements (a
 * hostile server's flood of 227s) replace its own, not other clients'.
 */
static struct expect *
expect_oldest_of(struct expect_table *t, uint64_t owner, uint32_t parent)
{
	struct expect *e, *first = NULL;
	size_t n = 0;

	TAILQ_FOREACH(e, &t->et_list, ex_entry)
	if (e->ex_owner == owner && e->ex_parent == parent) {
		if (first == NULL)
			first = e;
		n++;
	}
	return n >= EXPECT_PER_PARENT ? first : NULL;
}

/*
 * The table is full: the oldest opening of the client holding the most
 * (the one adding counted too), so that a flood of announcements for one
 * client, over however many control channels, replaces its own and
 * never another client's while that one holds more.
 */
static struct expect *
expect_victim(struct expect_table *t, const uint8_t client[16])
{
	struct srccount *sc = srccount_new();
	struct expect *e, *victim = NULL;
	unsigned most = 0, n;
	uint8_t k[16];

	ratelimit_key16(client, k);
	srccount_take(sc, k, 0, NULL);
	TAILQ_FOREACH(e, &t->et_list, ex_entry)
	{
		ratelimit_key16(e->ex_client, k);
		srccount_take(sc, k, 0, NULL);
	}
	TAILQ_FOREACH(e, &t->et_list, ex_entry)
	{
		ratelimit_key16(e->ex_client, k);
		if ((n = srccount_held(sc, k)) > most) {
			most = n;
			victim = e;
		}
	}
	srccount_free(sc);
	return victim;
}

/* Admit one connection from client to endpoint, for the table's ttl. */
void
expect_add(struct expect_table *t, const struct sockaddr *client,
    const struct sockaddr *endpoint, const char *user, uint64_t owner)
{
	expect_add_from(t, client, endpoint, user, owner, 0);
}

/* The same, announced on control channel parent (for the audit). */
void
expect_add_from(struct expect_table *t, const struct sockaddr *client,
    const struct sockaddr *endpoint, const char *user, uint64_t owner,
    uint32_t parent)
{
	struct expect *e = xcalloc(1, sizeof *e), *old;
	char a[ADDR_STRLEN], b[ADDR_STRLEN];

	if (expect_key(client, e->ex_client, NULL) != 0 ||
	    expect_key(endpoint, e->ex_addr, &e->ex_port) != 0) {
		free(e);
		return;
	}
	snprintf(e->ex_user, sizeof e->ex_user, "%s", user ? user : "");
	e->ex_owner = owner;
	e->ex_parent = parent;
	expect_prune(t);
	if ((old = expect_oldest_of(t, owner, parent)) != NULL)
		expect_remove(t, old); /* a channel's many: its oldest goes */
	else if (t->et_count >= EXPECT_MAX &&
	    (old = expect_victim(t, e->ex_client)) != NULL)
		expect_remove(t, old);
	e->ex_expires = monotime_ms() + (uint64_t)t->et_ttl_ms;
	TAILQ_INSERT_TAIL(&t->et_list, e, ex_entry);
	t->et_count++;
	/* The announcement's audit line says as much (within its budget). */
	log_debug("expecting one connection from %s to %s within %d s",
	    addr_str(client, a, sizeof a), addr_str(endpoint, b, sizeof b),
	    t->et_ttl_ms / 1000);
}

/* Is this connection expected? If so, the opening is used up. */
int
expect_take(struct expect_table *t, const struct sockaddr *client,
    const struct sockaddr *dst, const char *user, uint64_t owner)
{
	return expect_take_from(t, client, dst, user, owner, NULL);
}

/* The same; *parent gets the announcing control channel, if any. */
int
expect_take_from(struct expect_table *t, const struct sockaddr *client,
    const struct sockaddr *dst, const char *user, uint64_t owner,
    uint32_t *parent)
{
	struct expect *e;
	uint8_t c[16], d[16];
	uint16_t port;
	uint64_t now = monotime_ms();

	if (expect_key(client, c, NULL) != 0 || expect_key(dst, d, &port) != 0)
		return 0;
	expect_prune(t);
	TAILQ_FOREACH(e, &t->et_list, ex_entry)
	{
		/* The time is checked here too: a reload may shorten it. */
		if (e->ex_port == port && memcmp(e->ex_addr, d, 16) == 0 &&
		    memcmp(e->ex_client, c, 16) == 0 && e->ex_owner == owner &&
		    strcmp(e->ex_user, user ? user : "") == 0 &&
		    e->ex_expires > now &&
		    e->ex_expires - now <= (uint64_t)t->et_ttl_ms) {
			if (parent != NULL)
				*parent = e->ex_parent;
			expect_remove(t, e);
			return 1;
		}
	}
	return 0;
}

/* Free every entry. */
void
expect_clear(struct expect_table *t)
{
	struct expect *e;

	while ((e = TAILQ_FIRST(&t->et_list)) != NULL)
		expect_remove(t, e);
}
