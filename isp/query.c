/*
 * isp -Q: may this user reach this destination, and why. The answer is
 * worked out as isp/inside.c and esp/esp.c decide an open, with the same
 * functions, on the policy as loaded and on the esp's copy of it.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "isp.h"

#define QUERY_ALLOWED 0
#define QUERY_REFUSED 1
#define QUERY_USAGE   2

struct query {
	const struct policy *q_policy;
	char q_answer[1024]; /* "allowed: ..." or "refused: ..." */
	const char *q_user;  /* "" for anonymous */
	char *q_host;
	uint16_t q_port;
	int q_numeric;
	struct sockaddr_storage q_addr; /* numeric destinations */
	char q_dst[ADDR_STRLEN];        /* as the answer names it */
};

/* The host of HOST:PORT: an address, or a name as the isp takes one. */
static int
query_parse_host(struct query *q, const char *hostport, const char *port)
{
	struct endpoint ep;
	socklen_t sl;
	size_t len = strlen(q->q_host);

	q->q_numeric =
	    addr_parse_numeric(q->q_host, port, &q->q_addr, &sl) == 0;
	if (q->q_numeric && hostport[0] == '[' &&
	    q->q_addr.ss_family != AF_INET6) {
		fprintf(stderr,
		    "isp: -Q: \"%s\": only an IPv6 address goes in brackets\n",
		    hostport);
		return -1;
	}
	if (q->q_numeric) {
		addr_str((struct sockaddr *)&q->q_addr, q->q_dst,
		    sizeof q->q_dst);
		return 0;
	}
	memset(&ep, 0, sizeof ep);
	ep.ep_atyp = ATYP_NAME;
	ep.ep_len = (uint8_t)(len > 255 ? 255 : len);
	memcpy(ep.ep_addr, q->q_host, ep.ep_len);
	if (hostport[0] == '[' || len > 253 || !endpoint_name_ok(&ep)) {
		fprintf(stderr,
		    "isp: -Q: \"%s\": %s is not an IP address or a host "
		    "name\n",
		    hostport, q->q_host);
		return -1;
	}
	snprintf(q->q_dst, sizeof q->q_dst, "%s:%u", q->q_host, q->q_port);
	return 0;
}

/* Parse USER and HOST:PORT as an OPEN would carry them; 0 or -1. */
static int
query_parse(struct query *q, const char *user, const char *hostport)
{
	char *port = NULL;
	int rc;

	if (*user == '\0') {
		fprintf(stderr,
		    "isp: -Q: no user: give a user name, or - for "
		    "anonymous\n");
		return -1;
	}
	q->q_user = strcmp(user, "-") == 0 ? "" : user;
	if (addr_split_hostport(hostport, &q->q_host, &port) != 0) {
		fprintf(stderr,
		    "isp: -Q: \"%s\" is not HOST:PORT (an IPv6 address as "
		    "[ADDRESS]:PORT)\n",
		    hostport);
		return -1;
	}
	if (addr_port_parse(port, &q->q_port) != 0) {
		fprintf(stderr,
		    "isp: -Q: \"%s\": %s is not a port (1 to 65535)\n",
		    hostport, port);
		free(port);
		return -1;
	}
	rc = query_parse_host(q, hostport, port);
	free(port);
	return rc;
}

/* The sections the user's allow list is made of: "[user a] or [group b]". */
static const char *
query_sections(const struct query *q, char *buf, size_t len)
{
	const struct policy_user *u = policy_find(q->q_policy, q->q_user);
	size_t i, o;

	if (*q->q_user == '\0' || u == NULL) {
		snprintf(buf, len, "[isp]");
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < u->pu_nfrom; i++) {
		o = strlen(buf);
		snprintf(buf + o, len - o, "%s[%s]",
		    i == 0                     ? ""
			: i + 1 == u->pu_nfrom ? " or "
					       : ", ",
		    u->pu_from[i].pf_sec);
	}
	return buf;
}

