/*
 * The isp's outward session: resolve the esp, connect, run TLS, and on any
 * loss reconnect after an exponential backoff with jitter, capped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/rand.h>

#include "addr.h"
#include "connector.h"
#include "isp.h"
#include "log.h"

static void dial_connectedcb(evutil_socket_t, int, void *);
static void dial_sess_up(struct session *, void *);
static void dial_sess_closed(struct session *, const char *, void *);
static void dial_sess_open(struct session *, struct channel *,
    const struct frame_open *, void *);
static void dial_sess_drained(struct session *, void *);

static const struct session_cb dial_session_cb = {
	.sc_up = dial_sess_up,
	.sc_closed = dial_sess_closed,
	.sc_open = dial_sess_open,
	.sc_drained = dial_sess_drained,
};

static struct connector *dial_connector;

/* Next delay: 500 ms doubling per failure, capped, times 0.75-1.25. */
static int
dial_backoff_ms(struct isp *i)
{
	unsigned shift = i->i_attempts < 16 ? i->i_attempts : 16;
	double base = 500.0 * (double)(1U << shift);
	uint32_t r = 0;

	if (base > i->i_backoff_max_ms)
		base = i->i_backoff_max_ms;
	RAND_bytes((unsigned char *)&r, sizeof r);
	base *= 0.75 + 0.5 * ((double)r / 4294967295.0);
	if (base > i->i_backoff_max_ms)
		base = i->i_backoff_max_ms;
	return (int)base;
}

/* Schedule the next attempt. */
void
dial_schedule(struct isp *i)
{
	struct timeval tv;
	int ms;

	if (i->i_draining)
		return;
	ms = dial_backoff_ms(i);
	i->i_attempts++;
	log_info("reconnecting to esp %s in %d.%01d s (attempt %u)", i->i_esp,
	    ms / 1000, (ms % 1000) / 100, i->i_attempts);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(i->i_redial_ev, &tv);
}

/* The esp's name resolved: connect to the first address. */
static void
dial_resolvedcb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct isp *i = arg;
	struct connector *cn;

	i->i_dial_req = NULL;
	if (err != 0) {
		log_warnx("cannot resolve esp %s: %s", i->i_esp,
		    evutil_gai_strerror(err));
		dial_schedule(i);
		return;
	}
	cn = connector_start(i->i_base, ai->ai_addr, (socklen_t)ai->ai_addrlen,
	    i->i_connect_timeout_ms, dial_connectedcb, i);
	if (cn != NULL)
		dial_connector = cn;
	evutil_freeaddrinfo(ai);
}

/* Start one attempt. */
void
dial_start(struct isp *i)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;

	if (i->i_draining || i->i_sess != NULL || i->i_dial_req != NULL ||
	    dial_connector != NULL)
		return;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	log_debug("dialling esp %s", i->i_esp);
	req = evdns_getaddrinfo(i->i_dns, i->i_esp_host, i->i_esp_port, &hints,
	    dial_resolvedcb, i);
	if (req != NULL)
		i->i_dial_req = req;
}

/* Stop dialling (shutdown). */
void
dial_stop(struct isp *i)
{
	evtimer_del(i->i_redial_ev);
	if (i->i_dial_req != NULL) {
		evdns_getaddrinfo_cancel(i->i_dial_req);
		i->i_dial_req = NULL;
	}
	if (dial_connector != NULL) {
		connector_cancel(dial_connector);
		dial_connector = NULL;
	}
}

/* TCP is up (or failed): start TLS and the session. */
static void
dial_connectedcb(evutil_socket_t fd, int err, void *arg)
{
	struct isp *i = arg;
	struct bufferevent *bev;
	SSL *ssl;

	dial_connector = NULL;
	if (fd < 0) {
		log_warnx("cannot connect to esp %s: %s", i->i_esp,
		    strerror(err));
		dial_schedule(i);
		return;
	}
	if ((ssl = SSL_new(i->i_ssl)) == NULL) {
		evutil_closesocket(fd);
		log_warnx("cannot create TLS state");
		dial_schedule(i);
		return;
	}
	if (i->i_tls.tc_peer_name != NULL)
		SSL_set1_host(ssl, i->i_tls.tc_peer_name);
	bev = bufferevent_openssl_socket_new(i->i_base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		dial_schedule(i);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	i->i_sess = session_new(i->i_base, bev, FRAME_ROLE_ISP, i->i_esp,
	    &i->i_params, &dial_session_cb, i);
	session_start(i->i_sess);
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

/* Session up: send our CONFIG, reset the backoff. */
static void
dial_sess_up(struct session *s, void *arg)
{
	struct isp *i = arg;
	char *cfg;
	int n;

	i->i_attempts = 0;
	n = asprintf(&cfg, "id=%s\nallow=%s\n", i->i_id,
	    i->i_allow_text ? i->i_allow_text : "none");
	if (n > 0) {
		session_send_config(s, cfg, (size_t)n);
		free(cfg);
	}
	dial_send_rules(i, s);
}

/* Session lost: reconnect, or finish shutting down. */
static void
dial_sess_closed(struct session *s, const char *reason, void *arg)
{
	struct isp *i = arg;

	(void)s;
	(void)reason;
	i->i_sess = NULL;
	if (i->i_draining) {
		event_base_loopexit(i->i_base, NULL);
		return;
	}
	dial_schedule(i);
}

/* The esp asks for an inside connection. */
static void
dial_sess_open(struct session *s, struct channel *ch,
    const struct frame_open *o, void *arg)
{
	(void)s;
	inside_open(arg, ch, o);
}

/* All channels finished after GOAWAY. */
static void
dial_sess_drained(struct session *s, void *arg)
{
	struct isp *i = arg;

	if (i->i_draining)
		session_close(s, "drained");
}
