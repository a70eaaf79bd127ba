/*
 * esp: the outside security proxy. It accepts ISP sessions on the one port
 * the firewall allows, and SOCKS5 clients on its front door, and sends
 * each client's request to the ISP that serves the destination.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include <openssl/rand.h>

#include "addr.h"
#include "audit.h"
#include "conf.h"
#include "daemon.h"
#include "escape.h"
#include "esp.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "socks.h"
#include "status.h"
#include "tlswire.h"
#include "xmalloc.h"

static int esp_link_handshake(struct session *, SSL *, char *, size_t, void *);
static void esp_link_up(struct session *, void *);
static void esp_link_closed(struct session *, const char *, void *);
static void esp_link_message(struct session *, uint8_t, const uint8_t *, size_t,
    void *);
static void esp_link_drained(struct session *, void *);
static void esp_link_goaway(struct session *, void *);
static int esp_link_check_serves(struct session *, struct esp_link *,
    const struct allow *);

static const struct session_cb esp_link_cb = {
	.sc_handshake = esp_link_handshake,
	.sc_up = esp_link_up,
	.sc_closed = esp_link_closed,
	.sc_message = esp_link_message,
	.sc_drained = esp_link_drained,
	.sc_goaway = esp_link_goaway,
	.sc_outside_open = outside_open,
};

/*
 * The client door: [esp] client_listen with [client_tls] cert and key,
 * checked like any key file; or nothing, when client_listen is left out.
 */
static int
esp_load_door(struct esp *e, const struct conf *c, char **cause)
{
	if (listen_parse(c, "esp:client_listen", &e->e_client_doors, cause) !=
	    0)
		return -1;
	if (e->e_client_doors.ls_n == 0) {
		if (conf_str(c, "client_tls:cert", NULL) != NULL)
			return conf_error(cause, c, "client_tls:cert",
			    "set, but [esp] client_listen is not");
		return 0;
	}
	conf_path_key(c, "client_tls:cert", &e->e_client_cert, cause);
	conf_path_key(c, "client_tls:key", &e->e_client_key, cause);
	if (e->e_client_cert == NULL || e->e_client_key == NULL)
		return conf_error(cause, c,
		    e->e_client_cert == NULL ? "client_tls:cert"
					     : "client_tls:key",
		    "missing: [esp] client_listen needs the certificate and "
		    "key the esp shows agents");
	if (tls_check_secret_file(c, "client_tls:key", e->e_client_key,
		cause) != 0)
		return -1;
	e->e_client_ssl =
	    tls_door_ctx_new(e->e_client_cert, e->e_client_key, cause);
	return e->e_client_ssl == NULL ? -1 : 0;
}

