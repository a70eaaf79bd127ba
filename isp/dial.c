/*
 * The isp's outward sessions, one per configured esp ("uplinks"): resolve
 * the esp, connect (directly or through [isp] via), run TLS, and on any
 * loss reconnect after an exponential backoff with jitter, capped. Each
 * uplink has its own session and its own backoff.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "addr.h"
#include "audit.h"
#include "connector.h"
#include "escape.h"
#include "isp.h"
#include "log.h"
#include "metrics.h"
#include "tlswire.h"
#include "via.h"
#include "xmalloc.h"

/* A login the esp relayed, waiting for the check. */
struct isp_auth {
	struct uplink *ia_up;
	uint32_t ia_ref;
	struct login_req *ia_req;
	TAILQ_ENTRY(isp_auth) ia_entry;
};

static void dial_connected(struct uplink *, evutil_socket_t, int, const char *);
static int dial_sess_handshake(struct session *, SSL *, char *, size_t, void *);
static void dial_sess_message(struct session *, uint8_t, const uint8_t *,
    size_t, void *);
static void dial_sess_up(struct session *, void *);
static void dial_sess_closed(struct session *, const char *, void *);
static void dial_sess_open(struct session *, struct channel *,
    const struct frame_open *, void *);
static void dial_sess_drained(struct session *, void *);
static void dial_redialcb(evutil_socket_t, short, void *);
static int dial_locked_handshake(struct session *, SSL *, char *, size_t,
    void *);
static void dial_locked_message(struct session *, uint8_t, const uint8_t *,
    size_t, void *);
static void dial_locked_up(struct session *, void *);
static void dial_locked_closed(struct session *, const char *, void *);
static void dial_locked_open(struct session *, struct channel *,
    const struct frame_open *, void *);
static void dial_locked_drained(struct session *, void *);

/* The session runs on the uplink's worker: each callback takes the lock. */
static const struct session_cb dial_session_cb = {
	.sc_handshake = dial_locked_handshake,
	.sc_message = dial_locked_message,
	.sc_up = dial_locked_up,
	.sc_closed = dial_locked_closed,
	.sc_open = dial_locked_open,
	.sc_drained = dial_locked_drained,
};

/* The event base of the uplink's worker. */
static struct event_base *
dial_base(struct uplink *u)
{
	return u->u_worker != NULL ? u->u_worker->w_base : u->u_isp->i_base;
}

/* The resolver of the uplink's worker. */
static struct evdns_base *
dial_dns(struct uplink *u)
{
	return u->u_worker != NULL && u->u_worker->w_dns != NULL
	    ? u->u_worker->w_dns
	    : u->u_isp->i_dns;
}

static void dial_configcb(evutil_socket_t, short, void *);

/* Put an uplink on a worker, round the workers, and make its events. */
static void
dial_place(struct isp *i, struct uplink *u)
{
	if (u->u_worker == NULL && i->i_workers != NULL)
		u->u_worker =
		    workers_get(i->i_workers, (int)i->i_next_worker++);
	if (u->u_redial == NULL)
		u->u_redial = evtimer_new(dial_base(u), dial_redialcb, u);
	if (u->u_config == NULL)
		u->u_config = event_new(dial_base(u), -1, 0, dial_configcb, u);
}

/* Add an uplink for "host:port", session lane; -1 if it does not parse. */
int
dial_add(struct isp *i, const char *esp, int lane)
{
	struct uplink *u = xcalloc(1, sizeof *u);
	uint16_t port;

	if (addr_split_hostport(esp, &u->u_host, &u->u_port) != 0 ||
	    addr_port_parse(u->u_port, &port) != 0) {
		free(u->u_host);
		free(u->u_port);
		free(u);
		return -1;
	}
	u->u_isp = i;
	u->u_esp = xstrdup(esp);
	u->u_lane = lane;
	if (lane == 0)
		u->u_name = xstrdup(esp);
	else
		xasprintf(&u->u_name, "%s#%d", esp, lane);
	TAILQ_INIT(&u->u_auths);
	TAILQ_INSERT_TAIL(&i->i_uplinks, u, u_entry);
	return 0;
}

/* Next delay: 500 ms doubling per failure, capped, times 0.75-1.25. */
static int
dial_backoff_ms(struct uplink *u)
{
	unsigned shift = u->u_attempts < 16 ? u->u_attempts : 16;
	double base = 500.0 * (double)(1U << shift);
	double cap = u->u_isp->i_backoff_max_ms;
	uint32_t r = 0;

	if (base > cap)
		base = cap;
	RAND_bytes((unsigned char *)&r, sizeof r);
	base *= 0.75 + 0.5 * ((double)r / 4294967295.0);
	return (int)(base > cap ? cap : base);
}

