/*
 * A door, on one or more addresses: "127.0.0.1:1080
 * [::1]:1080". Numeric addresses only; two doors may not share one.
 */
#include "listen.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "xmalloc.h"

/* Read a door's list of ADDRESS:PORT. 0 (ls_n 0 when unset), or -1. */
int
listen_parse(const struct conf *c, const char *key, struct listen_set *ls,
    char **cause)
{
	const char *v = conf_str(c, key, NULL);
	char *copy, *tok, *save = NULL, *host, *port;
	size_t i;
	int rc = 0;

	memset(ls, 0, sizeof *ls);
	if (v == NULL)
		return 0;
	ls->ls_text = xstrdup(v);
	copy = xstrdup(v);
	for (tok = strtok_r(copy, " \t", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (ls->ls_n == LISTEN_MAX) {
			rc = conf_error(cause, c, key, "more than %d addresses",
			    LISTEN_MAX);
			break;
		}
		if (addr_split_hostport(tok, &host, &port) != 0) {
			rc = conf_error(cause, c, key,
			    "\"%s\" is not ADDRESS:PORT (IPv6 as [addr]:port)",
			    tok);
			break;
		}
		rc = addr_parse_numeric(host, port, &ls->ls_ss[ls->ls_n],
		    &ls->ls_len[ls->ls_n]);
		free(host);
		free(port);
		if (rc != 0) {
			rc = conf_error(cause, c, key,
			    "\"%s\" needs a numeric address and a port 1-65535",
			    tok);
			break;
		}
		for (i = 0; i < ls->ls_n; i++)
			if (ls->ls_len[i] == ls->ls_len[ls->ls_n] &&
			    memcmp(&ls->ls_ss[i], &ls->ls_ss[ls->ls_n],
				ls->ls_len[i]) == 0)
				rc = conf_error(cause, c, key,
				    "\"%s\" is listed twice", tok);
		ls->ls_n++;
	}
	free(copy);
	if (rc == 0 && ls->ls_n == 0)
		rc = conf_error(cause, c, key, "empty (e.g. 0.0.0.0:4430)");
	return rc;
}

/* Do two doors share an address and port? Then key (b's) is refused. */
int
listen_clash(const struct conf *c, const char *key, const struct listen_set *a,
    const struct listen_set *b, char **cause)
{
	char s[ADDR_STRLEN];
	size_t i, j;

	for (i = 0; i < a->ls_n; i++)
		for (j = 0; j < b->ls_n; j++)
			if (a->ls_len[i] == b->ls_len[j] &&
			    memcmp(&a->ls_ss[i], &b->ls_ss[j], a->ls_len[i]) ==
				0)
				return conf_error(cause, c, key,
				    "%s is another door's address and port "
				    "already",
				    addr_str((const struct sockaddr *)&b
						 ->ls_ss[j],
					s, sizeof s));
	return 0;
}

/* Are all addresses loopback ones (127/8, ::1)? */
int
listen_loopback(const struct listen_set *ls)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	size_t i;

	for (i = 0; i < ls->ls_n; i++) {
		sin = (const struct sockaddr_in *)&ls->ls_ss[i];
		sin6 = (const struct sockaddr_in6 *)&ls->ls_ss[i];
		if (ls->ls_ss[i].ss_family == AF_INET &&
		    (ntohl(sin->sin_addr.s_addr) >> 24) == 127)
			continue;
		if (ls->ls_ss[i].ss_family == AF_INET6 &&
		    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			continue;
		return 0;
	}
	return 1;
}

/* accept() failed (e.g. out of descriptors): say so. */
static void
listen_errorcb(struct evconnlistener *lis, void *arg)
{
	(void)lis;
	(void)arg;
	log_warn("accept");
}

/* Listen on every address of a door; a failure is fatal at start. */
void
listen_start(struct event_base *base, const char *what, struct listen_set *ls,
    evconnlistener_cb cb, void *arg)
{
	char s[ADDR_STRLEN];
	size_t i;

	for (i = 0; i < ls->ls_n; i++) {
		addr_str((struct sockaddr *)&ls->ls_ss[i], s, sizeof s);
		ls->ls_lis[i] = evconnlistener_new_bind(base, cb, arg,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
			LEV_OPT_CLOSE_ON_EXEC,
		    512, (struct sockaddr *)&ls->ls_ss[i], (int)ls->ls_len[i]);
		if (ls->ls_lis[i] == NULL)
			fatal("cannot listen for %s on %s", what, s);
		evconnlistener_set_error_cb(ls->ls_lis[i], listen_errorcb);
		log_info("listening for %s on %s", what, s);
	}
}

/* Stop listening (draining). */
void
listen_stop(struct listen_set *ls)
{
	size_t i;

	for (i = 0; i < ls->ls_n; i++) {
		if (ls->ls_lis[i] != NULL)
			evconnlistener_free(ls->ls_lis[i]);
		ls->ls_lis[i] = NULL;
	}
}

/* Stop and forget. */
void
listen_clear(struct listen_set *ls)
{
	listen_stop(ls);
	free(ls->ls_text);
	memset(ls, 0, sizeof *ls);
}
