/*
 * Dialling a session's peer: resolve (evdns) and connect, or go through a
 * proxy (lib/via.c), then start TLS over the socket (lib/tlswire.c). The
 * isp dials its esps this way, and a client agent its esp.
 */
#ifndef DP_DIALER_H
#define DP_DIALER_H

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "via.h"

struct dialer;
struct tlswire;

/*
 * Done: bev (TLS connecting, with its wire) on success; else NULL with
 * why, a message naming the peer and what went wrong.
 */
typedef void (*dialer_cb)(struct bufferevent *, struct tlswire *,
    const char *why, void *arg);

struct dialer *dialer_start(struct event_base *, struct evdns_base *,
    const struct via_conf *, const char *host, const char *port, int timeout_ms,
    SSL *, int dead_ms, dialer_cb, void *);
void dialer_cancel(struct dialer *);
int dialer_backoff_ms(unsigned attempts, int cap_ms);

#endif