/* Read and check esp.conf. */
static int
esp_load(struct esp *e, const char *path, const struct daemon_opts *o,
    char **cause)
{
	struct conf *c;
	int rc = -1, ms;

	if ((c = conf_load(path, cause)) == NULL)
		return -1;
	if (conf_check_keys(c, esp_known_keys, cause) != 0 ||
	    daemon_log_conf(c, o, cause) != 0)
		goto out;
	if (listen_parse(c, "esp:session_listen", &e->e_sess_doors, cause) !=
		0 ||
	    listen_parse(c, "esp:socks_listen", &e->e_socks_doors, cause) !=
		0 ||
	    esp_load_door(e, c, cause) != 0)
		goto out;
	if (e->e_sess_doors.ls_n == 0) {
		conf_error(cause, c, "esp:session_listen",
		    "missing (e.g. 0.0.0.0:4430)");
		goto out;
	}
	if (listen_clash(c, "esp:socks_listen", &e->e_sess_doors,
		&e->e_socks_doors, cause) != 0 ||
	    listen_clash(c, "esp:client_listen", &e->e_sess_doors,
		&e->e_client_doors, cause) != 0 ||
	    listen_clash(c, "esp:client_listen", &e->e_socks_doors,
		&e->e_client_doors, cause) != 0)
		goto out;
	if (metrics_http_conf(c, &e->e_metrics_doors, &e->e_metrics_warning,
		cause) != 0 ||
	    listen_clash(c, "metrics:listen", &e->e_sess_doors,
		&e->e_metrics_doors, cause) != 0 ||
	    listen_clash(c, "metrics:listen", &e->e_socks_doors,
		&e->e_metrics_doors, cause) != 0 ||
	    listen_clash(c, "metrics:listen", &e->e_client_doors,
		&e->e_metrics_doors, cause) != 0)
		goto out;
	if (e->e_socks_doors.ls_n == 0 && e->e_client_doors.ls_n == 0) {
		conf_error(cause, c, "esp:socks_listen",
		    "missing, and so is client_listen: the esp needs a door "
		    "for clients (e.g. socks_listen = 127.0.0.1:1080)");
		goto out;
	}
	if (conf_duration(c, "esp:socks_timeout", 10000, &e->e_socks_timeout_ms,
		cause) != 0 ||
	    conf_duration(c, "esp:drain_timeout", 30000, &e->e_drain_ms,
		cause) != 0 ||
	    conf_duration(c, "esp:open_timeout", 30000, &ms, cause) != 0 ||
	    conf_duration(c, "esp:connect_timeout", 10000,
		&e->e_connect_timeout_ms, cause) != 0 ||
	    conf_count(c, "esp:max_handshakes", 1024, 1, 1000000,
		&e->e_max_clients, cause) != 0 ||
	    conf_duration(c, "esp:probe_timeout", 3000, &e->e_probe_ms,
		cause) != 0 ||
	    conf_count(c, "esp:max_sessions_per_isp", 4, 1, FRAME_LANES_MAX,
		&e->e_max_lanes, cause) != 0 ||
	    conf_bool(c, "esp:outside_own_addresses", 0, &e->e_outside_own,
		cause) != 0 ||
	    conf_count(c, "esp:max_session_handshakes", 64, 1, 100000,
		&e->e_max_sess_handshakes, cause) != 0 ||
	    conf_count(c, "esp:max_agent_handshakes", 256, 1, 100000,
		&e->e_max_agent_handshakes, cause) != 0 ||
	    conf_count(c, "esp:max_agents", 1024, 1, 1000000, &e->e_max_agents,
		cause) != 0 ||
	    conf_count(c, "esp:max_agents_per_source", 64, 1, 1000000,
		&e->e_max_agents_per_source, cause) != 0 ||
	    conf_count(c, "esp:max_channels_per_agent", 1024, 1, 1000000,
		&e->e_max_agent_channels, cause) != 0 ||
	    conf_count(c, "esp:max_connections_per_source", 1024, 1, 1000000,
		&e->e_max_conns_per_source, cause) != 0 ||
	    conf_duration(c, "esp:agent_login_timeout", 30000,
		&e->e_agent_login_ms, cause) != 0 ||
	    conf_count(c, "esp:login_inflight_per_source", 2, 1, 10000,
		&e->e_login_limits.rc_src_inflight, cause) != 0 ||
	    conf_count(c, "esp:login_rate_per_source", 30, 1, 1000000,
		&e->e_login_limits.rc_src_per_min, cause) != 0 ||
	    conf_count(c, "esp:login_inflight", 64, 1, 100000,
		&e->e_login_limits.rc_inflight, cause) != 0 ||
	    conf_count(c, "esp:login_rate", 600, 1, 10000000,
		&e->e_login_limits.rc_per_min, cause) != 0)
		goto out;
	e->e_open_timeout.tv_sec = ms / 1000;
	e->e_open_timeout.tv_usec = (ms % 1000) * 1000;
	if (session_conf_load(c, &e->e_params, cause) != 0 ||
	    tls_conf_load(c, &e->e_tls, TLS_ROLE_ESP, cause) != 0 ||
	    privdrop_conf_load(c, &e->e_priv, cause) != 0)
		goto out;
	rc = 0;
	if (o->do_dump)
		e->e_dump = conf_dump_text(c);
out:
	conf_free(c);
	return rc;
}

/*
 * May this link serve that user (its isp accepted the login, a password
 * or the agent's) or anonymous?
 */
static const struct allow *
esp_link_allow(struct esp_link *l, const char *user, const void *password,
    size_t passlen, const struct esp_agent *a)
{
	const struct agent_leg *leg;

	if (!l->el_have_policy) /* no policy yet: nothing is allowed */
		return NULL;
	if (*user != '\0' && a != NULL &&
	    ((leg = agentlogin_leg(a, l)) == NULL || leg->ag_state != LEG_OK))
		return NULL;
	if (*user != '\0' && a == NULL &&
	    !login_link_ok(l, user, password, passlen))
		return NULL;
	return policy_allow(&l->el_policy, user);
}

/*
 * Of l's isp's sessions that ok() admits, the one with the fewest
 * channels; the earliest in the list on a tie, so that every session of
 * one isp picks the same one. l itself, which the caller has found ok,
 * is not asked again.
 */
struct esp_link *
esp_lane_pick(struct esp *e, struct esp_link *l, esp_lane_ok ok, void *arg)
{
	struct esp_link *o, *best = NULL;

	TAILQ_FOREACH(o, &e->e_links, el_entry)
	{
		if (strcmp(o->el_id, l->el_id) != 0 || (o != l && !ok(o, arg)))
			continue;
		if (best == NULL ||
		    session_channels(o->el_sess) <
			session_channels(best->el_sess))
			best = o;
	}
	return best;
}

/* A request that esp_route has placed, for esp_route_fits. */
struct esp_route_want {
	const char *user;
	const void *password;
	size_t passlen;
	const struct esp_agent *agent;
	const struct sockaddr *ss; /* a numeric destination, or */
	const char *name;          /* a name */
	uint16_t port;
};

/*
 * Would this session route the request as the one esp_route found does?
 * (an esp_lane_ok, so that channels spread over an isp's sessions.) A
 * login stays with the session that checked it, as only that one has it
 * cached.
 */
