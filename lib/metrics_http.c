/*
 * The metrics endpoint: GET /metrics over plain HTTP with libevent's
 * evhttp, on [metrics] listen. Requests are small and idle clients are
 * cut off: headers up to 8 KiB, no body, 10 s without a byte (evhttp's
 * timeout restarts with each read, so it is no deadline per request).
 */
#include "metrics_http.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define METRICS_HTTP_TIMEOUT 10
#define METRICS_HTTP_HEADERS 8192

struct metrics_http {
	struct evhttp *mh_http;
};

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
	char s[ADDR_STRLEN];
	size_t i;

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

/* Stop serving; the listeners go with the server. */
void
metrics_http_free(struct metrics_http *mh)
{
	if (mh == NULL)
		return;
	evhttp_free(mh->mh_http);
	free(mh);
}
