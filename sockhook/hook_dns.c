/* sockhook: name lookups; names under a dns suffix get placeholders. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockhook.h"

#define HOOK __attribute__((visibility("default")))

/* A hostent for name/addr (network order) laid out in buf. */
static int
hook_hostent(struct hostent *h, char *buf, size_t len, const char *name,
    uint32_t addr)
{
	char **list;
	size_t need, nl = strlen(name) + 1;

	need = 3 * sizeof(char *) + sizeof addr + nl;
	if (len < need + sizeof(char *))
		return ERANGE;
	/* Pointers first, at an aligned address. */
	list = (char **)(void *)(((uintptr_t)buf + sizeof(char *) - 1) &
	    ~(uintptr_t)(sizeof(char *) - 1));
	memcpy((char *)(list + 3), &addr, sizeof addr);
	memcpy((char *)(list + 3) + sizeof addr, name, nl);
	list[0] = (char *)(list + 3);
	list[1] = NULL;
	list[2] = NULL;
	h->h_name = (char *)(list + 3) + sizeof addr;
	h->h_aliases = &list[2];
	h->h_addrtype = AF_INET;
	h->h_length = sizeof addr;
	h->h_addr_list = &list[0];
	return 0;
}

static uint32_t hook_placeholder(const struct sockaddr *, socklen_t);

/* Is name an address written out (the program's own, not an answer)? */
static int
hook_numeric(const char *name)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, name, &a4) == 1 ||
	    inet_pton(AF_INET6, name, &a6) == 1;
}

/*
 * An answer for an outside name never holds a placeholder address: those
 * are this process's to give, and a hostile resolver that answered with
 * one would aim the connect at an inside name. They are dropped; 0, or
 * EAI_NONAME when none is left. Without a dns suffix there are no
 * placeholders, and the range is an address like any other.
 */
static int
hook_ai_clean(const char *node, struct addrinfo **res)
{
	struct addrinfo **pp = res, *ai;

	if (sh_conf.nsuffix == 0)
		return 0;
	while ((ai = *pp) != NULL) {
		if (hook_placeholder(ai->ai_addr, ai->ai_addrlen) == 0) {
			pp = &ai->ai_next;
			continue;
		}
		shlog_warnx("%s: an answer in 198.18.0.0/15 from outside, "
			    "dropped (such addresses stand for inside names)",
		    node);
		*pp = ai->ai_next;
		ai->ai_next = NULL;
		freeaddrinfo(ai);
	}
	return *res == NULL ? EAI_NONAME : 0;
}

/* The same for a hostent: 0, or -1 when no address is left. */
static int
hook_he_clean(const char *name, struct hostent *h)
{
	char **src, **dst;
	uint32_t a;

	if (sh_conf.nsuffix == 0 || h == NULL || h->h_addrtype != AF_INET ||
	    h->h_length != 4)
		return 0;
	for (src = dst = h->h_addr_list; *src != NULL; src++) {
		memcpy(&a, *src, 4);
		if (dns_is_placeholder(ntohl(a))) {
			shlog_warnx("%s: an answer in 198.18.0.0/15 from "
				    "outside, dropped (such addresses stand "
				    "for inside names)",
			    name);
			continue;
		}
		*dst++ = *src;
	}
	*dst = NULL;
	return h->h_addr_list[0] == NULL ? -1 : 0;
}

/* getaddrinfo(3): an inside name gets its placeholder address. */
HOOK int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	struct addrinfo h;
	char num[64];
	uint32_t a;
	int family, rc;

	real_ready();
	if (node == NULL ||
	    (hints != NULL && (hints->ai_flags & AI_NUMERICHOST)))
		return real.getaddrinfo(node, service, hints, res);
	if (!dns_is_inside(node)) {
		if ((rc = real.getaddrinfo(node, service, hints, res)) != 0 ||
		    hook_numeric(node))
			return rc;
		return hook_ai_clean(node, res);
	}
	memset(&h, 0, sizeof h);
	if (hints != NULL)
		h = *hints;
	family = h.ai_family;
	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
		return EAI_FAMILY;
	if (family == AF_INET6 && !(h.ai_flags & AI_V4MAPPED))
		return EAI_NONAME;
	if (dns_lookup(node, &a) != 0)
		return EAI_AGAIN;
	snprintf(num, sizeof num, "%s%u.%u.%u.%u",
	    family == AF_INET6 ? "::ffff:" : "", a >> 24, (a >> 16) & 0xff,
	    (a >> 8) & 0xff, a & 0xff);
	h.ai_family = family == AF_INET6 ? AF_INET6 : AF_INET;
	h.ai_flags &= AI_PASSIVE | AI_NUMERICSERV;
	h.ai_flags |= AI_NUMERICHOST;
	h.ai_addr = NULL;
	h.ai_canonname = NULL;
	h.ai_next = NULL;
	shlog_debug("resolve %s inside: %s", node, num);
	if ((rc = real.getaddrinfo(num, service, &h, res)) != 0)
		return rc;
	if (hints != NULL && (hints->ai_flags & AI_CANONNAME) &&
	    (*res)->ai_canonname == NULL)
		(*res)->ai_canonname = strdup(node);
	return 0;
}

/* The placeholder in sa, or 0. */
static uint32_t
hook_placeholder(const struct sockaddr *sa, socklen_t len)
{
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	uint32_t a;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET && len >= sizeof *sin)
		a = ntohl(sin->sin_addr.s_addr);
	else if (sa->sa_family == AF_INET6 && len >= sizeof *sin6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(&a, &sin6->sin6_addr.s6_addr[12], 4);
		a = ntohl(a);
	} else
		return 0;
	return dns_is_placeholder(a) ? a : 0;
}