static int
esp_route_fits(struct esp_link *o, void *arg)
{
	const struct esp_route_want *w = arg;
	const struct allow *al;

	if (o->el_pending || !session_is_up(o->el_sess))
		return 0;
	al = esp_link_allow(o, w->user, w->password, w->passlen, w->agent);
	if (al == NULL)
		return 0;
	return w->ss != NULL
	    ? allow_match(al, w->ss)
	    : allow_match_name(&o->el_serves, w->name, w->port);
}

/*
 * Pick the session for a destination: the newest live one whose policy
 * lets this user reach it, or that expects this client there after a
 * server announcement. Names go to an isp that lists the name, else to
 * the newest. An isp with several sessions gets the request on the one
 * with the fewest channels, except for an announced opening, which goes
 * where it was announced. NULL with *code set when there is none.
 */
struct esp_link *
esp_route(struct esp *e, const struct endpoint *dst,
    const struct endpoint *client, const char *user, const void *password,
    size_t passlen, const struct esp_agent *a, uint8_t *code)
{
	struct esp_link *l, *fallback = NULL;
	const struct allow *al;
	struct sockaddr_storage ss, cs;
	socklen_t sl;
	int numeric = addr_from_endpoint(dst, &ss, &sl) == 0;
	int have_client = addr_from_endpoint(client, &cs, &sl) == 0;
	char name[256];
	struct esp_route_want w = { user, password, passlen, a, NULL, NULL, 0 };

	*code = OPEN_NET_UNREACH;
	e->e_parent = 0;
	snprintf(name, sizeof name, "%.*s", dst->ep_len,
	    (const char *)dst->ep_addr);
	TAILQ_FOREACH_REVERSE(l, &e->e_links, esp_links, el_entry)
	{
		if (l->el_pending || !session_is_up(l->el_sess))
			continue;
		if ((al = esp_link_allow(l, user, password, passlen, a)) ==
		    NULL) {
			*code = OPEN_NOT_ALLOWED;
			continue;
		}
		if (!numeric) {
			if (allow_match_name(&l->el_serves, name,
				dst->ep_port)) {
				w.name = name;
				w.port = dst->ep_port;
				return esp_lane_pick(e, l, esp_route_fits, &w);
			}
			if (fallback == NULL)
				fallback = l;
			continue;
		}
		if (allow_match(al, (struct sockaddr *)&ss)) {
			w.ss = (struct sockaddr *)&ss;
			return esp_lane_pick(e, l, esp_route_fits, &w);
		}
		if (!(have_client &&
			expect_take_from(&l->el_expect, (struct sockaddr *)&cs,
			    (struct sockaddr *)&ss, user,
			    a != NULL ? a->a_serial : 0, &e->e_parent))) {
			*code = OPEN_NOT_ALLOWED;
			continue;
		}
		return l;
	}
	return fallback;
}

/* May this link be told of refusals? (an esp_lane_ok) */
static int
esp_link_noticeable(struct esp_link *l, void *arg)
{
	(void)arg;
	return l->el_up && !l->el_pending && session_is_up(l->el_sess);
}

/*
 * A refusal at the esp goes to every isp too, for the inside's audit: at
 * most ESP_NOTICES a second (half what an isp takes, so that a second's
 * worth that arrives late still fits), so that a client who
 * floods refused requests cannot fill the sessions' queues. The esp's
 * own audit has every one.
 */
#define ESP_NOTICES 25
static void
esp_notice(const char *user, const struct endpoint *client,
    const struct endpoint *dst, const char *why, void *arg)
{
	static struct log_limit over;
	struct esp *e = arg;
	struct frame_notice n;
	struct esp_link *l;
	uint8_t buf[700];
	time_t now = time(NULL);
	size_t len;

	if (now != e->e_notice_sec) {
		e->e_notice_sec = now;
		e->e_notices = 0;
	}
	if (++e->e_notices > ESP_NOTICES) {
		log_warnx_limited(&over,
		    "more than %d refusals a second: the isps are told of %d "
		    "a second; this esp's audit and metrics have the rest",
		    ESP_NOTICES, ESP_NOTICES);
		return;
	}
	memset(&n, 0, sizeof n);
	n.fn_client = *client;
	n.fn_dst = *dst;
	snprintf(n.fn_user, sizeof n.fn_user, "%s", user != NULL ? user : "");
	snprintf(n.fn_why, sizeof n.fn_why, "%s", why);
	if ((len = frame_notice_encode(buf, sizeof buf, &n)) == 0) {
		/* A name the protocol cannot carry (a NUL): say only the port. */
		memset(n.fn_dst.ep_addr, 0, sizeof n.fn_dst.ep_addr);
		n.fn_dst.ep_atyp = 0;
		n.fn_dst.ep_len = 0;
		if ((len = frame_notice_encode(buf, sizeof buf, &n)) == 0)
			return;
	}
	/* To one session of each isp. */
	TAILQ_FOREACH(l, &e->e_links, el_entry)
	if (esp_link_noticeable(l, NULL) &&
	    esp_lane_pick(e, l, esp_link_noticeable, NULL) == l)
		session_send_message(l->el_sess, FRAME_NOTICE, buf, len);
}

