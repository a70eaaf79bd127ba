/*
 * The esp's client door: client agents' sessions (TLS 1.3, [client_tls]).
 * An agent logs its user in end to end with the isps (esp/agentlogin.c)
 * and asks for connections (OPEN), which the esp relays channel to
 * channel into an isp's session (esp/relay.c). The esp holds no secret
 * of the agent's user and cannot act as it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>

#include "esp.h"
#include "log.h"
#include "monotime.h"
#include "tlswire.h"
#include "xmalloc.h"

#define DOOR_STALLS_MAX 3     /* an agent's stalls that end its session */
#define DOOR_STALLS_MS  60000 /* ... within this long */

static int door_handshake(struct session *, SSL *, char *, size_t, void *);
static void door_up(struct session *, void *);
static void door_closed(struct session *, const char *, void *);
static void door_message(struct session *, uint8_t, const uint8_t *, size_t,
    void *);
static void door_drained(struct session *, void *);

static const struct session_cb door_cb = {
	.sc_handshake = door_handshake,
	.sc_up = door_up,
	.sc_closed = door_closed,
	.sc_message = door_message,
	.sc_open = relay_open,
	.sc_drained = door_drained,
};

/* TLS is up: an agent is anyone until its user logs in. */
static int
door_handshake(struct session *s, SSL *ssl, char *why, size_t len, void *arg)
{
	(void)ssl;
	(void)why;
	(void)len;
	(void)arg;
	session_set_identity(s, "agent");
	return 0;
}

/* HELLO done. */
static void
door_up(struct session *s, void *arg)
{
	struct esp_agent *a = arg;

	(void)s;
	a->a_up = 1;
}

/* The session ended: forget the agent; exit if draining and none left. */
static void
door_closed(struct session *s, const char *reason, void *arg)
{
	struct esp_agent *a = arg;
	struct esp *e = a->a_esp;

	(void)s;
	(void)reason;
	agentlogin_forget(a);
	if (a->a_end_ev != NULL)
		event_free(a->a_end_ev);
	TAILQ_REMOVE(&e->e_agents, a, a_entry);
	free(a);
	if (e->e_draining && TAILQ_EMPTY(&e->e_links) &&
	    TAILQ_EMPTY(&e->e_agents))
		event_base_loopexit(e->e_base, NULL);
}

/* LOGIN from the agent. */
static void
door_message(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	(void)s;
	if (type == FRAME_LOGIN)
		agentlogin_step(arg, p, len);
}

/* All channels gone after GOAWAY, either way: the session is done. */
static void
door_drained(struct session *s, void *arg)
{
	(void)arg;
	session_close(s, "drained");
}

/*
 * Is there room for one more agent from this source? If not, why (a
 * line for the log). Counted: every agent, and those from the source's
 * address (its /64 for IPv6, as the login limits count).
 */
static const char *
door_room(struct esp *e, const uint8_t key[16])
{
	static char why[128];
	struct esp_agent *a;
	unsigned n = 0, same = 0, shaking = 0;

	TAILQ_FOREACH(a, &e->e_agents, a_entry)
	{
		n++;
		shaking += !a->a_up;
		same += memcmp(a->a_rlkey, key, sizeof a->a_rlkey) == 0;
	}
	if (shaking >= e->e_max_agent_handshakes)
		snprintf(why, sizeof why,
		    "%u agents in their handshake ([esp] max_agent_handshakes)",
		    shaking);
	else if (n >= e->e_max_agents)
		snprintf(why, sizeof why,
		    "%u agents connected ([esp] max_agents)", n);
	else if (same >= e->e_max_agents_per_source)
		snprintf(why, sizeof why,
		    "%u agents from that address ([esp] "
		    "max_agents_per_source)",
		    same);
	else
		return NULL;
	return why;
}

