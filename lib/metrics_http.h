/* The Prometheus endpoint, [metrics] listen, served with evhttp. */
#ifndef DP_METRICS_HTTP_H
#define DP_METRICS_HTTP_H

#include <event2/event.h>

#include "listen.h"

struct metrics_http;
struct conf;

int metrics_http_conf(const struct conf *, struct listen_set *, char **warning,
    char **cause);

struct metrics_http *metrics_http_start(struct event_base *,
    struct listen_set *, char **cause);
void metrics_http_free(struct metrics_http *);

#endif