/* Schedule the next attempt; refused: wait as long as the cap allows. */
static void
dial_schedule_after(struct uplink *u, int refused)
{
	struct timeval tv;
	int ms;

	if (u->u_isp->i_draining)
		return;
	if (refused)
		u->u_attempts = 16;
	ms = dial_backoff_ms(u);
	u->u_attempts++;
	log_info("reconnecting to esp %s in %d.%01d s (attempt %u)", u->u_name,
	    ms / 1000, (ms % 1000) / 100, u->u_attempts);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(u->u_redial, &tv);
}

/* Schedule the next attempt after a failure. */
static void
dial_schedule(struct uplink *u)
{
	dial_schedule_after(u, 0);
}

/* Through the proxy (or not): the tunnel is up or failed. */
static void
dial_viacb(evutil_socket_t fd, int err, const char *why, void *arg)
{
	struct uplink *u = arg;

	isp_lock();
	u->u_via = NULL;
	dial_connected(u, fd, err, why);
	isp_unlock();
}

/* Direct TCP connect finished. */
static void
dial_connectorcb(evutil_socket_t fd, int err, void *arg)
{
	struct uplink *u = arg;

	isp_lock();
	u->u_conn = NULL;
	dial_connected(u, fd, err, NULL);
	isp_unlock();
}

/* The esp's name resolved: connect to the first address. */
static void
dial_resolvedcb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct uplink *u = arg;
	struct connector *cn;

	if (err == EVUTIL_EAI_CANCEL) {
		/* Called after a cancel: u may be gone. */
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	isp_lock();
	u->u_req = NULL;
	if (err != 0) {
		log_warnx("cannot resolve esp %s: %s", u->u_name,
		    evutil_gai_strerror(err));
		dial_schedule(u);
	} else {
		cn = connector_start(dial_base(u), ai->ai_addr,
		    (socklen_t)ai->ai_addrlen, u->u_isp->i_connect_timeout_ms,
		    dial_connectorcb, u);
		if (cn != NULL)
			u->u_conn = cn;
		evutil_freeaddrinfo(ai);
	}
	isp_unlock();
}

/* Start one attempt: through the proxy, or resolve and connect. */
static void
dial_start(struct uplink *u)
{
	struct isp *i = u->u_isp;
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;
	struct via_req *vr;

	if (i->i_draining || u->u_sess != NULL || u->u_req != NULL ||
	    u->u_conn != NULL || u->u_via != NULL)
		return;
	if (i->i_via.vc_kind != 0) {
		log_debug("dialling esp %s via %s:%s", u->u_name,
		    i->i_via.vc_host, i->i_via.vc_port);
		vr =
		    via_connect(dial_base(u), dial_dns(u), &i->i_via, u->u_host,
			u->u_port, i->i_connect_timeout_ms, dial_viacb, u);
		if (vr != NULL)
			u->u_via = vr;
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	log_debug("dialling esp %s", u->u_name);
	/* NULL means the callback already ran (numeric, hosts file). */
	req = evdns_getaddrinfo(dial_dns(u), u->u_host, u->u_port, &hints,
	    dial_resolvedcb, u);
	if (req != NULL)
		u->u_req = req;
}

/* Start every uplink. */
void
dial_start_all(struct isp *i)
{
	struct uplink *u;

	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	{
		dial_place(i, u);
		dial_start(u);
	}
}

/* Redial timer fired. */
static void
dial_redialcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	isp_lock();
	dial_start(arg);
	isp_unlock();
}

/* Cancel an uplink's attempt under way, and its redial. */
static void
dial_cancel(struct uplink *u)
{
	if (u->u_redial != NULL)
		evtimer_del(u->u_redial);
	if (u->u_req != NULL) {
		evdns_getaddrinfo_cancel(u->u_req);
		u->u_req = NULL;
	}
	if (u->u_conn != NULL) {
		connector_cancel(u->u_conn);
		u->u_conn = NULL;
	}
	if (u->u_via != NULL) {
		via_cancel(u->u_via);
		u->u_via = NULL;
	}
}

/* Stop dialling (shutdown): cancel attempts under way. */
void
dial_stop(struct isp *i)
{
	struct uplink *u;

	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	dial_cancel(u);
}

