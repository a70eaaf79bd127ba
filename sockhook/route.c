/* sockhook: which destinations go through the ESP, and where the ESP is. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "sockhook.h"

static pthread_once_t route_esp_once = PTHREAD_ONCE_INIT;
static struct sockaddr_in route_esp4;
static struct sockaddr_in6 route_esp6;
static int route_have4, route_have6;
static pthread_mutex_t route_agent_mu = PTHREAD_MUTEX_INITIALIZER;
static struct agentstate route_agent; /* the last one read */
static int route_agent_warned;

/*
 * Behind an agent: its local address and token, read from its state file
 * (SOCKHOOK_AGENT_STATE, set by the launcher, else found from the config
 * path) at every connect, so a restarted agent is found. -1 without one:
 * routed connects then fail as with no esp.
 */
static int
route_agent_load(struct sockaddr_in *sin)
{
	const char *path = getenv("SOCKHOOK_AGENT_STATE");
	struct agentstate_paths p;
	struct agentstate as;
	char why[300];
	int rc = -1;

	if ((path == NULL || *path != '/') && sh_conf.path != NULL &&
	    agentstate_paths(sh_conf.path, &p, why, sizeof why) == 0)
		path = p.ap_state;
	if (path != NULL && agentstate_read(path, &as) == 0)
		rc = 0;
	pthread_mutex_lock(&route_agent_mu);
	if (rc == 0) {
		route_agent = as;
		*sin = as.as_addr;
	} else if (!route_agent_warned++)
		shlog_warnx("%s: no agent is running for this configuration "
			    "(sockhook starts one; or run: sockhook agent -c "
			    "%s)",
		    sh_conf.path, sh_conf.path);
	pthread_mutex_unlock(&route_agent_mu);
	explicit_bzero(&as, sizeof as);
	return rc;
}

/* Copy the agent's token into out (65 bytes); -1 if there is none. */
int
route_agent_token(char *out)
{
	int rc = -1;

	pthread_mutex_lock(&route_agent_mu);
	if (route_agent.as_token[0] != '\0') {
		memcpy(out, route_agent.as_token, AGENTSTATE_TOKEN_LEN);
		out[AGENTSTATE_TOKEN_LEN] = '\0';
		rc = 0;
	}
	pthread_mutex_unlock(&route_agent_mu);
	return rc;
}

/* Resolve the ESP's door once, with the real resolver. */
static void
route_esp_resolve(void)
{
	struct addrinfo hints, *res, *ai;
	int rc;

	if (sh_conf.esp_host == NULL)
		return;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = real.getaddrinfo(sh_conf.esp_host, sh_conf.esp_port, &hints, &res);
	if (rc != 0) {
		shlog_warnx("%s: [sockhook] esp: cannot resolve %s: %s",
		    sh_conf.path, sh_conf.esp_host, gai_strerror(rc));
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET && !route_have4) {
			memcpy(&route_esp4, ai->ai_addr, sizeof route_esp4);
			route_have4 = 1;
		} else if (ai->ai_family == AF_INET6 && !route_have6) {
			memcpy(&route_esp6, ai->ai_addr, sizeof route_esp6);
			route_have6 = 1;
		}
	}
	freeaddrinfo(res);
}

/* The ESP's address for a socket of this family; -1 if there is none. */
int
route_esp_addr(int family, int v6only, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in agent;

	memset(ss, 0, sizeof *ss);
	if (sh_conf.agent) {
		if (route_agent_load(&agent) != 0) {
			errno = ENETUNREACH;
			return -1;
		}
		if (family == AF_INET6 && v6only) {
			errno = EAFNOSUPPORT;
			return -1;
		}
		if (family != AF_INET6) {
			memcpy(ss, &agent, sizeof agent);
			*len = sizeof agent;
			return 0;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = agent.sin_port;
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sin6->sin6_addr.s6_addr[12], &agent.sin_addr, 4);
		*len = sizeof *sin6;
		return 0;
	}
	pthread_once(&route_esp_once, route_esp_resolve);
	if (family == AF_INET && route_have4) {
		memcpy(ss, &route_esp4, sizeof route_esp4);
		*len = sizeof route_esp4;
		return 0;
	}
	if (family == AF_INET6 && route_have6) {
		memcpy(ss, &route_esp6, sizeof route_esp6);
		*len = sizeof route_esp6;
		return 0;
	}
	if (family == AF_INET6 && route_have4 && !v6only) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = route_esp4.sin_port;
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sin6->sin6_addr.s6_addr[12], &route_esp4.sin_addr, 4);
		*len = sizeof *sin6;
		return 0;
	}
	errno = EAFNOSUPPORT;
	return -1;
}