/* "allowed: [user alice] allow: 10.1.0.0/16:21,80" for rule n. */
static int
query_allowed(struct query *q, const struct allow *al, long n,
    const char *extra)
{
	const char *sec =
	    policy_allow_source(q->q_policy, q->q_user, (size_t)n);
	char rule[ADDR_STRLEN];

	snprintf(q->q_answer, sizeof q->q_answer, "allowed: [%s] allow: %s%s",
	    sec != NULL ? sec : "?",
	    allow_rule_str(&al->al_rules[n], rule, sizeof rule), extra);
	return QUERY_ALLOWED;
}

/* For a user: [isp] allow would cover it, but it is for anonymous only. */
static const char *
query_anon_hint(const struct query *q, const struct sockaddr *sa)
{
	if (*q->q_user != '\0' && allow_match(&q->q_policy->p_anon_allow, sa))
		return " ([isp] allow does, but only for clients without a "
		       "login)";
	return "";
}

/* An address without its port. */
static const char *
query_host(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = sa->sa_family == AF_INET6
	    ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
	    : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

/*
 * A name no name rule covers: the isp resolves it and tries the
 * addresses its allow list covers. Resolved here with the system's
 * resolver, as the isp's would at the time of the open.
 */
static int
query_resolved(struct query *q, const struct allow *al)
{
	struct addrinfo hints, *res, *ai;
	char port[8], at[ADDR_STRLEN], list[512] = "", secs[512];
	char extra[ADDR_STRLEN + 64];
	size_t o;
	long n;
	int err;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof port, "%u", q->q_port);
	query_sections(q, secs, sizeof secs);
	if ((err = getaddrinfo(q->q_host, port, &hints, &res)) != 0) {
		snprintf(q->q_answer, sizeof q->q_answer,
		    "refused: no allow rule of %s covers %s, and it does not "
		    "resolve here: %s",
		    secs, q->q_dst, gai_strerror(err));
		return QUERY_REFUSED;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		query_host(ai->ai_addr, at, sizeof at);
		if ((n = allow_find(al, ai->ai_addr)) >= 0) {
			snprintf(extra, sizeof extra,
			    ", for %s (what %s resolves to here)", at,
			    q->q_host);
			freeaddrinfo(res);
			return query_allowed(q, al, n, extra);
		}
		o = strlen(list);
		snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", at);
	}
	freeaddrinfo(res);
	snprintf(q->q_answer, sizeof q->q_answer,
	    "refused: no allow rule of %s covers %s, nor what it resolves to "
	    "here: %s",
	    secs, q->q_dst, list);
	return QUERY_REFUSED;
}

/* Decide as isp/inside.c inside_route() does, into q_answer. */
static int
query_isp(struct query *q)
{
	const struct policy *p = q->q_policy;
	const struct allow *al;
	const struct sockaddr *sa = (const struct sockaddr *)&q->q_addr;
	char secs[512];
	long n;

	if (*q->q_user != '\0' && policy_find(p, q->q_user) == NULL) {
		snprintf(q->q_answer, sizeof q->q_answer,
		    "refused: no such user (no [user %s] section)", q->q_user);
		return QUERY_REFUSED;
	}
	if (*q->q_user == '\0' && !p->p_anonymous) {
		snprintf(q->q_answer, sizeof q->q_answer,
		    "refused: anonymous access is off ([policy] anonymous = "
		    "no)");
		return QUERY_REFUSED;
	}
	if ((al = policy_allow(p, q->q_user)) == NULL) {
		snprintf(q->q_answer, sizeof q->q_answer,
		    "refused: nothing is allowed");
		return QUERY_REFUSED;
	}
	n = q->q_numeric ? allow_find(al, sa)
			 : allow_find_name(al, q->q_host, q->q_port);
	if (n >= 0)
		return query_allowed(q, al, n, "");
	if (!q->q_numeric)
		return query_resolved(q, al);
	snprintf(q->q_answer, sizeof q->q_answer,
	    "refused: no allow rule of %s covers %s%s",
	    query_sections(q, secs, sizeof secs), q->q_dst,
	    query_anon_hint(q, sa));
	return QUERY_REFUSED;
}

/*
 * Decide as esp/esp.c esp_route() does for a numeric destination, on the
 * esp's copy of the policy (the text the isp sends it); names go to the
 * isp, which decides. NULL if the esp passes the open on, else why not.
 */