/* Which SOCKS methods to offer: logins, and no-auth. */
void
esp_auth_modes(struct esp *e, int *users, int *anonymous)
{
	struct esp_link *l;

	*users = *anonymous = 0;
	TAILQ_FOREACH(l, &e->e_links, el_entry)
	{
		if (!l->el_have_policy) {
			*anonymous = 1;
			continue;
		}
		*users |= l->el_policy.p_nusers > 0;
		*anonymous |= l->el_policy.p_anonymous;
	}
	if (TAILQ_EMPTY(&e->e_links))
		*anonymous = 1; /* the request then gets "no session" */
}

/* TLS is up: the isp's id is what its key or certificate proves. */
static int
esp_link_handshake(struct session *s, SSL *ssl, char *why, size_t len,
    void *arg)
{
	struct esp_link *l = arg;

	if (tls_peer_check(ssl, &l->el_esp->e_tls, l->el_id, sizeof l->el_id,
		why, len) != 0)
		return -1;
	session_set_identity(s, l->el_id);
	return 0;
}

/* Stop probing the older session for this (pending) link. */
static void
esp_link_unprobe(struct esp_link *l)
{
	if (l->el_probe_ev != NULL)
		event_free(l->el_probe_ev);
	if (l->el_probed != NULL)
		session_probe_cancel(l->el_probed->el_sess);
	l->el_probe_ev = NULL;
	l->el_probed = NULL;
}

/* The older session answered: it is alive, so the newer one is refused. */
static void
esp_link_probe_alive(struct session *old, int rtt_ms, void *arg)
{
	struct esp_link *l = arg;
	char why[300];

	esp_link_unprobe(l);
	snprintf(why, sizeof why,
	    "isp \"%s\" already has a live session (from %s, answered in %d "
	    "ms); refusing this one",
	    l->el_id, session_peer(old), rtt_ms);
	log_warnx("session with %s: %s", session_peer(l->el_sess), why);
	session_fail(l->el_sess, GOAWAY_REFUSED, why);
}

/* The newer session takes over: the older one is gone. */
static void
esp_link_promote(struct esp_link *l)
{
	esp_link_unprobe(l);
	l->el_pending = 0;
	log_warnx("session with %s: now serves isp \"%s\"",
	    session_peer(l->el_sess), l->el_id);
	if (l->el_have_serves)
		esp_link_check_serves(l->el_sess, l, &l->el_serves);
}

/* The older session did not answer in time: it is dead, replace it. */
static void
esp_link_probe_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct esp_link *l = arg, *old = l->el_probed;

	(void)fd;
	(void)what;
	log_warnx("session with %s: isp \"%s\" did not answer within %d ms; "
		  "replaced by the session from %s",
	    session_peer(old->el_sess), l->el_id, l->el_esp->e_probe_ms,
	    session_peer(l->el_sess));
	session_close(old->el_sess, "replaced: no answer to a probe");
}

/*
 * HELLO done. An id has one session per lane ([isp] sessions, up to
 * [esp] max_sessions_per_isp): when another live one has this id and
 * lane, it is probed; if it answers, this newer one is refused, else it
 * is replaced. Both cases log a warning, and the isp of a refused session
 * backs off, so two isps at one id cannot take turns.
 */
static void
esp_link_up(struct session *s, void *arg)
{
	struct esp_link *l = arg, *o;
	struct timeval tv;
	char why[300];

	l->el_up = 1;
	l->el_lane = session_peer_lane(s);
	if ((unsigned)l->el_lane >= l->el_esp->e_max_lanes) {
		snprintf(why, sizeof why,
		    "isp \"%s\" opened session %d; this esp takes %u per isp "
		    "([esp] max_sessions_per_isp)",
		    l->el_id, l->el_lane + 1, l->el_esp->e_max_lanes);
		log_warnx("session with %s: %s", session_peer(s), why);
		session_fail(s, GOAWAY_REFUSED, why);
		return;
	}
	TAILQ_FOREACH(o, &l->el_esp->e_links, el_entry)
	{
		if (o == l || strcmp(o->el_id, l->el_id) != 0 || !o->el_up ||
		    o->el_lane != l->el_lane)
			continue;
		if (o->el_pending) {
			snprintf(why, sizeof why,
			    "isp \"%s\" already has a session being checked; "
			    "refusing this one",
			    l->el_id);
			log_warnx("session with %s: %s", session_peer(s), why);
			session_fail(s, GOAWAY_REFUSED, why);
			return;
		}
		if (!session_is_up(o->el_sess))
			continue; /* draining: it serves no new channels */
		log_warnx("session with %s: isp \"%s\" already has a session "
			  "from %s; checking that it is alive",
		    session_peer(s), l->el_id, session_peer(o->el_sess));
		l->el_pending = 1;
		l->el_probed = o;
		l->el_probe_ev =
		    evtimer_new(l->el_esp->e_base, esp_link_probe_timeoutcb, l);
		tv.tv_sec = l->el_esp->e_probe_ms / 1000;
		tv.tv_usec = (l->el_esp->e_probe_ms % 1000) * 1000;
		evtimer_add(l->el_probe_ev, &tv);
		session_probe(o->el_sess, esp_link_probe_alive, l);
		return;
	}
}

