/* Destination allow lists: CIDR blocks with optional port lists. */
#include "allow.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "xmalloc.h"

/* Parse "21,80,1000-2000" into a rule's port list. */
static int
allow_parse_ports(struct allow_rule *r, const char *s)
{
	char *copy = xstrdup(s), *tok, *save = NULL, *dash;
	uint16_t lo, hi;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if ((dash = strchr(tok, '-')) != NULL) {
			*dash = '\0';
			if (addr_port_parse(tok, &lo) != 0 ||
			    addr_port_parse(dash + 1, &hi) != 0 || lo > hi)
				goto fail;
		} else {
			if (addr_port_parse(tok, &lo) != 0)
				goto fail;
			hi = lo;
		}
		r->ar_ports = xrealloc(r->ar_ports,
		    (r->ar_nports + 1) * sizeof *r->ar_ports);
		r->ar_ports[r->ar_nports].ap_lo = lo;
		r->ar_ports[r->ar_nports].ap_hi = hi;
		r->ar_nports++;
	}
	free(copy);
	return r->ar_nports > 0 ? 0 : -1;
fail:
	free(copy);
	return -1;
}

/* Parse one "ADDR[/LEN][:PORTS]" item, IPv6 in brackets when ports follow. */
static int
allow_parse_one(struct allow_rule *r, const char *item)
{
	char *s = xstrdup(item), *addr = s, *slash, *ports = NULL, *end;
	long len;
	int max;

	memset(r, 0, sizeof *r);
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL)
			goto fail;
		*end = '\0';
		addr = s + 1;
		if (end[1] == '/') {
			slash = end + 1;
			if ((ports = strchr(slash, ':')) != NULL)
				*ports++ = '\0';
		} else if (end[1] == ':') {
			slash = NULL;
			ports = end + 2;
		} else if (end[1] == '\0')
			slash = NULL;
		else
			goto fail;
	} else {
		if (strchr(s, '/') == NULL && strchr(s, ':') != NULL &&
		    strchr(s, '.') != NULL) {
			/* "1.2.3.4:80" */
			ports = strchr(s, ':');
			*ports++ = '\0';
			slash = NULL;
		} else if ((slash = strchr(s, '/')) != NULL) {
			if ((ports = strchr(slash, ':')) != NULL)
				*ports++ = '\0';
		}
	}
	if (slash != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, addr, r->ar_addr) == 1) {
		r->ar_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, r->ar_addr) == 1) {
		r->ar_family = AF_INET6;
		max = 128;
	} else
		goto fail;
	r->ar_prefix = max;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9')
			goto fail;
		len = strtol(slash, &end, 10);
		if (*end != '\0' || len < 0 || len > max)
			goto fail;
		r->ar_prefix = (int)len;
	}
	if (ports != NULL && allow_parse_ports(r, ports) != 0)
		goto fail;
	free(s);
	return 0;
fail:
	free(r->ar_ports);
	r->ar_ports = NULL;
	free(s);
	return -1;
}

/* Parse a whitespace-separated list; "" and "none" allow nothing. */
int
allow_parse(struct allow *al, const char *text, char **cause)
{
	char *copy, *tok, *save = NULL;
	struct allow_rule r;

	memset(al, 0, sizeof *al);
	if (text == NULL || strcmp(text, "none") == 0)
		return 0;
	copy = xstrdup(text);
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (allow_parse_one(&r, tok) != 0) {
			xasprintf(cause,
			    "\"%s\" is not ADDRESS/PREFIX[:PORTS] "
			    "(e.g. 10.1.0.0/16:21,80 or [2001:db8::]/32:22)",
			    tok);
			free(copy);
			allow_free(al);
			return -1;
		}
		al->al_rules = xrealloc(al->al_rules,
		    (al->al_n + 1) * sizeof *al->al_rules);
		al->al_rules[al->al_n++] = r;
	}
	free(copy);
	return 0;
}

/* Does addr fall in the rule's block? */
static int
allow_in_block(const struct allow_rule *r, const uint8_t *addr)
{
	int full = r->ar_prefix / 8, rest = r->ar_prefix % 8;
	uint8_t mask;

	if (memcmp(r->ar_addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (r->ar_addr[full] & mask) == (addr[full] & mask);
}

/* Is the destination allowed? IPv4-mapped IPv6 is checked as IPv4. */
int
allow_match(const struct allow *al, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const uint8_t *addr;
	uint16_t port;
	int family;
	size_t i, j;

	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		addr = (const uint8_t *)&sin->sin_addr;
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			family = AF_INET;
			addr = (const uint8_t *)&sin6->sin6_addr + 12;
		} else {
			family = AF_INET6;
			addr = (const uint8_t *)&sin6->sin6_addr;
		}
	} else
		return 0;
	for (i = 0; i < al->al_n; i++) {
		const struct allow_rule *r = &al->al_rules[i];

		if (r->ar_family != family || !allow_in_block(r, addr))
			continue;
		if (r->ar_ports == NULL)
			return 1;
		for (j = 0; j < r->ar_nports; j++)
			if (port >= r->ar_ports[j].ap_lo &&
			    port <= r->ar_ports[j].ap_hi)
				return 1;
	}
	return 0;
}

/* Free a list. */
void
allow_free(struct allow *al)
{
	size_t i;

	for (i = 0; i < al->al_n; i++)
		free(al->al_rules[i].ar_ports);
	free(al->al_rules);
	memset(al, 0, sizeof *al);
}
