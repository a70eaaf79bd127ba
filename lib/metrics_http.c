/*
 * The metrics endpoint: GET /metrics over plain HTTP with libevent's
 * evhttp, on [metrics] listen. Every client is bounded: headers up to
 * 8 KiB, no body, one request per connection, 10 s without a byte (evhttp's
 * idle timeout), 10 s in all (a sweep each second), and 64 connections at
 * once (a 65th ends the oldest). evhttp 2.1 tells nothing when it takes a
 * connection: its bufferevent comes from here, and the connection is
 * found through it once evhttp has set it up.
 */
#include "metrics_http.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "xmalloc.h"

#define METRICS_HTTP_TIMEOUT     10
#define METRICS_HTTP_DEADLINE_MS 10000
#define METRICS_HTTP_HEADERS     8192
#define METRICS_HTTP_MAX_CONNS   64

struct metrics_http;

/* One client connection, from its bufferevent's making to its end. */
struct metrics_conn {
	TAILQ_ENTRY(metrics_conn) mc_entry;
	struct metrics_http *mc_mh;
	struct bufferevent *mc_bev;         /* held until attached */
	struct evhttp_connection *mc_evcon; /* NULL until attached */
	struct event *mc_attach;
	uint64_t mc_start;
};
TAILQ_HEAD(metrics_conns, metrics_conn);

struct metrics_http {
	struct evhttp *mh_http;
	struct event *mh_sweep;
	struct metrics_conns mh_conns; /* oldest first */
	unsigned mh_nconns;
};

/* Forget one connection; evhttp ends it, or has. */
static void
metrics_http_conn_free(struct metrics_conn *mc)
{
	struct metrics_http *mh = mc->mc_mh;

	TAILQ_REMOVE(&mh->mh_conns, mc, mc_entry);
	mh->mh_nconns--;
	if (mc->mc_evcon != NULL)
		evhttp_connection_set_closecb(mc->mc_evcon, NULL, NULL);
	if (mc->mc_bev != NULL)
		bufferevent_decref(mc->mc_bev);
	event_free(mc->mc_attach);
	free(mc);
}

/* evhttp ends a connection. */
static void
metrics_http_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	metrics_http_conn_free(arg);
}

/* End a connection now, through evhttp. */
static void
metrics_http_end(struct metrics_conn *mc)
{
	struct evhttp_connection *evcon = mc->mc_evcon;

	metrics_http_conn_free(mc);
	evhttp_connection_free(evcon);
}

/*
 * Over the limit: end the oldest connections that evhttp has taken. A
 * burst of new ones is counted before evhttp has them all: this runs again
 * as each is taken.
 */
static void
metrics_http_trim(struct metrics_http *mh)
{
	struct metrics_conn *mc, *next;

	for (mc = TAILQ_FIRST(&mh->mh_conns);
	     mc != NULL && mh->mh_nconns > METRICS_HTTP_MAX_CONNS; mc = next) {
		next = TAILQ_NEXT(mc, mc_entry);
		if (mc->mc_evcon != NULL)
			metrics_http_end(mc);
	}
}

/*
 * Right after evhttp took the connection: it is the bufferevent's
 * callback argument. A bufferevent without callbacks was freed already.
 */
static void
metrics_http_attach(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_conn *mc = arg;
	bufferevent_event_cb eventcb;
	void *evcon;

	(void)fd;
	(void)what;
	bufferevent_getcb(mc->mc_bev, NULL, NULL, &eventcb, &evcon);
	if (eventcb == NULL || evcon == NULL) {
		metrics_http_conn_free(mc);
		return;
	}
	mc->mc_evcon = evcon;
	evhttp_connection_set_closecb(mc->mc_evcon, metrics_http_closed, mc);
	bufferevent_decref(mc->mc_bev);
	mc->mc_bev = NULL;
	metrics_http_trim(mc->mc_mh);
}

/* Each second: end the connections older than the deadline. */
static void
metrics_http_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http *mh = arg;
	struct metrics_conn *mc, *next;
	uint64_t now = monotime_ms();

	(void)fd;
	(void)what;
	for (mc = TAILQ_FIRST(&mh->mh_conns); mc != NULL; mc = next) {
		next = TAILQ_NEXT(mc, mc_entry);
		if (now - mc->mc_start <= METRICS_HTTP_DEADLINE_MS)
			break;
		if (mc->mc_evcon != NULL)
			metrics_http_end(mc);
	}
}