/* An agent connected to the client door: start TLS. */
void
door_accept(struct esp *e, evutil_socket_t fd, const struct sockaddr *sa)
{
	static struct log_limit busy;
	struct esp_agent *a;
	struct bufferevent *bev;
	struct tlswire *wire;
	char peer[ADDR_STRLEN];
	uint8_t key[16];
	const char *why;
	SSL *ssl;

	addr_str(sa, peer, sizeof peer);
	ratelimit_key(sa, key);
	if ((why = door_room(e, key)) != NULL) {
		log_warnx_limited(&busy, "agent from %s refused: %s", peer,
		    why);
		evutil_closesocket(fd);
		return;
	}
	if ((ssl = SSL_new(e->e_client_ssl)) == NULL) {
		log_warnx("agent from %s: cannot create TLS state", peer);
		evutil_closesocket(fd);
		return;
	}
	bev = tlswire_new(e->e_base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    e->e_params.sp_dead_ms, &wire);
	if (bev == NULL) {
		log_warnx("agent from %s: cannot create bufferevent", peer);
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	a = xcalloc(1, sizeof *a);
	a->a_esp = e;
	a->a_serial = ++e->e_agent_serials;
	memcpy(a->a_rlkey, key, sizeof a->a_rlkey);
	snprintf(a->a_peer, sizeof a->a_peer, "%s", peer);
	memcpy(&a->a_sa, sa,
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
				      : sizeof(struct sockaddr_in));
	addr_to_endpoint(sa, &a->a_client);
	a->a_sess = session_new(e->e_base, bev, FRAME_ROLE_ESP,
	    FRAME_ROLE_AGENT, peer, &e->e_params, &door_cb, a);
	session_set_wire(a->a_sess, wire);
	TAILQ_INSERT_TAIL(&e->e_agents, a, a_entry);
	log_debug("agent from %s: TLS handshake", peer);
	session_start(a->a_sess);
}

/* The agent of a serial, if its session is still there. */
struct esp_agent *
door_find(struct esp *e, uint64_t serial)
{
	struct esp_agent *a;

	TAILQ_FOREACH(a, &e->e_agents, a_entry)
	if (a->a_serial == serial)
		return a;
	return NULL;
}

/*
 * An isp's session is gone: logins waiting there are refused, and an
 * agent logged in there is asked to start a new session and log in
 * again (its channels through other isps finish first).
 */
void
door_link_gone(struct esp *e, struct esp_link *l)
{
	struct esp_agent *a;
	struct agent_leg *leg;

	agentlogin_link_gone(l);
	agentlogin_relogin(l, 0, "is gone",
	    "an isp this agent logged in to is gone; log in again");
	TAILQ_FOREACH(a, &e->e_agents, a_entry)
	if ((leg = agentlogin_leg(a, l)) != NULL)
		leg->ag_link = NULL;
}

/* SIGTERM: GOAWAY to every agent. */
void
door_goaway_all(struct esp *e, const char *why)
{
	struct esp_agent *a, *next;

	for (a = TAILQ_FIRST(&e->e_agents); a != NULL; a = next) {
		next = TAILQ_NEXT(a, a_entry);
		session_goaway(a->a_sess, GOAWAY_NORMAL, why);
	}
}

/* Drain timeout: close every agent's session. */
void
door_close_all(struct esp *e, const char *why)
{
	struct esp_agent *a;

	while ((a = TAILQ_FIRST(&e->e_agents)) != NULL)
		session_close(a->a_sess, why);
}

/* End the agent's session, from its own event (see door_stalled). */
static void
door_endcb(evutil_socket_t fd, short what, void *arg)
{
	struct esp_agent *a = arg;
	char why[160];

	(void)fd;
	(void)what;
	snprintf(why, sizeof why,
	    "its connections held an isp's session up %u times in %d s",
	    a->a_stalls, DOOR_STALLS_MS / 1000);
	session_fail(a->a_sess, GOAWAY_FLOW, why);
}

/*
 * One of the agent's channels did not take what an isp sent it, and the
 * isp's channel was reset for holding that session up (others' channels
 * on it waited meanwhile). The reset bounds one such episode (the
 * channels reset within a second are one); an agent that makes
 * DOOR_STALLS_MAX of them within DOOR_STALLS_MS loses its
 * session, so that it cannot hold the session up again and again. The
 * session ends from an event of its own, not from inside the other
 * session's stall check.
 */
void
door_stalled(struct esp_agent *a)
{
	struct timeval now = { 0, 0 };
	uint64_t ms = monotime_ms();

	if (a->a_stall_t0 == 0 || ms - a->a_stall_t0 > DOOR_STALLS_MS) {
		a->a_stall_t0 = ms;
		a->a_stalls = 0;
	}
	/* Channels reset in one check are one episode. */
	if (a->a_stall_last != 0 && ms - a->a_stall_last < 1000)
		return;
	a->a_stall_last = ms;
	if (++a->a_stalls < DOOR_STALLS_MAX || a->a_end_ev != NULL)
		return;
	log_warnx("agent %s: its connections held an isp's session up %u "
		  "times in %d s: ending its session",
	    a->a_peer, a->a_stalls, DOOR_STALLS_MS / 1000);
	a->a_end_ev = evtimer_new(a->a_esp->e_base, door_endcb, a);
	evtimer_add(a->a_end_ev, &now);
}