/*
 * The isp drains this session (a reload): it takes no new channels, so
 * agents logged in through it log in again, through its other sessions.
 */
static void
esp_link_goaway(struct session *s, void *arg)
{
	(void)s;
	agentlogin_link_draining(arg);
}

/* A session ended: forget it; exit if draining and none are left. */
static void
esp_link_closed(struct session *s, const char *reason, void *arg)
{
	struct esp_link *l = arg, *o, *next;
	struct esp *e = l->el_esp;

	(void)s;
	(void)reason;
	esp_link_unprobe(l);
	login_link_forget(l, 1);
	door_link_gone(e, l);
	TAILQ_REMOVE(&e->e_links, l, el_entry);
	/* A newer session was waiting for this one to be found dead. */
	for (o = TAILQ_FIRST(&e->e_links); o != NULL; o = next) {
		next = TAILQ_NEXT(o, el_entry);
		if (o->el_probed == l)
			esp_link_promote(o);
	}
	allow_free(&l->el_serves);
	if (l->el_have_policy)
		policy_free(&l->el_policy);
	if (l->el_rules != NULL)
		ruleset_free(l->el_rules);
	expect_clear(&l->el_expect);
	free(l);
	if (e->e_draining && TAILQ_EMPTY(&e->e_links) &&
	    TAILQ_EMPTY(&e->e_agents))
		event_base_loopexit(e->e_base, NULL);
}

/* AUTH_RESULT from the isp. */
static void
esp_link_auth_result(struct session *s, struct esp_link *l, const uint8_t *p,
    size_t len)
{
	uint32_t ref;
	uint8_t code;

	if (frame_auth_result_decode(p, len, &ref, &code) != FRAME_OK) {
		session_fail(s, GOAWAY_PROTOCOL, "malformed AUTH_RESULT");
		return;
	}
	login_result(l, ref, code);
}

/* A rule file from the isp: "rules-file=NAME", a blank line, the text. */
static void
esp_link_rules(struct session *s, struct esp_link *l, const char *p, size_t len)
{
	const char *nl = memchr(p, '\n', len);
	char *name, *cause = NULL, shown[300];

	if (nl == NULL || (size_t)(nl - p) + 2 > len || nl[1] != '\n' ||
	    (size_t)(nl - p) - 11 > CONFIG_MAX_RULE_NAME) {
		session_fail(s, GOAWAY_PROTOCOL, "malformed rule file frame");
		return;
	}
	if (l->el_rules != NULL &&
	    ruleset_count(l->el_rules) >= CONFIG_MAX_RULE_FILES) {
		session_fail(s, GOAWAY_REFUSED, "too many rule files");
		return;
	}
	name = xstrndup(p + 11, (size_t)(nl - p) - 11);
	esc_str(shown, sizeof shown, name);
	if (l->el_rules == NULL)
		l->el_rules = ruleset_new();
	if (ruleset_load_text(l->el_rules, name, nl + 2,
		len - (size_t)(nl + 2 - p), &cause) != 0) {
		log_warnx("session with %s: rule file from the isp refused: %s",
		    session_peer(s), cause);
		free(cause);
	} else
		log_info("session with %s: rules \"%s\" loaded",
		    session_peer(s), shown);
	free(name);
}

/* The isp's policy: users, groups, anonymous access (no hashes). */
static void
esp_link_policy(struct session *s, struct esp_link *l, const char *p,
    size_t len)
{
	struct policy np;
	char *cause = NULL;

	if (policy_parse(&np, p, len, &cause) != 0) {
		log_warnx("session with %s: policy from the isp refused: %s; "
			  "keeping the previous one",
		    session_peer(s), cause);
		free(cause);
		return;
	}
	if (l->el_have_policy)
		policy_free(&l->el_policy);
	l->el_policy = np;
	l->el_have_policy = 1;
	log_info("session with %s: isp \"%s\" policy: %zu users, anonymous "
		 "%s",
	    session_peer(s), l->el_id, np.p_nusers,
	    np.p_anonymous ? "allowed" : "refused");
}

/*
 * What an isp serves must not overlap what another isp serves: checked
 * for every CONFIG, so a later one cannot claim more. Another session of
 * the same id is not another isp. On overlap the session is refused, and
 * l is gone when this returns -1.
 */
