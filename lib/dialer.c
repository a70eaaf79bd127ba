/*
 * Dialling a session's peer (lib/dialer.h): one attempt, from name to a
 * TLS bufferevent, cancellable at every step. The SSL handed in belongs
 * to the dialer until the callback, which gets it inside the bufferevent
 * or sees it freed.
 */
#include "dialer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/rand.h>

#include "connector.h"
#include "tlswire.h"
#include "xmalloc.h"

struct dialer {
	struct event_base *d_base;
	SSL *d_ssl;
	int d_timeout_ms;
	int d_dead_ms;
	char d_peer[300];
	struct evdns_getaddrinfo_request *d_req;
	struct connector *d_conn;
	struct via_req *d_via;
	struct event *d_fail; /* a failure reported from the loop */
	int d_starting;       /* inside dialer_start: report later */
	char d_why[400];
	dialer_cb d_cb;
	void *d_arg;
};

/* The one teardown path. */
static void
dialer_free(struct dialer *d)
{
	if (d->d_req != NULL)
		evdns_getaddrinfo_cancel(d->d_req);
	if (d->d_conn != NULL)
		connector_cancel(d->d_conn);
	if (d->d_via != NULL)
		via_cancel(d->d_via);
	if (d->d_fail != NULL)
		event_free(d->d_fail);
	SSL_free(d->d_ssl);
	free(d);
}

static void dialer_failcb(evutil_socket_t, short, void *);

/*
 * Report and free; a failure found inside dialer_start is reported from
 * the loop instead, so the caller never sees its dialer freed.
 */
static void
dialer_done(struct dialer *d, struct bufferevent *bev, struct tlswire *w,
    const char *why)
{
	dialer_cb cb = d->d_cb;
	void *arg = d->d_arg;

	if (d->d_starting) {
		snprintf(d->d_why, sizeof d->d_why, "%s", why);
		d->d_fail = event_new(d->d_base, -1, 0, dialer_failcb, d);
		event_active(d->d_fail, EV_TIMEOUT, 0);
		return;
	}
	dialer_free(d);
	cb(bev, w, why, arg);
}

/* A failure found while starting, now reported. */
static void
dialer_failcb(evutil_socket_t fd, short what, void *arg)
{
	struct dialer *d = arg;
	char why[sizeof d->d_why];

	(void)fd;
	(void)what;
	snprintf(why, sizeof why, "%s", d->d_why);
	dialer_done(d, NULL, NULL, why);
}

/* The socket is connected (or not): start TLS over it. */
static void
dialer_connected(struct dialer *d, evutil_socket_t fd, int err, const char *why)
{
	struct bufferevent *bev;
	struct tlswire *w;
	char msg[sizeof d->d_why];

	if (fd < 0) {
		snprintf(msg, sizeof msg, "cannot connect to %s: %s", d->d_peer,
		    why != NULL ? why : strerror(err));
		dialer_done(d, NULL, NULL, msg);
		return;
	}
	bev = tlswire_new(d->d_base, fd, d->d_ssl, BUFFEREVENT_SSL_CONNECTING,
	    d->d_dead_ms, &w);
	if (bev == NULL) {
		evutil_closesocket(fd);
		snprintf(msg, sizeof msg, "%s: cannot set up TLS", d->d_peer);
		dialer_done(d, NULL, NULL, msg);
		return;
	}
	d->d_ssl = NULL; /* the bufferevent has it */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	dialer_done(d, bev, w, NULL);
}

/* Through the proxy. */
static void
dialer_viacb(evutil_socket_t fd, int err, const char *why, void *arg)
{
	struct dialer *d = arg;

	d->d_via = NULL;
	dialer_connected(d, fd, err, why);
}

/* Direct TCP connect finished. */
static void
dialer_connectorcb(evutil_socket_t fd, int err, void *arg)
{
	struct dialer *d = arg;

	d->d_conn = NULL;
	dialer_connected(d, fd, err, NULL);
}

/* The name resolved: connect to the first address. */
static void
dialer_resolvedcb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct dialer *d = arg;
	struct connector *cn;
	char msg[sizeof d->d_why];

	if (err == EVUTIL_EAI_CANCEL) {
		/* Called after a cancel: d may be gone. */
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	d->d_req = NULL;
	if (err != 0) {
		snprintf(msg, sizeof msg, "cannot resolve %s: %s", d->d_peer,
		    evutil_gai_strerror(err));
		dialer_done(d, NULL, NULL, msg);
		return;
	}
	cn = connector_start(d->d_base, ai->ai_addr, (socklen_t)ai->ai_addrlen,
	    d->d_timeout_ms, dialer_connectorcb, d);
	if (cn != NULL)
		d->d_conn = cn;
	evutil_freeaddrinfo(ai);
}

/*
 * Start one attempt at host:port, through the proxy if via names one.
 * The callback always runs later, from the loop, unless cancelled.
 */
struct dialer *
dialer_start(struct event_base *base, struct evdns_base *dns,
    const struct via_conf *via, const char *host, const char *port,
    int timeout_ms, SSL *ssl, int dead_ms, dialer_cb cb, void *arg)
{
	struct dialer *d = xcalloc(1, sizeof *d);
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;
	struct via_req *vr;

	d->d_base = base;
	d->d_ssl = ssl;
	d->d_timeout_ms = timeout_ms;
	d->d_dead_ms = dead_ms;
	d->d_cb = cb;
	d->d_arg = arg;
	d->d_starting = 1;
	snprintf(d->d_peer, sizeof d->d_peer, "%s:%s", host, port);
	if (via != NULL && via->vc_kind != 0) {
		vr = via_connect(base, dns, via, host, port, timeout_ms,
		    dialer_viacb, d);
		if (vr != NULL)
			d->d_via = vr;
		d->d_starting = 0;
		return d;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* NULL means the callback already ran (numeric, hosts file). */
	req = evdns_getaddrinfo(dns, host, port, &hints, dialer_resolvedcb, d);
	if (req != NULL)
		d->d_req = req;
	d->d_starting = 0;
	return d;
}

/* Give up an attempt: its callback will not run. */
void
dialer_cancel(struct dialer *d)
{
	if (d != NULL)
		dialer_free(d);
}

/* The wait before attempt n+1: 500 ms doubling, capped, times 0.75-1.25. */
int
dialer_backoff_ms(unsigned attempts, int cap_ms)
{
	unsigned shift = attempts < 16 ? attempts : 16;
	double base = 500.0 * (double)(1U << shift);
	double cap = cap_ms;
	uint32_t r = 0;

	if (base > cap)
		base = cap;
	RAND_bytes((unsigned char *)&r, sizeof r);
	base *= 0.75 + 0.5 * ((double)r / 4294967295.0);
	return (int)(base > cap ? cap : base);
}