/* The one teardown path for an uplink with no session. */
static void
dial_free(struct uplink *u)
{
	dial_cancel(u);
	TAILQ_REMOVE(&u->u_isp->i_uplinks, u, u_entry);
	if (u->u_redial != NULL)
		event_free(u->u_redial);
	if (u->u_config != NULL)
		event_free(u->u_config);
	free(u->u_esp);
	free(u->u_name);
	free(u->u_host);
	free(u->u_port);
	free(u);
}

/* Free every uplink (after the loop has ended). */
void
dial_free_all(struct isp *i)
{
	struct uplink *u;

	while ((u = TAILQ_FIRST(&i->i_uplinks)) != NULL)
		dial_free(u);
}

/* The uplink for "host:port" and lane, if there is one. */
struct uplink *
dial_find(struct isp *i, const char *esp, int lane)
{
	struct uplink *u;

	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	if (!u->u_removed && u->u_lane == lane && strcmp(u->u_esp, esp) == 0)
		return u;
	return NULL;
}

/* The session with this serial, up or draining, or NULL. */
struct session *
dial_session(struct isp *i, uint64_t serial)
{
	struct uplink *u;

	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	if (u->u_sess != NULL && session_serial(u->u_sess) == serial)
		return u->u_sess;
	return NULL;
}

/*
 * An esp left [isp] esp (reload): no new channels there; its session
 * goes once the open ones have finished, and the uplink with it.
 */
void
dial_remove(struct uplink *u)
{
	u->u_removed = 1;
	dial_cancel(u);
	if (u->u_sess == NULL)
		dial_free(u);
	else if (session_is_up(u->u_sess))
		session_goaway(u->u_sess, GOAWAY_NORMAL,
		    "removed from the isp's configuration");
	else
		session_close(u->u_sess, "removed from the configuration");
}

/* An esp joined [isp] esp (reload): take the new uplink over and dial. */
void
dial_adopt(struct isp *i, struct isp *from, struct uplink *u)
{
	TAILQ_REMOVE(&from->i_uplinks, u, u_entry);
	u->u_isp = i;
	TAILQ_INSERT_TAIL(&i->i_uplinks, u, u_entry);
	dial_place(i, u);
	dial_start(u);
}

/* How many sessions are still open (for shutdown). */
int
dial_sessions(struct isp *i)
{
	struct uplink *u;
	int n = 0;

	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	n += u->u_sess != NULL;
	return n;
}

/* TCP (or the proxy tunnel) is up, or failed: start TLS and the session. */
static void
dial_connected(struct uplink *u, evutil_socket_t fd, int err, const char *why)
{
	struct isp *i = u->u_isp;
	struct bufferevent *bev;
	struct tlswire *wire;
	SSL *ssl;

	if (fd < 0) {
		log_warnx("cannot connect to esp %s: %s", u->u_name,
		    why != NULL ? why : strerror(err));
		dial_schedule(u);
		return;
	}
	if ((ssl = SSL_new(i->i_ssl)) == NULL) {
		evutil_closesocket(fd);
		log_warnx("cannot create TLS state");
		dial_schedule(u);
		return;
	}
	/* In certificate mode the esp's name is always checked. */
	if (!tls_conf_psk_mode(&i->i_tls) &&
	    tls_set_peer_host(ssl,
		i->i_tls.tc_peer_name ? i->i_tls.tc_peer_name : u->u_host) !=
		0) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		log_warnx("esp %s: cannot set the name to check", u->u_name);
		dial_schedule(u);
		return;
	}
	bev = tlswire_new(dial_base(u), fd, ssl, BUFFEREVENT_SSL_CONNECTING,
	    i->i_params.sp_dead_ms, &wire);
	if (bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		dial_schedule(u);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	u->u_sess = session_new(dial_base(u), bev, FRAME_ROLE_ISP,
	    FRAME_ROLE_ESP, u->u_name, &i->i_params, &dial_session_cb, u);
	session_set_lane(u->u_sess, u->u_lane);
	session_set_wire(u->u_sess, wire);
	session_start(u->u_sess);
}

/* Hand every rule file to the esp, one CONFIG frame each. */
static void
dial_send_rules(struct isp *i, struct session *s)
{
	const struct rule_app *app;
	const char *text;
	char *buf;
	size_t k, len;
	int n;

	if (i->i_ruleset == NULL)
		return;
	for (k = 0; k < ruleset_count(i->i_ruleset); k++) {
		app = ruleset_app(i->i_ruleset, k);
		text = rule_app_text(app, &len);
		n = asprintf(&buf, "rules-file=%s\n\n%.*s", rule_app_file(app),
		    (int)len, text);
		if (n < 0 || (size_t)n > FRAME_MAX_PAYLOAD) {
			log_warnx("rule file %s is too large to send to the "
				  "esp",
			    rule_app_file(app));
			if (n >= 0)
				free(buf);
			continue;
		}
		session_send_config(s, buf, (size_t)n);
		free(buf);
	}
}