static int
esp_link_check_serves(struct session *s, struct esp_link *l,
    const struct allow *serves)
{
	struct esp_link *o;
	char ov[200], why[400];

	TAILQ_FOREACH(o, &l->el_esp->e_links, el_entry)
	{
		if (o == l || !o->el_have_serves ||
		    strcmp(o->el_id, l->el_id) == 0)
			continue;
		if (allow_overlap(serves, &o->el_serves, ov, sizeof ov)) {
			snprintf(why, sizeof why,
			    "isp \"%s\" refused: what it serves overlaps isp "
			    "\"%s\": %s",
			    l->el_id, o->el_id, ov);
			log_warnx("session with %s: %s", session_peer(s), why);
			session_fail(s, GOAWAY_REFUSED, why);
			return -1;
		}
	}
	return 0;
}

/*
 * "allow=": what the isp serves, checked for size and overlap. -1: the
 * session is refused and l is gone.
 */
static int
esp_link_serves(struct session *s, struct esp_link *l, const char *list)
{
	struct allow nw;
	char *cause = NULL, why[400];

	if (allow_parse(&nw, list, &cause) != 0) {
		snprintf(why, sizeof why,
		    "isp sent an allow list we cannot "
		    "use: %s",
		    cause);
		free(cause);
		session_fail(s, GOAWAY_REFUSED, why);
		return -1;
	}
	if (nw.al_n > CONFIG_MAX_RULES) {
		allow_free(&nw);
		snprintf(why, sizeof why,
		    "isp \"%s\" refused: it serves more "
		    "than %d allow rules",
		    l->el_id, CONFIG_MAX_RULES);
		log_warnx("session with %s: %s", session_peer(s), why);
		session_fail(s, GOAWAY_REFUSED, why);
		return -1;
	}
	/* A pending session is checked once it takes over. */
	if (!l->el_pending && esp_link_check_serves(s, l, &nw) != 0) {
		allow_free(&nw);
		return -1;
	}
	allow_free(&l->el_serves);
	l->el_serves = nw;
	l->el_have_serves = 1;
	return 0;
}

/* CONFIG from the isp: "key=value" lines, the policy, or a rule file. */
static void
esp_link_config(struct session *s, struct esp_link *l, const uint8_t *p,
    size_t len)
{
	char *text, *line, *save = NULL, said[300];

	if (len > 11 && memcmp(p, "rules-file=", 11) == 0) {
		esp_link_rules(s, l, (const char *)p, len);
		return;
	}
	if (len == 12 && memcmp(p, "rules-reset\n", 12) == 0) {
		/*
		 * The isp reloaded: its rule files follow afresh. Channels
		 * scanning with the old ones hold them until they end.
		 */
		ruleset_free(l->el_rules);
		l->el_rules = NULL;
		return;
	}
	if (len == 13 && memcmp(p, "logins-reset\n", 13) == 0) {
		/* A password changed or went at the isp's reload. */
		login_link_forget(l, 0);
		return;
	}
	if (len > 7 && memcmp(p, "policy\n", 7) == 0) {
		esp_link_policy(s, l, (const char *)p, len);
		return;
	}
	text = xstrndup((const char *)p, len);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "id=", 3) == 0 &&
		    strcmp(line + 3, l->el_id) != 0)
			/* Never believed: the id is what TLS proved. */
			log_warnx("session with %s: isp says it is \"%s\"; it "
				  "proved \"%s\", and that is its id",
			    session_peer(s),
			    esc_str(said, sizeof said, line + 3), l->el_id);
		else if (strcmp(line, "login-left=1") == 0)
			l->el_login_left = 1;
		else if (strncmp(line, "allow=", 6) == 0 &&
		    esp_link_serves(s, l, line + 6) != 0) {
			free(text);
			return;
		}
	}
	free(text);
	log_info("session with %s: isp \"%s\" serves %zu allow rules",
	    session_peer(s), l->el_id, l->el_serves.al_n);
}

/* A session-level message from the isp. */
static void
esp_link_message(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	if (type == FRAME_CONFIG)
		esp_link_config(s, arg, p, len);
	else if (type == FRAME_AUTH_RESULT)
		esp_link_auth_result(s, arg, p, len);
	else if (type == FRAME_LOGIN_REPLY)
		agentlogin_reply(arg, p, len);
}

/* All channels gone after GOAWAY: close the session. */
static void
esp_link_drained(struct session *s, void *arg)
{
	struct esp_link *l = arg;

	if (l->el_esp->e_draining)
		session_close(s, "drained");
}

/* Sessions still in their TLS handshake or HELLO. */
static unsigned
esp_handshakes(struct esp *e)
{
	struct esp_link *l;
	unsigned n = 0;

	TAILQ_FOREACH(l, &e->e_links, el_entry)
	n += !l->el_up;
	return n;
}

