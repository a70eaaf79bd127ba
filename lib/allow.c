/* Destination allow lists: CIDR blocks with optional port lists. */
#include "allow.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "xmalloc.h"

/* Parse "21,80,1000-2000" into a rule's port list; no empty entry. */
static int
allow_parse_ports(struct allow_rule *r, const char *s)
{
	char *copy = xstrdup(s), *tok, *save = NULL, *dash;
	uint16_t lo, hi;

	if (*s == ',' || (*s != '\0' && s[strlen(s) - 1] == ',') ||
	    strstr(s, ",,") != NULL)
		goto fail;
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

/* A host name, ".suffix" or "*.suffix"? */
static int
allow_is_name(const char *s)
{
	const char *p = s;

	if (*p == '*')
		p++;
	if (*p == '\0' || strlen(p) > 253)
		return 0;
	for (; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' &&
		    *p != '_')
			return 0;
	return strspn(s, "0123456789.") != strlen(s);
}

/*
 * Parse one "ADDR[/LEN][:PORTS]" or "NAME[:PORTS]" item, IPv6 in brackets
 * when ports follow. A name starting with a dot (or "*.") matches every
 * name under it.
 */
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
		    (strchr(s, '.') != NULL || allow_is_name(s) ||
			strchr(s, ':') == strrchr(s, ':'))) {
			/* "1.2.3.4:80", "host.example:80" */
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
	} else if (slash == NULL && allow_is_name(addr)) {
		r->ar_family = AF_UNSPEC;
		r->ar_name = xstrdup(addr[0] == '*' ? addr + 1 : addr);
		for (end = r->ar_name; *end != '\0'; end++)
			*end = (char)tolower((unsigned char)*end);
		max = 0;
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
	free(r->ar_name);
	r->ar_ports = NULL;
	r->ar_name = NULL;
	free(s);
	return -1;
}

/*
 * Does the address have bits set beyond its prefix? They are cleared, so
 * the rule holds the block the address and prefix name.
 */
