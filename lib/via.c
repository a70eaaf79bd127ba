/* Reaching the esp through a site's proxy (stub until implemented). */
#include "via.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* Parse socks5://[user:pass@]host:port or http://[user:pass@]host:port. */
int
via_parse(const char *url, struct via_conf *vc, char **cause)
{
	(void)vc;
	xasprintf(cause, "\"%s\": proxies are not supported yet", url);
	return -1;
}

/* Forget a parsed proxy. */
void
via_conf_clear(struct via_conf *vc)
{
	free(vc->vc_host);
	free(vc->vc_port);
	free(vc->vc_user);
	free(vc->vc_pass);
	memset(vc, 0, sizeof *vc);
}

/* Connect through the proxy. */
struct via_req *
via_connect(struct event_base *base, struct evdns_base *dns,
    const struct via_conf *vc, const char *host, const char *port,
    int timeout_ms, via_cb cb, void *arg)
{
	(void)base;
	(void)dns;
	(void)vc;
	(void)host;
	(void)port;
	(void)timeout_ms;
	cb(-1, 0, "proxies are not supported yet", arg);
	return NULL;
}

/* Give up on a proxy connect. */
void
via_cancel(struct via_req *vr)
{
	(void)vr;
}