/* An isp connected to the session port: start TLS. */
static void
esp_session_acceptcb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	static struct log_limit busy;
	struct esp *e = arg;
	struct esp_link *l;
	struct bufferevent *bev;
	struct tlswire *wire;
	SSL *ssl;
	char peer[ADDR_STRLEN];

	(void)lis;
	(void)salen;
	addr_str(sa, peer, sizeof peer);
	if (esp_handshakes(e) >= e->e_max_sess_handshakes) {
		log_warnx_limited(&busy,
		    "session from %s refused: %u sessions in their handshake "
		    "([esp] max_session_handshakes)",
		    peer, e->e_max_sess_handshakes);
		evutil_closesocket(fd);
		return;
	}
	if ((ssl = SSL_new(e->e_ssl)) == NULL) {
		log_warnx("session from %s: cannot create TLS state", peer);
		evutil_closesocket(fd);
		return;
	}
	bev = tlswire_new(e->e_base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    e->e_params.sp_dead_ms, &wire);
	if (bev == NULL) {
		log_warnx("session from %s: cannot create bufferevent", peer);
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	l = xcalloc(1, sizeof *l);
	l->el_esp = e;
	expect_init(&l->el_expect, 60000);
	TAILQ_INIT(&l->el_parts);
	TAILQ_INIT(&l->el_legs);
	snprintf(l->el_id, sizeof l->el_id, "?");
	l->el_sess = session_new(e->e_base, bev, FRAME_ROLE_ESP, FRAME_ROLE_ISP,
	    peer, &e->e_params, &esp_link_cb, l);
	session_set_wire(l->el_sess, wire);
	TAILQ_INSERT_TAIL(&e->e_links, l, el_entry);
	log_info("session from %s: TLS handshake", peer);
	session_start(l->el_sess);
}

/* An agent on the client door. */
static void
esp_client_acceptcb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)lis;
	(void)salen;
	door_accept(arg, fd, sa);
}

/* A client on the SOCKS door. */
static void
esp_socks_acceptcb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)lis;
	socks_accept(arg, fd, sa, salen);
}

/* Drain timeout: close what is left and exit. */
static void
esp_drain_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct esp *e = arg;
	struct esp_link *l;

	(void)fd;
	(void)what;
	log_info("drain timeout: resetting remaining channels");
	door_close_all(e, "shutting down");
	while ((l = TAILQ_FIRST(&e->e_links)) != NULL)
		session_close(l->el_sess, "shutting down");
	event_base_loopexit(e->e_base, NULL);
}

/* SIGTERM/SIGINT: stop accepting, say GOAWAY, exit when drained. */
static void
esp_signal(int sig, void *arg)
{
	struct esp *e = arg;
	struct esp_link *l, *next;
	struct socks_client *c;
	struct timeval tv;

	if (sig == SIGHUP) {
		/* The esp's policy comes from the isps; files are rotated. */
		daemon_reopen();
		log_info("esp.conf is not read again on SIGHUP (the policy and "
			 "rules come from the isps): restart the esp to apply "
			 "a change to it");
		return;
	}
	if (e->e_draining) {
		log_info("second signal: exiting now");
		esp_drain_timeoutcb(-1, 0, e);
		return;
	}
	log_info("signal %d: draining (up to %d ms)", sig, e->e_drain_ms);
	notify_systemd("STOPPING=1");
	e->e_draining = 1;
	listen_stop(&e->e_socks_doors);
	listen_stop(&e->e_client_doors);
	listen_stop(&e->e_sess_doors);
	while ((c = TAILQ_FIRST(&e->e_clients)) != NULL)
		socks_client_free(c);
	if (TAILQ_EMPTY(&e->e_links) && TAILQ_EMPTY(&e->e_agents)) {
		event_base_loopexit(e->e_base, NULL);
		return;
	}
	door_goaway_all(e, "esp shutting down");
	for (l = TAILQ_FIRST(&e->e_links); l != NULL; l = next) {
		next = TAILQ_NEXT(l, el_entry);
		session_goaway(l->el_sess, GOAWAY_NORMAL, "esp shutting down");
	}
	tv.tv_sec = e->e_drain_ms / 1000;
	tv.tv_usec = (e->e_drain_ms % 1000) * 1000;
	e->e_drain_ev = evtimer_new(e->e_base, esp_drain_timeoutcb, e);
	evtimer_add(e->e_drain_ev, &tv);
}

/* Before each scrape: the sessions up, and their round trips. */
static void
esp_collect(void *arg)
{
	struct esp *e = arg;
	struct esp_link *l;
	struct esp_agent *a;
	int isps = 0, agents = 0;
	int64_t rtt;
	char name[TLS_ID_MAX + 8];

	metrics_clear(M_SESSIONS);
	metrics_clear(M_SESSION_RTT);
	TAILQ_FOREACH(l, &e->e_links, el_entry)
	{
		if (!l->el_up)
			continue;
		isps++;
		/* An isp's lanes after the first as "id#lane". */
		snprintf(name, sizeof name, l->el_lane ? "%s#%d" : "%s",
		    l->el_id, l->el_lane);
		if ((rtt = session_rtt_us(l->el_sess)) >= 0)
			metrics_set(M_SESSION_RTT, name, (double)rtt / 1e6);
	}
	TAILQ_FOREACH(a, &e->e_agents, a_entry)
	agents += a->a_up;
	metrics_set(M_SESSIONS, "isp", isps);
	metrics_set(M_SESSIONS, "agent", agents);
}