/* evhttp takes a connection: its bufferevent, counted, the oldest ended. */
static struct bufferevent *
metrics_http_bev(struct event_base *base, void *arg)
{
	struct metrics_http *mh = arg;
	struct metrics_conn *mc;
	struct bufferevent *bev;

	/* Options as evhttp's own: it closes the descriptor itself. */
	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return NULL;
	mc = xcalloc(1, sizeof *mc);
	mc->mc_mh = mh;
	mc->mc_bev = bev;
	bufferevent_incref(bev);
	mc->mc_start = monotime_ms();
	mc->mc_attach = event_new(base, -1, 0, metrics_http_attach, mc);
	if (mc->mc_attach == NULL)
		fatalx("metrics: out of memory");
	event_active(mc->mc_attach, EV_TIMEOUT, 0);
	TAILQ_INSERT_TAIL(&mh->mh_conns, mc, mc_entry);
	mh->mh_nconns++;
	return bev;
}

/* Answer one request: /metrics, or 404. */
static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b;

	(void)arg;
	if (strcmp(uri, "/metrics") != 0 && strncmp(uri, "/metrics?", 9) != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_render(b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
	    "close");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/*
 * [metrics] listen: where to serve, or nowhere when unset. An address
 * that is not loopback gets *warning: user names are in the figures.
 */
int
metrics_http_conf(const struct conf *c, struct listen_set *ls, char **warning,
    char **cause)
{
	*warning = NULL;
	if (listen_parse(c, "metrics:listen", ls, cause) != 0)
		return -1;
	if (ls->ls_n > 0 && !listen_loopback(ls))
		xasprintf(warning,
		    "[metrics] listen = %s is not loopback only: whoever "
		    "reaches it sees user names and traffic figures",
		    ls->ls_text);
	return 0;
}

/* Serve the metrics on every address of ls. NULL, and *cause, on error. */
struct metrics_http *
metrics_http_start(struct event_base *base, struct listen_set *ls, char **cause)
{
	struct metrics_http *mh = xcalloc(1, sizeof *mh);
	struct evconnlistener *lis;
	struct timeval second = { 1, 0 };
	char s[ADDR_STRLEN];
	size_t i;

	TAILQ_INIT(&mh->mh_conns);
	mh->mh_http = evhttp_new(base);
	if (mh->mh_http == NULL) {
		free(mh);
		xasprintf(cause, "metrics: cannot make an HTTP server");
		return NULL;
	}
	evhttp_set_allowed_methods(mh->mh_http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(mh->mh_http, METRICS_HTTP_HEADERS);
	evhttp_set_max_body_size(mh->mh_http, 0);
	evhttp_set_timeout(mh->mh_http, METRICS_HTTP_TIMEOUT);
	evhttp_set_gencb(mh->mh_http, metrics_http_cb, NULL);
	evhttp_set_bevcb(mh->mh_http, metrics_http_bev, mh);
	mh->mh_sweep = event_new(base, -1, EV_PERSIST, metrics_http_sweep, mh);
	if (mh->mh_sweep == NULL || event_add(mh->mh_sweep, &second) != 0) {
		xasprintf(cause, "metrics: cannot set a timer");
		metrics_http_free(mh);
		return NULL;
	}
	for (i = 0; i < ls->ls_n; i++) {
		addr_str((struct sockaddr *)&ls->ls_ss[i], s, sizeof s);
		lis = evconnlistener_new_bind(base, NULL, NULL,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
			LEV_OPT_CLOSE_ON_EXEC,
		    128, (struct sockaddr *)&ls->ls_ss[i], (int)ls->ls_len[i]);
		if (lis == NULL ||
		    evhttp_bind_listener(mh->mh_http, lis) == NULL) {
			if (lis != NULL)
				evconnlistener_free(lis);
			xasprintf(cause, "metrics: cannot listen on %s", s);
			metrics_http_free(mh);
			return NULL;
		}
		log_info("serving metrics on http://%s/metrics", s);
	}
	return mh;
}

/* Stop serving; the listeners and connections go with the server. */
void
metrics_http_free(struct metrics_http *mh)
{
	if (mh == NULL)
		return;
	while (!TAILQ_EMPTY(&mh->mh_conns))
		metrics_http_conn_free(TAILQ_FIRST(&mh->mh_conns));
	if (mh->mh_sweep != NULL)
		event_free(mh->mh_sweep);
	evhttp_free(mh->mh_http);
	free(mh);
}
