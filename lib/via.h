/*
 * Reaching the esp through a site's existing proxy: SOCKS5 (RFC 1928, with
 * RFC 1929 login) or HTTP CONNECT (with basic auth), for [isp] via.
 */
#ifndef DP_VIA_H
#define DP_VIA_H

#include <event2/dns.h>
#include <event2/event.h>

enum via_kind { VIA_SOCKS5 = 1, VIA_HTTP = 2 };

struct via_conf {
	enum via_kind vc_kind;
	char *vc_host; /* the proxy */
	char *vc_port;
	char *vc_user; /* NULL: no login */
	char *vc_pass;
};

struct via_req;

/*
 * Done: fd >= 0 is a connected socket through which the target is reached
 * (the caller owns it); or fd -1 with err (an errno) and why (a message
 * naming the proxy and what it answered).
 */
typedef void (*via_cb)(evutil_socket_t fd, int err, const char *why, void *arg);

int via_parse(const char *url, struct via_conf *, char **cause);
void via_conf_clear(struct via_conf *);
struct via_req *via_connect(struct event_base *, struct evdns_base *,
    const struct via_conf *, const char *host, const char *port, int timeout_ms,
    via_cb, void *arg);
void via_cancel(struct via_req *);

#endif