/* Send what the esp must know: id, what we serve, policy, rules. */
void
dial_send_config(struct uplink *u)
{
	struct isp *i = u->u_isp;
	struct session *s = u->u_sess;
	char *cfg, *serves;
	size_t len;
	int n;

	serves = policy_serves(&i->i_policy);
	/* login-left: this isp takes LOGIN step 3 (FRAME_LOGIN_LEFT). */
	n = asprintf(&cfg, "id=%s\nlogin-left=1\nallow=%s\n", i->i_id, serves);
	free(serves);
	if (n > 0) {
		session_send_config(s, cfg, (size_t)n);
		free(cfg);
	}
	/* A password changed or went since this esp was told: it forgets
	 * the logins it accepted (a new session starts with none). */
	if (u->u_logins_gen != i->i_logins_gen && u->u_sent_config)
		session_send_config(s, "logins-reset\n", 13);
	u->u_logins_gen = i->i_logins_gen;
	u->u_sent_config = 1;
	cfg = policy_text(&i->i_policy, &len);
	if (len > FRAME_MAX_PAYLOAD)
		log_warnx("the policy is too large to send to the esp (%zu "
			  "bytes); the esp will refuse every request",
		    len);
	else
		session_send_config(s, cfg, len);
	free(cfg);
	session_send_config(s, "rules-reset\n", 12);
	dial_send_rules(i, s);
}

/* A reload's CONFIG, sent from the uplink's own worker. */
static void
dial_configcb(evutil_socket_t fd, short what, void *arg)
{
	struct uplink *u = arg;

	(void)fd;
	(void)what;
	isp_lock();
	if (u->u_sess != NULL && session_is_up(u->u_sess) && !u->u_removed)
		dial_send_config(u);
	isp_unlock();
}

/*
 * After a reload: send the new CONFIG on the uplink's worker, so that the
 * frames are made and freed by the thread that owns the session.
 */
void
dial_post_config(struct uplink *u)
{
	if (u->u_config != NULL)
		event_active(u->u_config, EV_TIMEOUT, 1);
	else
		dial_send_config(u);
}

/* Session up: send our CONFIG and rules, reset the backoff. */
static void
dial_sess_up(struct session *s, void *arg)
{
	struct uplink *u = arg;

	(void)s;
	u->u_attempts = 0;
	if (u->u_worker != NULL)
		log_debug("esp %s: session on worker %d", u->u_name,
		    u->u_worker->w_id);
	u->u_sent_config = 0; /* a new session: the esp remembers no login */
	dial_send_config(u);
}

/* Session lost: reconnect, or finish shutting down. */
static void
dial_sess_closed(struct session *s, const char *reason, void *arg)
{
	struct uplink *u = arg;
	struct isp *i = u->u_isp;
	struct isp_auth *a;

	(void)reason;
	agentauth_session_gone(i, session_serial(s));
	while ((a = TAILQ_FIRST(&u->u_auths)) != NULL) {
		TAILQ_REMOVE(&u->u_auths, a, ia_entry);
		login_cancel(a->ia_req);
		free(a);
	}
	u->u_sess = NULL;
	if (u->u_removed) {
		log_info("esp %s: session gone; no longer dialled", u->u_name);
		dial_free(u);
		if (i->i_draining && dial_sessions(i) == 0)
			event_base_loopexit(i->i_base, NULL);
		return;
	}
	if (i->i_draining) {
		if (dial_sessions(i) == 0)
			event_base_loopexit(i->i_base, NULL);
		return;
	}
	dial_schedule_after(u, session_peer_goaway(s) == GOAWAY_REFUSED);
}

/* TLS is up: the esp must be who our credentials say. */
static int
dial_sess_handshake(struct session *s, SSL *ssl, char *why, size_t len,
    void *arg)
{
	struct uplink *u = arg;
	char id[TLS_ID_MAX + 1];

	if (tls_peer_check(ssl, &u->u_isp->i_tls, id, sizeof id, why, len) != 0)
		return -1;
	session_set_identity(s, id);
	return 0;
}