static int
allow_host_bits(struct allow_rule *r)
{
	int bytes = r->ar_family == AF_INET ? 4 : 16, i, bit, any = 0;

	for (i = r->ar_prefix; i < bytes * 8; i++) {
		bit = 0x80 >> (i % 8);
		if (r->ar_addr[i / 8] & bit) {
			any = 1;
			r->ar_addr[i / 8] &= (uint8_t)~bit;
		}
	}
	return any;
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
		if (strcasecmp(tok, "none") == 0) {
			xasprintf(cause,
			    "\"%s\" with other entries would be taken as a "
			    "host name; \"none\" alone allows nothing",
			    tok);
			free(copy);
			allow_free(al);
			return -1;
		}
		if (strcasecmp(tok, "any") == 0 ||
		    strcasecmp(tok, "all") == 0 || strcmp(tok, "*") == 0) {
			xasprintf(cause,
			    "\"%s\" would be taken as a host name; for every "
			    "address write 0.0.0.0/0 ::/0",
			    tok);
			free(copy);
			allow_free(al);
			return -1;
		}
		if (allow_parse_one(&r, tok) != 0) {
			xasprintf(cause,
			    "\"%s\" is not ADDRESS/PREFIX[:PORTS] or "
			    "NAME[:PORTS] (e.g. 10.1.0.0/16:21,80, "
			    "[2001:db8::]/32:22 or .corp.example:80)",
			    tok);
			free(copy);
			allow_free(al);
			return -1;
		}
		if (r.ar_family != AF_UNSPEC && allow_host_bits(&r)) {
			char net[INET6_ADDRSTRLEN];

			inet_ntop(r.ar_family, r.ar_addr, net, sizeof net);
			xasprintf(cause,
			    "\"%s\" has host bits set; the block is %s/%d", tok,
			    net, r.ar_prefix);
			free(r.ar_ports);
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

/* Do two addresses agree on their first pre bits? */
static int
allow_prefix_equal(const uint8_t *a, const uint8_t *b, int pre)
{
	int full = pre / 8, rest = pre % 8;
	uint8_t mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

/* Does addr fall in the rule's block? */
static int
allow_in_block(const struct allow_rule *r, const uint8_t *addr)
{
	return allow_prefix_equal(r->ar_addr, addr, r->ar_prefix);
}

/* Does a rule's port list admit port? */
static int
allow_port_ok(const struct allow_rule *r, uint16_t port)
{
	size_t j;

	if (r->ar_ports == NULL)
		return 1;
	for (j = 0; j < r->ar_nports; j++)
		if (port >= r->ar_ports[j].ap_lo &&
		    port <= r->ar_ports[j].ap_hi)
			return 1;
	return 0;
}

/* The first rule that admits the destination, or -1. */
static long allow_find_any(const struct allow *, const struct sockaddr *, int);

/* Is the destination allowed? IPv4-mapped IPv6 is checked as IPv4. */
int
allow_match(const struct allow *al, const struct sockaddr *sa)
{
	return allow_find_any(al, sa, 0) >= 0;
}

/* Is the address (any port) in some rule? For who may connect back. */
int
allow_match_host(const struct allow *al, const struct sockaddr *sa)
{
	return allow_find_any(al, sa, 1) >= 0;
}

/* Which rule allow_match() goes by: its index, or -1 for none. */
long
allow_find(const struct allow *al, const struct sockaddr *sa)
{
	return allow_find_any(al, sa, 0);
}

/* The check behind allow_match and allow_match_host. */
static long
allow_find_any(const struct allow *al, const struct sockaddr *sa, int any_port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const uint8_t *addr;
	uint16_t port;
	int family;
	size_t i;

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
		return -1;
	for (i = 0; i < al->al_n; i++) {
		const struct allow_rule *r = &al->al_rules[i];

		if (r->ar_family == family && allow_in_block(r, addr) &&
		    (any_port || allow_port_ok(r, port)))
			return (long)i;
	}
	return -1;
}

/* Is a name (and port) allowed by a name rule? Case-insensitive. */
int
allow_match_name(const struct allow *al, const char *name, uint16_t port)
{
	return allow_find_name(al, name, port) >= 0;
}

/* Which name rule allow_match_name() goes by, or -1. */
long
allow_find_name(const struct allow *al, const char *name, uint16_t port)
{
	size_t i, n = strlen(name), m;
	const struct allow_rule *r;

	while (n > 0 && name[n - 1] == '.')
		n--;
	for (i = 0; i < al->al_n; i++) {
		r = &al->al_rules[i];
		if (r->ar_name == NULL || !allow_port_ok(r, port))
			continue;
		m = strlen(r->ar_name);
		if (r->ar_name[0] == '.') {
			if ((n > m &&
				strncasecmp(name + n - m, r->ar_name, m) ==
				    0) ||
			    (n == m - 1 &&
				strncasecmp(name, r->ar_name + 1, n) == 0))
				return (long)i;
		} else if (n == m && strncasecmp(name, r->ar_name, n) == 0)
			return (long)i;
	}
	return -1;
}

/*
 * A rule as the list would spell it: "10.1.0.0/16:21,80",
 * "[2001:db8::]/32:22", ".corp.example:80"; into buf.
 */
const char *
allow_rule_str(const struct allow_rule *r, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	size_t j, o;

	if (r->ar_name != NULL)
		snprintf(buf, len, "%s", r->ar_name);
	else {
		inet_ntop(r->ar_family, r->ar_addr, host, sizeof host);
		snprintf(buf, len,
		    r->ar_family == AF_INET6 ? "[%s]/%d" : "%s/%d", host,
		    r->ar_prefix);
	}
	for (j = 0; j < r->ar_nports; j++) {
		o = strlen(buf);
		if (r->ar_ports[j].ap_lo == r->ar_ports[j].ap_hi)
			snprintf(buf + o, len - o, "%c%u", j ? ',' : ':',
			    r->ar_ports[j].ap_lo);
		else
			snprintf(buf + o, len - o, "%c%u-%u", j ? ',' : ':',
			    r->ar_ports[j].ap_lo, r->ar_ports[j].ap_hi);
	}
	return buf;
}

/* Does the list have any name rules? */
int
allow_has_names(const struct allow *al)
{
	size_t i;

	for (i = 0; i < al->al_n; i++)
		if (al->al_rules[i].ar_name != NULL)
			return 1;
	return 0;
}

/*
 * Do two lists claim a common network (or name)? Writes the first pair
 * found into buf. Ports are not considered: networks are served whole.
 */
int
allow_overlap(const struct allow *a, const struct allow *b, char *buf,
    size_t len)
{
	const struct allow_rule *x, *y;
	char s1[INET6_ADDRSTRLEN], s2[INET6_ADDRSTRLEN];
	size_t i, j;
	int pre;

	for (i = 0; i < a->al_n; i++) {
		x = &a->al_rules[i];
		for (j = 0; j < b->al_n; j++) {
			y = &b->al_rules[j];
			if (x->ar_name != NULL || y->ar_name != NULL) {
				if (x->ar_name == NULL || y->ar_name == NULL ||
				    strcasecmp(x->ar_name, y->ar_name) != 0)
					continue;
				snprintf(buf, len, "%s", x->ar_name);
				return 1;
			}
			if (x->ar_family != y->ar_family)
				continue;
			pre = x->ar_prefix < y->ar_prefix ? x->ar_prefix
							  : y->ar_prefix;
			if (allow_prefix_equal(x->ar_addr, y->ar_addr, pre)) {
				inet_ntop(x->ar_family, x->ar_addr, s1,
				    sizeof s1);
				inet_ntop(y->ar_family, y->ar_addr, s2,
				    sizeof s2);
				snprintf(buf, len, "%s/%d and %s/%d", s1,
				    x->ar_prefix, s2, y->ar_prefix);
				return 1;
			}
		}
	}
	return 0;
}

/* Free a list. */
void
allow_free(struct allow *al)
{
	size_t i;

	for (i = 0; i < al->al_n; i++) {
		free(al->al_rules[i].ar_ports);
		free(al->al_rules[i].ar_name);
	}
	free(al->al_rules);
	memset(al, 0, sizeof *al);
}
