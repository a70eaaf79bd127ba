/* Socket address helpers: parsing, printing, endpoint conversion. */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "xmalloc.h"

/* Split "host:port" or "[v6]:port"; returns -1 if there is no port. */
int
addr_split_hostport(const char *s, char **host, char **port)
{
	const char *colon, *end;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		*host = xstrndup(s + 1, (size_t)(end - s - 1));
		*port = xstrdup(end + 2);
	} else {
		if ((colon = strrchr(s, ':')) == NULL || colon == s)
			return -1;
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1; /* bare IPv6 needs brackets */
		*host = xstrndup(s, (size_t)(colon - s));
		*port = xstrdup(colon + 1);
	}
	if (**port == '\0' || **host == '\0') {
		free(*host);
		free(*port);
		*host = *port = NULL;
		return -1;
	}
	return 0;
}

/* Parse a decimal port 1-65535. */
int
addr_port_parse(const char *s, uint16_t *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* Numeric IPv4 or IPv6 address and port into a sockaddr. */
int
addr_parse_numeric(const char *host, const char *port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	uint16_t p;

	if (addr_port_parse(port, &p) != 0)
		return -1;
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(p);
		*len = sizeof *sin;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p);
		*len = sizeof *sin6;
		return 0;
	}
	return -1;
}

/* Print "a.b.c.d:p" or "[v6]:p". */
const char *
addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	switch (sa->sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &sin->sin_addr, h, sizeof h);
		snprintf(buf, len, "%s:%u", h, ntohs(sin->sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &sin6->sin6_addr, h, sizeof h);
		snprintf(buf, len, "[%s]:%u", h, ntohs(sin6->sin6_port));
		break;
	case AF_UNIX:
		snprintf(buf, len, "unix");
		break;
	default:
		snprintf(buf, len, "?");
	}
	return buf;
}

/* A sockaddr as a frame endpoint. */
void
addr_to_endpoint(const struct sockaddr *sa, struct endpoint *ep)
{
	memset(ep, 0, sizeof *ep);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		ep->ep_atyp = ATYP_IPV4;
		ep->ep_len = 4;
		memcpy(ep->ep_addr, &sin->sin_addr, 4);
		ep->ep_port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;

		ep->ep_atyp = ATYP_IPV6;
		ep->ep_len = 16;
		memcpy(ep->ep_addr, &sin6->sin6_addr, 16);
		ep->ep_port = ntohs(sin6->sin6_port);
	}
}

/* A numeric endpoint as a sockaddr; -1 for names and empty endpoints. */
int
addr_from_endpoint(const struct endpoint *ep, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	switch (ep->ep_atyp) {
	case ATYP_IPV4:
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ep->ep_addr, 4);
		sin->sin_port = htons(ep->ep_port);
		*len = sizeof *sin;
		return 0;
	case ATYP_IPV6:
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ep->ep_addr, 16);
		sin6->sin6_port = htons(ep->ep_port);
		*len = sizeof *sin6;
		return 0;
	}
	return -1;
}

/*
 * Is a name endpoint a host name: letters, digits, '-', '_' and '.', at
 * most 253 bytes? Anything else is never resolved.
 */
int
endpoint_name_ok(const struct endpoint *ep)
{
	size_t i;
	int c;

	if (ep->ep_atyp != ATYP_NAME || ep->ep_len == 0 || ep->ep_len > 253)
		return 0;
	for (i = 0; i < ep->ep_len; i++) {
		c = ep->ep_addr[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return 0;
	}
	return 1;
}

/* Print an endpoint for a log line: a name is escaped. */
const char *
endpoint_str(const struct endpoint *ep, char *buf, size_t len)
{
	char name[ADDR_STRLEN];

	if (ep->ep_atyp != ATYP_NAME)
		return endpoint_raw(ep, buf, len);
	esc_bytes(name, sizeof name - 8, ep->ep_addr, ep->ep_len, ESC_QUOTES);
	snprintf(buf, len, "%s:%u", name, ep->ep_port);
	return buf;
}

/* Print an endpoint as it is, a name unescaped (for audit values). */
const char *
endpoint_raw(const struct endpoint *ep, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (ep->ep_atyp == ATYP_NAME)
		snprintf(buf, len, "%.*s:%u", ep->ep_len,
		    (const char *)ep->ep_addr, ep->ep_port);
	else if (addr_from_endpoint(ep, &ss, &sl) == 0)
		addr_str((struct sockaddr *)&ss, buf, len);
	else
		snprintf(buf, len, "-");
	return buf;
}

/* Same host, comparing IPv4-mapped IPv6 as IPv4. */
int
endpoint_same_host(const struct endpoint *a, const struct endpoint *b)
{
	const uint8_t *pa = a->ep_addr, *pb = b->ep_addr;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		0xff };

	if (a->ep_atyp == ATYP_IPV6 && memcmp(pa, mapped, 12) == 0 &&
	    b->ep_atyp == ATYP_IPV4)
		return memcmp(pa + 12, pb, 4) == 0;
	if (b->ep_atyp == ATYP_IPV6 && memcmp(pb, mapped, 12) == 0 &&
	    a->ep_atyp == ATYP_IPV4)
		return memcmp(pb + 12, pa, 4) == 0;
	return a->ep_atyp == b->ep_atyp && a->ep_atyp != ATYP_NAME &&
	    a->ep_len == b->ep_len && memcmp(pa, pb, a->ep_len) == 0;
}

/*
 * Is this one of this host's own addresses (loopback, IPv4-mapped or not,
 * and the unspecified address included)? 1 yes,
 * 0 no, -1 cannot tell (the list of addresses could not be read): a
 * caller refuses on -1 whichever answer it wants.
 */
int
endpoint_is_local(const struct endpoint *ep)
{
	struct ifaddrs *ifs, *i;
	struct endpoint me;
	int own = 0;

	static const uint8_t zero[16], mapped[12] = { [10] = 0xff, 0xff };
	const uint8_t *v4 = NULL;

	if (ep->ep_atyp == ATYP_IPV4)
		v4 = ep->ep_addr;
	else if (ep->ep_atyp == ATYP_IPV6 &&
	    memcmp(ep->ep_addr, mapped, sizeof mapped) == 0)
		v4 = ep->ep_addr + 12;
	/* Loopback, and the unspecified address, which reaches this host. */
	if ((v4 != NULL && (v4[0] == 127 || memcmp(v4, zero, 4) == 0)) ||
	    (ep->ep_atyp == ATYP_IPV6 &&
		(memcmp(ep->ep_addr, &in6addr_loopback, 16) == 0 ||
		    memcmp(ep->ep_addr, zero, 16) == 0)))
		return 1;
	if (getifaddrs(&ifs) != 0)
		return -1;
	for (i = ifs; i != NULL && !own; i = i->ifa_next) {
		if (i->ifa_addr == NULL ||
		    (i->ifa_addr->sa_family != AF_INET &&
			i->ifa_addr->sa_family != AF_INET6))
			continue;
		addr_to_endpoint(i->ifa_addr, &me);
		own = endpoint_same_host(ep, &me);
	}
	freeifaddrs(ifs);
	return own;
}