/* getnameinfo(3): a placeholder maps back to its name. */
HOOK int
getnameinfo(const struct sockaddr *sa, socklen_t len, char *host,
    socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	char name[256];
	uint32_t a;
	int rc;

	real_ready();
	if (host == NULL || hostlen == 0 || (flags & NI_NUMERICHOST) ||
	    (a = hook_placeholder(sa, len)) == 0 ||
	    dns_reverse(a, name, sizeof name) == NULL)
		return real.getnameinfo(sa, len, host, hostlen, serv, servlen,
		    flags);
	if (serv != NULL && servlen > 0 &&
	    (rc = real.getnameinfo(sa, len, NULL, 0, serv, servlen, flags)) !=
		0)
		return rc;
	if (strlen(name) >= hostlen)
		return EAI_OVERFLOW;
	strcpy(host, name);
	return 0;
}

static __thread struct hostent hook_he;
static __thread char hook_hebuf[512];

/* gethostbyname(3). */
HOOK struct hostent *
gethostbyname(const char *name)
{
	uint32_t a;

	real_ready();
	if (!dns_is_inside(name)) {
		struct hostent *h = real.gethostbyname(name);

		if (!hook_numeric(name) && hook_he_clean(name, h) != 0) {
			h_errno = HOST_NOT_FOUND;
			return NULL;
		}
		return h;
	}
	if (dns_lookup(name, &a) != 0 ||
	    hook_hostent(&hook_he, hook_hebuf, sizeof hook_hebuf, name,
		htonl(a)) != 0) {
		h_errno = TRY_AGAIN;
		return NULL;
	}
	return &hook_he;
}

/* gethostbyname2(3): inside names have IPv4 placeholders only. */
HOOK struct hostent *
gethostbyname2(const char *name, int af)
{
	real_ready();
	if (!dns_is_inside(name)) {
		struct hostent *h = real.gethostbyname2(name, af);

		if (!hook_numeric(name) && hook_he_clean(name, h) != 0) {
			h_errno = HOST_NOT_FOUND;
			return NULL;
		}
		return h;
	}
	if (af != AF_INET) {
		h_errno = NO_DATA;
		return NULL;
	}
	return gethostbyname(name);
}

/* gethostbyname2_r(3). */
HOOK int
gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
    size_t len, struct hostent **result, int *herr)
{
	uint32_t a;
	int rc;

	real_ready();
	if (!dns_is_inside(name)) {
		rc = real.gethostbyname2_r(name, af, ret, buf, len, result,
		    herr);
		if (rc == 0 && *result != NULL && !hook_numeric(name) &&
		    hook_he_clean(name, *result) != 0) {
			*result = NULL;
			*herr = HOST_NOT_FOUND;
		}
		return rc;
	}
	*result = NULL;
	if (af != AF_INET) {
		*herr = NO_DATA;
		return 0;
	}
	if (dns_lookup(name, &a) != 0) {
		*herr = TRY_AGAIN;
		return EAGAIN;
	}
	if ((rc = hook_hostent(ret, buf, len, name, htonl(a))) != 0) {
		*herr = NETDB_INTERNAL;
		return rc;
	}
	*result = ret;
	*herr = 0;
	return 0;
}

/* gethostbyname_r(3). */
HOOK int
gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len,
    struct hostent **result, int *herr)
{
	real_ready();
	if (!dns_is_inside(name)) {
		int rc =
		    real.gethostbyname_r(name, ret, buf, len, result, herr);

		if (rc == 0 && *result != NULL && !hook_numeric(name) &&
		    hook_he_clean(name, *result) != 0) {
			*result = NULL;
			*herr = HOST_NOT_FOUND;
		}
		return rc;
	}
	return gethostbyname2_r(name, AF_INET, ret, buf, len, result, herr);
}

/* gethostbyaddr_r(3): a placeholder maps back to its name. */
HOOK int
gethostbyaddr_r(const void *addr, socklen_t alen, int type, struct hostent *ret,
    char *buf, size_t len, struct hostent **result, int *herr)
{
	char name[256];
	uint32_t a = 0;
	int rc;

	real_ready();
	if (type == AF_INET && alen == 4)
		memcpy(&a, addr, 4);
	a = ntohl(a);
	if (!dns_is_placeholder(a) || dns_reverse(a, name, sizeof name) == NULL)
		return real.gethostbyaddr_r(addr, alen, type, ret, buf, len,
		    result, herr);
	*result = NULL;
	if ((rc = hook_hostent(ret, buf, len, name, htonl(a))) != 0) {
		*herr = NETDB_INTERNAL;
		return rc;
	}
	*result = ret;
	*herr = 0;
	return 0;
}

/* gethostbyaddr(3). */
HOOK struct hostent *
gethostbyaddr(const void *addr, socklen_t alen, int type)
{
	struct hostent *r;
	int herr;

	real_ready();
	if (type != AF_INET || alen != 4)
		return real.gethostbyaddr(addr, alen, type);
	if (gethostbyaddr_r(addr, alen, type, &hook_he, hook_hebuf,
		sizeof hook_hebuf, &r, &herr) != 0 ||
	    r == NULL) {
		h_errno = herr;
		return NULL;
	}
	return r;
}
