/*
 * The socket under the session's TLS: large reads and batched writes,
 * feeding an OpenSSL filter bufferevent through a bufferevent pair.
 */
#ifndef DP_TLSWIRE_H
#define DP_TLSWIRE_H

#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

struct tlswire;

struct bufferevent *tlswire_new(struct event_base *, evutil_socket_t, SSL *,
    enum bufferevent_ssl_state, int dead_ms, struct tlswire **);
const char *tlswire_error(const struct tlswire *);
int tlswire_errno(const struct tlswire *);
size_t tlswire_pending(const struct tlswire *);
void tlswire_free(struct tlswire *);

#endif