/* A login was checked: tell the esp, if it is still there. */
static void
dial_authdonecb(uint8_t code, void *arg)
{
	struct isp_auth *a = arg;
	struct uplink *u = a->ia_up;
	uint8_t buf[8];
	size_t n;

	TAILQ_REMOVE(&u->u_auths, a, ia_entry);
	n = frame_auth_result_encode(buf, sizeof buf, a->ia_ref, code);
	if (u->u_sess != NULL)
		session_send_message(u->u_sess, FRAME_AUTH_RESULT, buf, n);
	free(a);
}

/*
 * NOTICE from the esp: a request it refused, for our audit, marked as
 * its word. At most DIAL_NOTICES a second are written, from all sessions
 * (an esp may hold several lanes), so an esp cannot flood the audit; the
 * rest are counted in one log line a second.
 */
#define DIAL_NOTICES 50
static void
dial_notice(struct uplink *u, struct session *s, const uint8_t *p, size_t len)
{
	static struct log_budget written;
	struct frame_notice n;

	if (frame_notice_decode(p, len, &n) != FRAME_OK) {
		session_fail(s, GOAWAY_PROTOCOL, "malformed NOTICE");
		return;
	}
	metrics_add(M_REFUSALS, "reported_by_esp", 1);
	if (!log_budget_spend(&written, DIAL_NOTICES,
		"esp %s reports more than %d refusals a second; not all are "
		"in the audit",
		u->u_name, DIAL_NOTICES))
		return;
	audit_reported(session_identity(s), n.fn_user, &n.fn_client, &n.fn_dst,
	    n.fn_why);
}

/* AUTH from the esp: check the login ourselves. */
static void
dial_sess_message(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	struct uplink *u = arg;
	struct frame_auth fa;
	struct isp_auth *a;
	struct login_req *r;
	char who[ADDR_STRLEN], name[300];

	if (type == FRAME_LOGIN) {
		agentauth_message(u->u_isp, u, s, p, len);
		return;
	}
	if (type == FRAME_NOTICE) {
		dial_notice(u, s, p, len);
		return;
	}
	if (type != FRAME_AUTH)
		return;
	if (frame_auth_decode(p, len, &fa) != FRAME_OK) {
		OPENSSL_cleanse(&fa, sizeof fa);
		session_fail(s, GOAWAY_PROTOCOL, "malformed AUTH");
		return;
	}
	log_debug("login for user \"%s\" from %s (relayed by the esp)",
	    esc_str(name, sizeof name, fa.fa_user),
	    endpoint_str(&fa.fa_client, who, sizeof who));
	a = xcalloc(1, sizeof *a);
	a->ia_up = u;
	a->ia_ref = fa.fa_ref;
	TAILQ_INSERT_TAIL(&u->u_auths, a, ia_entry);
	r = login_check(u->u_isp, u, fa.fa_user, fa.fa_secret, fa.fa_secret_len,
	    &fa.fa_client, dial_authdonecb, a);
	OPENSSL_cleanse(&fa, sizeof fa);
	if (r != NULL)
		a->ia_req = r;
}

/* The esp asks for an inside connection. */
static void
dial_sess_open(struct session *s, struct channel *ch,
    const struct frame_open *o, void *arg)
{
	struct uplink *u = arg;

	(void)s;
	inside_open(u->u_isp, u, ch, o);
}

/* All channels finished after GOAWAY. */
static void
dial_sess_drained(struct session *s, void *arg)
{
	struct uplink *u = arg;

	if (u->u_isp->i_draining || u->u_removed)
		session_close(s, "drained");
}

/* The session callbacks, each under the isp lock. */
static int
dial_locked_handshake(struct session *s, SSL *ssl, char *why, size_t len,
    void *arg)
{
	int rc;

	isp_lock();
	rc = dial_sess_handshake(s, ssl, why, len, arg);
	isp_unlock();
	return rc;
}

static void
dial_locked_message(struct session *s, uint8_t type, const uint8_t *p,
    size_t len, void *arg)
{
	isp_lock();
	dial_sess_message(s, type, p, len, arg);
	isp_unlock();
}

static void
dial_locked_up(struct session *s, void *arg)
{
	isp_lock();
	dial_sess_up(s, arg);
	isp_unlock();
}

static void
dial_locked_closed(struct session *s, const char *reason, void *arg)
{
	isp_lock();
	dial_sess_closed(s, reason, arg);
	isp_unlock();
}

static void
dial_locked_open(struct session *s, struct channel *ch,
    const struct frame_open *o, void *arg)
{
	isp_lock();
	dial_sess_open(s, ch, o, arg);
	isp_unlock();
}

static void
dial_locked_drained(struct session *s, void *arg)
{
	isp_lock();
	dial_sess_drained(s, arg);
	isp_unlock();
}