static const char *
query_esp(const struct query *q)
{
	struct policy esp;
	const struct allow *al;
	char *text, *cause = NULL;
	size_t len;
	int ok;

	if (!q->q_numeric)
		return NULL;
	text = policy_text(q->q_policy, &len);
	ok = policy_parse(&esp, text, len, &cause) == 0;
	free(text);
	if (!ok) {
		free(cause);
		return "the esp cannot read the policy the isp sends it";
	}
	ok = (al = policy_allow(&esp, q->q_user)) != NULL &&
	    allow_match(al, (const struct sockaddr *)&q->q_addr);
	policy_free(&esp);
	return ok ? NULL : "the esp's copy of the policy does not allow it";
}

/* The rule files whose announcements are honoured for the user. */
static void
query_rules(const struct isp *i, const struct query *q)
{
	const struct ruleset *rs = i->i_ruleset;
	const char *name;
	char yes[512] = "", no[512] = "";
	size_t k, o;

	if (rs == NULL || ruleset_count(rs) == 0) {
		printf("rule files: none ([isp] rules is not set)\n");
		return;
	}
	for (k = 0; k < ruleset_count(rs); k++) {
		name = rule_app_name(ruleset_app(rs, k));
		if (policy_rule_ok(q->q_policy, q->q_user, name)) {
			o = strlen(yes);
			snprintf(yes + o, sizeof yes - o, "%s%s", o ? ", " : "",
			    name);
		} else {
			o = strlen(no);
			snprintf(no + o, sizeof no - o, "%s%s", o ? ", " : "",
			    name);
		}
	}
	printf("rule files: %s%s%s%s\n", yes[0] ? yes : "none",
	    no[0] ? " (not " : "", no, no[0] ? ")" : "");
}

/* Is the destination port scanned, and are its announcements honoured? */
static void
query_port(const struct isp *i, const struct query *q)
{
	const struct rule_app *a = ruleset_for_port(i->i_ruleset, q->q_port);

	if (i->i_ruleset == NULL || ruleset_count(i->i_ruleset) == 0)
		return;
	if (a == NULL)
		printf("port %u: no rule file scans it\n", q->q_port);
	else
		printf("port %u: scanned by %s, announcements %s\n", q->q_port,
		    rule_app_file(a),
		    policy_rule_ok(q->q_policy, q->q_user, rule_app_name(a))
			? "honoured"
			: "refused (not among the user's rule files)");
}

/* May the user's announcements open reverse connections? */
static void
query_reverse(const struct query *q)
{
	const char *sec;

	if (policy_reverse_ok(q->q_policy, q->q_user))
		printf("reverse connections: yes\n");
	else if ((sec = policy_reverse_source(q->q_policy, q->q_user)) != NULL)
		printf("reverse connections: no ([%s] reverse = no)\n", sec);
	else
		printf("reverse connections: no\n");
}

/*
 * isp -Q USER HOST:PORT: "allowed: ..." or "refused: ..." and why, then,
 * for a user the isp serves, the rule files and reverse connections.
 * Exit 0 allowed, 1 refused, 2 for a bad query.
 */
int
query_main(struct isp *i, const char *user, const char *hostport)
{
	struct query q;
	const char *why;
	int rc;

	memset(&q, 0, sizeof q);
	q.q_policy = &i->i_policy;
	if (query_parse(&q, user, hostport) != 0) {
		free(q.q_host);
		return QUERY_USAGE;
	}
	rc = query_isp(&q);
	if (rc == QUERY_ALLOWED && (why = query_esp(&q)) != NULL) {
		snprintf(q.q_answer, sizeof q.q_answer, "refused: %s", why);
		rc = QUERY_REFUSED;
	}
	printf("%s\n", q.q_answer);
	if (policy_allow(q.q_policy, q.q_user) != NULL) {
		query_rules(i, &q);
		if (rc == QUERY_ALLOWED)
			query_port(i, &q);
		query_reverse(&q);
	}
	free(q.q_host);
	return rc;
}