/*
 * Reverse connections to SOCKS clients are checked against this host's
 * addresses: say at start if they cannot be read (a sandbox without
 * AF_NETLINK), rather than at each refusal.
 */
static void
esp_check_addrs(struct esp *e)
{
	struct ifaddrs *ifs;

	if (e->e_outside_own)
		return;
	if (getifaddrs(&ifs) != 0) {
		log_warnx("cannot read this host's addresses (%s): reverse "
			  "connections to SOCKS clients (active FTP, DCC, "
			  "rsh) will be refused; a sandbox must allow "
			  "AF_NETLINK",
		    strerror(errno));
		return;
	}
	freeifaddrs(ifs);
}

/* Free what main set up; the one teardown path for the daemon. */
static void
esp_free(struct esp *e)
{
	listen_clear(&e->e_socks_doors);
	listen_clear(&e->e_client_doors);
	listen_clear(&e->e_sess_doors);
	metrics_http_free(e->e_metrics);
	listen_clear(&e->e_metrics_doors);
	free(e->e_metrics_warning);
	free(e->e_dump);
	if (e->e_drain_ev != NULL)
		event_free(e->e_drain_ev);
	SSL_CTX_free(e->e_ssl);
	SSL_CTX_free(e->e_client_ssl);
	privdrop_clear(&e->e_priv);
	free(e->e_client_cert);
	free(e->e_client_key);
	tls_conf_clear(&e->e_tls);
	ratelimit_free(e->e_logins);
	srccount_free(e->e_conns);
	OPENSSL_cleanse(e->e_login_key, sizeof e->e_login_key);
	if (e->e_base != NULL) {
		daemon_signals_free();
		event_base_free(e->e_base);
	}
}

int
main(int argc, char **argv)
{
	struct daemon_opts o;
	struct esp e;
	char *cause = NULL;

	daemon_parse_args(argc, argv, "esp", "/etc/dynpass/esp.conf", &o);
	if (o.do_status)
		return status_run("esp", o.do_conf);
	memset(&e, 0, sizeof e);
	TAILQ_INIT(&e.e_links);
	TAILQ_INIT(&e.e_clients);
	TAILQ_INIT(&e.e_agents);
	if (esp_load(&e, o.do_conf, &o, &cause) != 0 ||
	    (e.e_ssl = tls_ctx_new(&e.e_tls, &cause)) == NULL) {
		fprintf(stderr, "esp: %s\n", cause);
		free(cause);
		esp_free(&e);
		return 1;
	}
	if (e.e_tls.tc_warning != NULL)
		fprintf(stderr, "esp: %s: warning: %s\n", o.do_conf,
		    e.e_tls.tc_warning);
	if (e.e_metrics_warning != NULL)
		fprintf(stderr, "esp: %s: warning: %s\n", o.do_conf,
		    e.e_metrics_warning);
	if (o.do_check) {
		if (e.e_dump != NULL)
			fputs(e.e_dump, stdout);
		else
			printf("esp: %s: configuration OK\n", o.do_conf);
		esp_free(&e);
		return 0;
	}
	if ((e.e_base = daemon_event_base()) == NULL)
		fatalx("cannot create event base");
	daemon_signals(e.e_base, esp_signal, &e);
	if (RAND_bytes(e.e_login_key, sizeof e.e_login_key) != 1)
		fatalx("cannot make the login cache key");
	e.e_logins = ratelimit_new(&e.e_login_limits);
	e.e_conns = srccount_new();
	audit_set_refusal_hook(esp_notice, &e);
	if (e.e_tls.tc_warning != NULL)
		log_warnx("%s", e.e_tls.tc_warning);
	listen_start(e.e_base, "isp sessions", &e.e_sess_doors,
	    esp_session_acceptcb, &e);
	listen_start(e.e_base, "SOCKS5 clients", &e.e_socks_doors,
	    esp_socks_acceptcb, &e);
	listen_start(e.e_base, "client agents", &e.e_client_doors,
	    esp_client_acceptcb, &e);
	metrics_init("esp");
	metrics_set_collector(esp_collect, &e);
	if (e.e_metrics_warning != NULL)
		log_warnx("%s", e.e_metrics_warning);
	if (e.e_metrics_doors.ls_n > 0 &&
	    (e.e_metrics = metrics_http_start(e.e_base, &e.e_metrics_doors,
		 &cause)) == NULL)
		fatalx("%s", cause);
	if (privdrop_apply(&e.e_priv, "esp", &cause) != 0) {
		log_warnx("%s", cause);
		free(cause);
		esp_free(&e);
		return 1;
	}
	esp_check_addrs(&e);
	log_info("esp %s started (%s%s%s)", DYNPASS_VERSION,
	    tls_conf_psk_mode(&e.e_tls) ? "pre-shared key" : "certificates",
	    e.e_priv.pd_user ? ", as user " : "",
	    e.e_priv.pd_user ? e.e_priv.pd_user : "");
	notify_systemd("READY=1");
	event_base_dispatch(e.e_base);
	log_info("esp stopped");
	esp_free(&e);
	metrics_free();
	return 0;
}
