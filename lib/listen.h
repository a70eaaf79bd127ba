/* A door: the addresses it listens on, and their listeners. */
#ifndef DP_LISTEN_H
#define DP_LISTEN_H

#include <sys/socket.h>

#include <event2/listener.h>

#define LISTEN_MAX 8

struct conf;

struct listen_set {
	size_t ls_n;
	struct sockaddr_storage ls_ss[LISTEN_MAX];
	socklen_t ls_len[LISTEN_MAX];
	struct evconnlistener *ls_lis[LISTEN_MAX];
	char *ls_text; /* as configured */
};

int listen_parse(const struct conf *, const char *key, struct listen_set *,
    char **cause);
int listen_clash(const struct conf *, const char *key,
    const struct listen_set *, const struct listen_set *, char **cause);
int listen_loopback(const struct listen_set *);
void listen_start(struct event_base *, const char *what, struct listen_set *,
    evconnlistener_cb, void *);
void listen_stop(struct listen_set *);
void listen_clear(struct listen_set *);

#endif