/* The IPv4 address in sa (plain or v4-mapped), in host order; -1 if none. */
static int
route_v4(const struct sockaddr *sa, uint32_t *a)
{
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	uint32_t n;

	if (sa->sa_family == AF_INET) {
		*a = ntohl(sin->sin_addr.s_addr);
		return 0;
	}
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(&n, &sin6->sin6_addr.s6_addr[12], 4);
		*a = ntohl(n);
		return 0;
	}
	return -1;
}

/* Is the address a loopback one? */
static int
route_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	uint32_t a;

	if (route_v4(sa, &a) == 0)
		return (a >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

/* Is sa the ESP's door itself (never sent through the ESP)? */
static int
route_is_esp(const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	uint32_t a;

	pthread_once(&route_esp_once, route_esp_resolve);
	if (route_have4 && route_v4(sa, &a) == 0 &&
	    a == ntohl(route_esp4.sin_addr.s_addr) &&
	    (sa->sa_family == AF_INET ? sin->sin_port : sin6->sin6_port) ==
		route_esp4.sin_port)
		return 1;
	if (route_have6 && sa->sa_family == AF_INET6 &&
	    memcmp(&sin6->sin6_addr, &route_esp6.sin6_addr, 16) == 0 &&
	    sin6->sin6_port == route_esp6.sin6_port)
		return 1;
	return 0;
}

/* Does a route rule match? Loopback only matches rules naming loopback. */
static int
route_match(const struct sockaddr *sa)
{
	struct allow one;
	struct sockaddr_in6 rule;
	size_t i;
	int lo = route_loopback(sa);

	for (i = 0; i < sh_conf.route.al_n; i++) {
		struct allow_rule *r = &sh_conf.route.al_rules[i];

		if (lo) {
			memset(&rule, 0, sizeof rule);
			if (r->ar_family == AF_INET) {
				struct sockaddr_in *s4 = (void *)&rule;

				s4->sin_family = AF_INET;
				memcpy(&s4->sin_addr, r->ar_addr, 4);
			} else {
				rule.sin6_family = AF_INET6;
				memcpy(&rule.sin6_addr, r->ar_addr, 16);
			}
			if (!route_loopback((struct sockaddr *)&rule))
				continue;
		}
		one.al_rules = r;
		one.al_n = 1;
		if (allow_match(&one, sa))
			return 1;
	}
	return 0;
}

/* Decide what to do with a TCP connect to sa. For ROUTE_PROXY, d is
 * filled; for ROUTE_DENY, *err is the errno to fail with. */
int
route_decide(const struct sockaddr *sa, socklen_t len, struct socks_dest *d,
    int *err)
{
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	uint32_t a;
	int placeholder;

	if ((sa->sa_family == AF_INET && len < sizeof *sin) ||
	    (sa->sa_family == AF_INET6 && len < sizeof *sin6))
		return ROUTE_DIRECT; /* let the kernel say EINVAL */
	placeholder = sh_conf.nsuffix > 0 && route_v4(sa, &a) == 0 &&
	    dns_is_placeholder(a);
	if (!placeholder) {
		if (!sh_conf.routes_known) {
			*err = EACCES;
			return route_loopback(sa) ? ROUTE_DIRECT : ROUTE_DENY;
		}
		if (!route_match(sa) || route_is_esp(sa))
			return ROUTE_DIRECT;
	}
	if (!sh_conf.ok) {
		*err = EACCES;
		return ROUTE_DENY;
	}
	memset(d, 0, sizeof *d);
	memcpy(&d->sa, sa,
	    sa->sa_family == AF_INET ? sizeof *sin : sizeof *sin6);
	d->salen = sa->sa_family == AF_INET ? sizeof *sin : sizeof *sin6;
	d->port =
	    ntohs(sa->sa_family == AF_INET ? sin->sin_port : sin6->sin6_port);
	if (placeholder) {
		if (dns_reverse(a, d->namebuf, sizeof d->namebuf) == NULL) {
			*err = EHOSTUNREACH;
			return ROUTE_DENY;
		}
		d->name = d->namebuf;
	}
	return ROUTE_PROXY;
}
