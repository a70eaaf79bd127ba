/*
 * Reaching the esp through a site's existing proxy, for [isp] via: SOCKS5
 * (RFC 1928, with RFC 1929 login) or HTTP CONNECT (RFC 9110, with basic
 * auth). Everything is non-blocking: resolve the proxy with evdns, connect
 * with the connector, then talk to the proxy with plain events, reading
 * never more than the proxy's answer so that the first byte after it is
 * the esp's. One timer bounds the whole exchange.
 */
#include "via.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "addr.h"
#include "connector.h"
#include "escape.h"
#include "xmalloc.h"

#define VIA_HEAD_MAX 8192 /* longest HTTP response head we accept */
#define VIA_OUT_MAX  2048 /* longest request we send */
#define VIA_CRED_MAX 255  /* RFC 1929 limits user and password */

enum via_state {
	VIA_RESOLVING,
	VIA_CONNECTING,
	VIA_GREETING, /* SOCKS5: method selection */
	VIA_LOGIN,    /* SOCKS5: RFC 1929 */
	VIA_REPLY,    /* SOCKS5: CONNECT reply */
	VIA_HEAD,     /* HTTP: response head */
};

struct via_req {
	struct event_base *vr_base;
	enum via_kind vr_kind;
	enum via_state vr_state;
	char *vr_host; /* the target (the esp) */
	char *vr_port;
	char *vr_user;
	char *vr_pass;
	char *vr_phost; /* the proxy, as configured */
	char *vr_pport;
	char vr_name[ADDR_STRLEN * 2]; /* the proxy, for messages */
	int vr_timeout_ms;
	via_cb vr_cb;
	void *vr_arg;
	int *vr_donep; /* set when finished inside via_connect */

	struct evdns_getaddrinfo_request *vr_gai;
	struct evutil_addrinfo *vr_ai;
	struct evutil_addrinfo *vr_next;
	struct connector *vr_conn;

	evutil_socket_t vr_fd;
	struct event *vr_rev;
	struct event *vr_wev;
	struct event *vr_timer;

	unsigned char vr_out[VIA_OUT_MAX];
	size_t vr_outlen;
	size_t vr_outoff;
	unsigned char vr_in[VIA_HEAD_MAX];
	size_t vr_inlen;
	size_t vr_need; /* SOCKS5: bytes of the answer being read */
};

static void via_try_next(struct via_req *);
static void via_finish(struct via_req *, evutil_socket_t, int, const char *,
    ...) __attribute__((format(printf, 4, 5)));

/* Decode %XX escapes; -1 on a bad escape or an encoded NUL. */
static int
via_unescape(const char *s, size_t len, char **out)
{
	char *d = xmalloc(len + 1), *p = d;
	unsigned v;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			*p++ = s[i];
			continue;
		}
		if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2]) ||
		    sscanf(s + i + 1, "%2x", &v) != 1 || v == 0) {
			free(d);
			return -1;
		}
		*p++ = (char)v;
		i += 2;
	}
	*p = '\0';
	*out = d;
	return 0;
}

/* Is this a plausible host name or address (no spaces, controls, etc.)? */
static int
via_host_ok(const char *h)
{
	const unsigned char *p;

	if (*h == '\0' || strlen(h) > 255)
		return 0;
	for (p = (const unsigned char *)h; *p != '\0'; p++) {
		if (!isalnum(*p) && strchr("-._:%", *p) == NULL)
			return 0;
	}
	return 1;
}

/* Parse the user:pass in front of "@" (percent escapes decoded). */
static int
via_parse_login(const char *auth, size_t len, struct via_conf *vc, char **cause)
{
	const char *colon;

	if ((colon = memchr(auth, ':', len)) == NULL) {
		xasprintf(cause,
		    "a login needs user:password@ before the host");
		return -1;
	}
	if (colon == auth) {
		xasprintf(cause, "empty user name before \"@\"");
		return -1;
	}
	if (via_unescape(auth, (size_t)(colon - auth), &vc->vc_user) != 0) {
		xasprintf(cause, "bad percent escape in the user name");
		return -1;
	}
	if (via_unescape(colon + 1, len - (size_t)(colon + 1 - auth),
		&vc->vc_pass) != 0) {
		xasprintf(cause, "bad percent escape in the password");
		return -1;
	}
	if (strlen(vc->vc_user) > VIA_CRED_MAX) {
		xasprintf(cause, "user name longer than %d bytes",
		    VIA_CRED_MAX);
		return -1;
	}
	if (strlen(vc->vc_pass) > VIA_CRED_MAX) {
		xasprintf(cause, "password longer than %d bytes", VIA_CRED_MAX);
		return -1;
	}
	if (vc->vc_kind == VIA_HTTP && strchr(vc->vc_user, ':') != NULL) {
		xasprintf(cause, "an HTTP user name cannot contain \":\"");
		return -1;
	}
	return 0;
}

/* Parse host:port or [v6]:port, the rest of the URL. */
static int
via_parse_hostport(const char *s, const char *eg, struct via_conf *vc,
    char **cause)
{
	const char *end, *colon;
	uint16_t port;

	if (*s == '\0' || *s == ':') {
		xasprintf(cause, "missing proxy host, e.g. %s", eg);
		return -1;
	}
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL) {
			xasprintf(cause,
			    "missing \"]\" after the IPv6 address");
			return -1;
		}
		vc->vc_host = xstrndup(s + 1, (size_t)(end - s - 1));
		if (vc->vc_host[0] == '\0' ||
		    strchr(vc->vc_host, ':') == NULL ||
		    !via_host_ok(vc->vc_host)) {
			xasprintf(cause, "bad IPv6 address \"%s\"",
			    vc->vc_host);
			return -1;
		}
		colon = end + 1;
		if (*colon != ':' && *colon != '\0') {
			xasprintf(cause, "unexpected \"%s\" after \"]\"",
			    colon);
			return -1;
		}
	} else {
		if ((colon = strchr(s, ':')) != NULL &&
		    strchr(colon + 1, ':') != NULL) {
			xasprintf(cause,
			    "an IPv6 address needs brackets, e.g. "
			    "socks5://[2001:db8::1]:1080");
			return -1;
		}
		if (colon == NULL)
			colon = s + strlen(s);
		vc->vc_host = xstrndup(s, (size_t)(colon - s));
		if (!via_host_ok(vc->vc_host) ||
		    strchr(vc->vc_host, '%') != NULL) {
			xasprintf(cause, "bad proxy host \"%s\"", vc->vc_host);
			return -1;
		}
	}
	if (*colon == '\0' || colon[1] == '\0') {
		xasprintf(cause, "missing port, e.g. %s", eg);
		return -1;
	}
	vc->vc_port = xstrdup(colon + 1);
	if (addr_port_parse(vc->vc_port, &port) != 0) {
		xasprintf(cause, "bad port \"%s\" (1-65535)", vc->vc_port);
		return -1;
	}
	return 0;
}

/* Parse socks5://[user:pass@]host:port or http://[user:pass@]host:port. */
int
via_parse(const char *url, struct via_conf *vc, char **cause)
{
	const char *sep, *rest, *at, *slash, *eg, *host;
	char *hp = NULL;
	size_t slen;
	int rc = -1;

	memset(vc, 0, sizeof *vc);
	if ((sep = strstr(url, "://")) == NULL) {
		xasprintf(cause,
		    "not a proxy URL; use socks5://host:port or "
		    "http://host:port");
		return -1;
	}
	slen = (size_t)(sep - url);
	if ((slen == 6 && strncasecmp(url, "socks5", 6) == 0) ||
	    (slen == 7 && strncasecmp(url, "socks5h", 7) == 0)) {
		vc->vc_kind = VIA_SOCKS5;
		eg = "socks5://proxy.example.net:1080";
	} else if (slen == 4 && strncasecmp(url, "http", 4) == 0) {
		vc->vc_kind = VIA_HTTP;
		eg = "http://proxy.example.net:3128";
	} else if (slen == 5 && strncasecmp(url, "https", 5) == 0) {
		xasprintf(cause,
		    "TLS to the proxy (https://) is not supported; use http:// "
		    "(CONNECT) or socks5://");
		return -1;
	} else {
		xasprintf(cause,
		    "unknown scheme \"%.*s\"; use socks5:// or http://",
		    (int)(slen > 20 ? 20 : slen), url);
		return -1;
	}
	rest = sep + 3;
	/*
	 * The login ends at the last "@" (a password may hold unescaped
	 * "@", "/", "?" or "#"); the host:port after it ends at a path, of
	 * which only a bare "/" is allowed.
	 */
	at = strrchr(rest, '@');
	host = at != NULL ? at + 1 : rest;
	slash = host + strcspn(host, "/?#");
	if (*slash != '\0' && strcmp(slash, "/") != 0) {
		xasprintf(cause,
		    "unexpected path \"%.40s\"; give only host:port", slash);
		goto out;
	}
	if (at != NULL &&
	    via_parse_login(rest, (size_t)(at - rest), vc, cause) != 0)
		goto out;
	hp = xstrndup(host, (size_t)(slash - host));
	if (via_parse_hostport(hp, eg, vc, cause) != 0)
		goto out;
	rc = 0;
out:
	free(hp);
	if (rc != 0)
		via_conf_clear(vc);
	return rc;
}

/* Forget a parsed proxy. */
void
via_conf_clear(struct via_conf *vc)
{
	free(vc->vc_host);
	free(vc->vc_port);
	free(vc->vc_user);
	if (vc->vc_pass != NULL)
		explicit_bzero(vc->vc_pass, strlen(vc->vc_pass));
	free(vc->vc_pass);
	memset(vc, 0, sizeof *vc);
}

/* Free a request; closes its socket unless it was handed on. */
static void
via_free(struct via_req *vr)
{
	if (vr->vr_gai != NULL)
		evdns_getaddrinfo_cancel(vr->vr_gai);
	if (vr->vr_conn != NULL)
		connector_cancel(vr->vr_conn);
	if (vr->vr_ai != NULL)
		evutil_freeaddrinfo(vr->vr_ai);
	if (vr->vr_rev != NULL)
		event_free(vr->vr_rev);
	if (vr->vr_wev != NULL)
		event_free(vr->vr_wev);
	if (vr->vr_timer != NULL)
		event_free(vr->vr_timer);
	if (vr->vr_fd >= 0)
		close(vr->vr_fd);
	free(vr->vr_host);
	free(vr->vr_port);
	free(vr->vr_user);
	if (vr->vr_pass != NULL)
		explicit_bzero(vr->vr_pass, strlen(vr->vr_pass));
	free(vr->vr_pass);
	free(vr->vr_phost);
	free(vr->vr_pport);
	explicit_bzero(vr->vr_out, sizeof vr->vr_out);
	free(vr);
}

/* Done, one way or the other: free the request, then tell the caller. */
static void
via_finish(struct via_req *vr, evutil_socket_t fd, int err, const char *fmt,
    ...)
{
	via_cb cb = vr->vr_cb;
	void *arg = vr->vr_arg;
	char why[1024];
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof why, fmt, ap);
		va_end(ap);
	}
	if (vr->vr_donep != NULL)
		*vr->vr_donep = 1;
	if (fd >= 0)
		vr->vr_fd = -1; /* handed on */
	via_free(vr);
	cb(fd, err, fmt != NULL ? why : NULL, arg);
}

/* Queue bytes for the proxy and start sending them. */
static void
via_send(struct via_req *vr, const void *buf, size_t len)
{
	ssize_t n;

	memcpy(vr->vr_out, buf, len);
	vr->vr_outlen = len;
	vr->vr_outoff = 0;
	while (vr->vr_outoff < vr->vr_outlen) {
		n = send(vr->vr_fd, vr->vr_out + vr->vr_outoff,
		    vr->vr_outlen - vr->vr_outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(vr->vr_wev, NULL);
			return;
		}
		if (n < 0) {
			via_finish(vr, -1, errno, "proxy %s: send: %s",
			    vr->vr_name, strerror(errno));
			return;
		}
		vr->vr_outoff += (size_t)n;
	}
}

/* The socket can take more of a request. */
static void
via_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct via_req *vr = arg;
	ssize_t n;

	(void)what;
	n = send(fd, vr->vr_out + vr->vr_outoff, vr->vr_outlen - vr->vr_outoff,
	    MSG_NOSIGNAL);
	if (n < 0 &&
	    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n < 0) {
		via_finish(vr, -1, errno, "proxy %s: send: %s", vr->vr_name,
		    strerror(errno));
		return;
	}
	vr->vr_outoff += (size_t)n;
	if (vr->vr_outoff == vr->vr_outlen)
		event_del(vr->vr_wev);
}

/* SOCKS5: the CONNECT request, by name or by address. */
static void
via_socks_connect(struct via_req *vr)
{
	unsigned char b[4 + 1 + 255 + 2], *p = b;
	struct in6_addr a6;
	struct in_addr a4;
	uint16_t port;
	size_t hl = strlen(vr->vr_host);

	addr_port_parse(vr->vr_port, &port); /* checked in via_connect */
	*p++ = 5;
	*p++ = 1; /* CONNECT */
	*p++ = 0;
	if (inet_pton(AF_INET, vr->vr_host, &a4) == 1) {
		*p++ = 1;
		memcpy(p, &a4, 4);
		p += 4;
	} else if (inet_pton(AF_INET6, vr->vr_host, &a6) == 1) {
		*p++ = 4;
		memcpy(p, &a6, 16);
		p += 16;
	} else {
		*p++ = 3;
		*p++ = (unsigned char)hl;
		memcpy(p, vr->vr_host, hl);
		p += hl;
	}
	*p++ = (unsigned char)(port >> 8);
	*p++ = (unsigned char)(port & 0xff);
	vr->vr_state = VIA_REPLY;
	vr->vr_inlen = 0;
	vr->vr_need = 5; /* up to the first byte of BND.ADDR */
	via_send(vr, b, (size_t)(p - b));
}

/* SOCKS5: the RFC 1929 login. */
static void
via_socks_login(struct via_req *vr)
{
	unsigned char b[3 + 2 * VIA_CRED_MAX];
	size_t ul = strlen(vr->vr_user), pl = strlen(vr->vr_pass);

	b[0] = 1;
	b[1] = (unsigned char)ul;
	memcpy(b + 2, vr->vr_user, ul);
	b[2 + ul] = (unsigned char)pl;
	memcpy(b + 3 + ul, vr->vr_pass, pl);
	vr->vr_state = VIA_LOGIN;
	vr->vr_inlen = 0;
	vr->vr_need = 2;
	via_send(vr, b, 3 + ul + pl);
	explicit_bzero(b, sizeof b);
}

/* The meaning of a SOCKS5 reply code, and the errno it becomes. */
static const char *
via_socks_reply(unsigned rep, int *err)
{
	switch (rep) {
	case 1:
		*err = EIO;
		return "general SOCKS server failure";
	case 2:
		*err = EACCES;
		return "connection not allowed by ruleset";
	case 3:
		*err = ENETUNREACH;
		return "network unreachable";
	case 4:
		*err = EHOSTUNREACH;
		return "host unreachable";
	case 5:
		*err = ECONNREFUSED;
		return "connection refused";
	case 6:
		*err = ETIMEDOUT;
		return "TTL expired";
	case 7:
		*err = EOPNOTSUPP;
		return "command not supported";
	case 8:
		*err = EAFNOSUPPORT;
		return "address type not supported";
	default:
		*err = EPROTO;
		return "unknown reply code";
	}
}

/* SOCKS5: a complete answer for the current step has arrived. */
static void
via_socks_step(struct via_req *vr)
{
	const unsigned char *in = vr->vr_in;
	const char *what;
	size_t total;
	int err;

	switch (vr->vr_state) {
	case VIA_GREETING:
		if (in[0] != 5) {
			via_finish(vr, -1, EPROTO,
			    "proxy %s is not a SOCKS5 proxy (its answer starts "
			    "with 0x%02x%s)",
			    vr->vr_name, in[0],
			    in[0] == 'H' ? ", like HTTP: use http://" : "");
			return;
		}
		if (in[1] == 0) {
			via_socks_connect(vr);
			return;
		}
		if (in[1] == 2 && vr->vr_user != NULL) {
			via_socks_login(vr);
			return;
		}
		if (in[1] == 0xff) {
			via_finish(vr, -1, EACCES,
			    "proxy %s accepts none of our SOCKS5 methods "
			    "(%s)%s",
			    vr->vr_name,
			    vr->vr_user != NULL ? "none, user/password"
						: "none",
			    vr->vr_user != NULL ? ""
						: "; does it need user:pass@?");
			return;
		}
		via_finish(vr, -1, EPROTO,
		    "proxy %s chose SOCKS5 method 0x%02x, which we did not "
		    "offer",
		    vr->vr_name, in[1]);
		return;
	case VIA_LOGIN:
		if (in[1] != 0) {
			via_finish(vr, -1, EACCES,
			    "proxy %s refused the SOCKS5 login of user \"%s\" "
			    "(status %u)",
			    vr->vr_name, vr->vr_user, in[1]);
			return;
		}
		via_socks_connect(vr);
		return;
	case VIA_REPLY:
		if (in[0] != 5) {
			via_finish(vr, -1, EPROTO,
			    "proxy %s sent a bad SOCKS5 reply (version %u)",
			    vr->vr_name, in[0]);
			return;
		}
		if (in[1] != 0) {
			what = via_socks_reply(in[1], &err);
			via_finish(vr, -1, err,
			    "proxy %s answered SOCKS5 reply %u (%s)",
			    vr->vr_name, in[1], what);
			return;
		}
		switch (in[3]) {
		case 1:
			total = 4 + 4 + 2;
			break;
		case 3:
			total = 4 + 1 + in[4] + 2;
			break;
		case 4:
			total = 4 + 16 + 2;
			break;
		default:
			via_finish(vr, -1, EPROTO,
			    "proxy %s sent a SOCKS5 reply with address type %u",
			    vr->vr_name, in[3]);
			return;
		}
		if (vr->vr_inlen < total) {
			vr->vr_need = total; /* the rest of BND.ADDR */
			return;
		}
		via_finish(vr, vr->vr_fd, 0, NULL);
		return;
	default:
		return;
	}
}

/* The errno for an HTTP status the proxy answered. */
static int
via_http_errno(int status)
{
	if (status == 407 || status == 401 || status == 403)
		return EACCES;
	if (status == 504 || status == 408)
		return ETIMEDOUT;
	if (status >= 500)
		return ECONNREFUSED;
	return EPROTO;
}

/* HTTP: the response head is complete; judge the status line. */
static void
via_http_head(struct via_req *vr)
{
	char line[801], *p;
	size_t n;
	int status = 0;

	/* The status line, escaped: what the proxy says reaches a log. */
	n = strcspn((char *)vr->vr_in, "\r\n");
	if (n > 200)
		n = 200;
	esc_bytes(line, sizeof line, vr->vr_in, n, ESC_QUOTES);
	if (strncmp(line, "HTTP/", 5) != 0 || (p = strchr(line, ' ')) == NULL ||
	    !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
	    !isdigit((unsigned char)p[3]) || (p[4] != ' ' && p[4] != '\0')) {
		via_finish(vr, -1, EPROTO,
		    "proxy %s is not an HTTP proxy (it answered \"%s\")",
		    vr->vr_name, line);
		return;
	}
	status = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
	if (status < 200 || status > 299) {
		via_finish(vr, -1, via_http_errno(status),
		    "proxy %s answered \"%s\"%s", vr->vr_name, line,
		    (status == 407 || status == 401) && vr->vr_user == NULL
			? " (it needs user:pass@ in via)"
			: "");
		return;
	}
	via_finish(vr, vr->vr_fd, 0, NULL);
}

/*
 * Whether recv() gave bytes; otherwise waits (EAGAIN) or finishes the
 * request with the error or, at EOF, "closed the connection when".
 */
static int
via_received(struct via_req *vr, ssize_t n, const char *when)
{
	if (n > 0)
		return 1;
	if (n < 0 &&
	    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0)
		via_finish(vr, -1, errno, "proxy %s: %s", vr->vr_name,
		    strerror(errno));
	else
		via_finish(vr, -1, ECONNRESET,
		    "proxy %s closed the connection %s", vr->vr_name, when);
	return 0;
}

/* HTTP: read the head, but nothing after it (the esp's first bytes). */
static void
via_http_read(struct via_req *vr)
{
	size_t room = sizeof vr->vr_in - 1 - vr->vr_inlen, from, i, total;
	size_t take;
	int found = 0;
	unsigned char *in = vr->vr_in;
	ssize_t n;

	n = recv(vr->vr_fd, in + vr->vr_inlen, room, MSG_PEEK);
	if (!via_received(vr, n,
		vr->vr_inlen > 0 ? "in the middle of its answer"
				 : "without an answer"))
		return;
	total = vr->vr_inlen + (size_t)n;
	from = vr->vr_inlen >= 3 ? vr->vr_inlen - 3 : 0;
	for (i = from; i + 4 <= total; i++) {
		if (memcmp(in + i, "\r\n\r\n", 4) == 0) {
			found = 1;
			break;
		}
	}
	/* Take what was peeked up to the end of the head, no further. */
	take = found ? i + 4 - vr->vr_inlen : (size_t)n;
	if (recv(vr->vr_fd, in + vr->vr_inlen, take, 0) != (ssize_t)take) {
		via_finish(vr, -1, EIO, "proxy %s: short read", vr->vr_name);
		return;
	}
	vr->vr_inlen += take;
	in[vr->vr_inlen] = '\0';
	if (found)
		via_http_head(vr);
	else if (vr->vr_inlen == sizeof vr->vr_in - 1)
		via_finish(vr, -1, EPROTO,
		    "proxy %s answered a head longer than %d bytes",
		    vr->vr_name, VIA_HEAD_MAX - 1);
}

/* The proxy sent something. */
static void
via_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct via_req *vr = arg;
	ssize_t n;

	(void)what;
	if (vr->vr_state == VIA_HEAD) {
		via_http_read(vr);
		return;
	}
	/* SOCKS5: exactly the bytes of the answer, never more. */
	n = recv(fd, vr->vr_in + vr->vr_inlen, vr->vr_need - vr->vr_inlen, 0);
	if (!via_received(vr, n,
		vr->vr_state == VIA_GREETING    ? "during the SOCKS5 greeting"
		    : vr->vr_state == VIA_LOGIN ? "during the SOCKS5 login"
						: "during the SOCKS5 CONNECT"))
		return;
	vr->vr_inlen += (size_t)n;
	if (vr->vr_inlen == vr->vr_need)
		via_socks_step(vr);
}

/* Write "host:port", bracketing an IPv6 host. */
static void
via_hostport(char *buf, size_t len, const char *host, const char *port)
{
	if (strchr(host, ':') != NULL)
		snprintf(buf, len, "[%s]:%s", host, port);
	else
		snprintf(buf, len, "%s:%s", host, port);
}

/* Connected to the proxy: send the first request. */
static void
via_start_talking(struct via_req *vr)
{
	char target[300], cred[2 * VIA_CRED_MAX + 2];
	unsigned char b64[4 * ((sizeof cred + 2) / 3) + 1];
	unsigned char greet[4];
	char req[VIA_OUT_MAX];
	int n;

	vr->vr_rev = event_new(vr->vr_base, vr->vr_fd, EV_READ | EV_PERSIST,
	    via_readcb, vr);
	vr->vr_wev = event_new(vr->vr_base, vr->vr_fd, EV_WRITE | EV_PERSIST,
	    via_writecb, vr);
	event_add(vr->vr_rev, NULL);
	vr->vr_inlen = 0;
	if (vr->vr_kind == VIA_SOCKS5) {
		greet[0] = 5;
		greet[1] = vr->vr_user != NULL ? 2 : 1;
		greet[2] = 0;
		greet[3] = 2;
		vr->vr_state = VIA_GREETING;
		vr->vr_need = 2;
		via_send(vr, greet, vr->vr_user != NULL ? 4 : 3);
		return;
	}
	via_hostport(target, sizeof target, vr->vr_host, vr->vr_port);
	if (vr->vr_user != NULL) {
		n = snprintf(cred, sizeof cred, "%s:%s", vr->vr_user,
		    vr->vr_pass);
		EVP_EncodeBlock(b64, (unsigned char *)cred, n);
		n = snprintf(req, sizeof req,
		    "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: "
		    "Basic %s\r\n\r\n",
		    target, target, b64);
		explicit_bzero(cred, sizeof cred);
		explicit_bzero(b64, sizeof b64);
	} else
		n = snprintf(req, sizeof req,
		    "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
	vr->vr_state = VIA_HEAD;
	via_send(vr, req, (size_t)n);
	explicit_bzero(req, sizeof req);
}

/* The TCP connect to the proxy finished. */
static void
via_connectedcb(evutil_socket_t fd, int err, void *arg)
{
	struct via_req *vr = arg;

	vr->vr_conn = NULL;
	if (fd < 0) {
		if (vr->vr_next != NULL) {
			via_try_next(vr);
			return;
		}
		via_finish(vr, -1, err, "proxy %s: cannot connect: %s",
		    vr->vr_name, strerror(err));
		return;
	}
	vr->vr_fd = fd;
	via_start_talking(vr);
}

/* Name the proxy for messages: "name:port (address)" or "address". */
static void
via_set_name(struct via_req *vr, const struct sockaddr *sa)
{
	char a[ADDR_STRLEN], hp[ADDR_STRLEN];
	struct sockaddr_storage ss;
	socklen_t len;

	via_hostport(hp, sizeof hp, vr->vr_phost, vr->vr_pport);
	if (sa == NULL ||
	    addr_parse_numeric(vr->vr_phost, vr->vr_pport, &ss, &len) == 0)
		snprintf(vr->vr_name, sizeof vr->vr_name, "%s", hp);
	else
		snprintf(vr->vr_name, sizeof vr->vr_name, "%s (%s)", hp,
		    addr_str(sa, a, sizeof a));
}

/* Connect to the next address of the proxy. */
static void
via_try_next(struct via_req *vr)
{
	struct evutil_addrinfo *ai = vr->vr_next;
	struct connector *cn;

	vr->vr_next = ai->ai_next;
	vr->vr_state = VIA_CONNECTING;
	via_set_name(vr, ai->ai_addr);
	/* NULL: the callback already ran (and may have freed vr). */
	cn = connector_start(vr->vr_base, ai->ai_addr,
	    (socklen_t)ai->ai_addrlen, vr->vr_timeout_ms, via_connectedcb, vr);
	if (cn != NULL)
		vr->vr_conn = cn;
}

/* The proxy's name resolved. */
static void
via_resolvedcb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct via_req *vr = arg;

	if (err == EVUTIL_EAI_CANCEL) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return; /* vr is gone */
	}
	vr->vr_gai = NULL;
	if (err != 0 || ai == NULL) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		via_finish(vr, -1, EHOSTUNREACH, "proxy %s: cannot resolve: %s",
		    vr->vr_name, evutil_gai_strerror(err));
		return;
	}
	vr->vr_ai = vr->vr_next = ai;
	via_try_next(vr);
}

/* The whole exchange took too long. */
static void
via_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct via_req *vr = arg;

	(void)fd;
	(void)what;
	switch (vr->vr_state) {
	case VIA_RESOLVING:
		via_finish(vr, -1, ETIMEDOUT,
		    "proxy %s: name not resolved within %d ms", vr->vr_name,
		    vr->vr_timeout_ms);
		break;
	case VIA_CONNECTING:
		via_finish(vr, -1, ETIMEDOUT,
		    "proxy %s: cannot connect within %d ms", vr->vr_name,
		    vr->vr_timeout_ms);
		break;
	default:
		via_finish(vr, -1, ETIMEDOUT,
		    "proxy %s: no answer within %d ms", vr->vr_name,
		    vr->vr_timeout_ms);
		break;
	}
}

/*
 * Connect to host:port through the proxy. Returns NULL if it failed at once,
 * after calling cb; otherwise cb is called exactly once later, unless
 * via_cancel is called first.
 */
struct via_req *
via_connect(struct event_base *base, struct evdns_base *dns,
    const struct via_conf *vc, const char *host, const char *port,
    int timeout_ms, via_cb cb, void *arg)
{
	struct evdns_getaddrinfo_request *req;
	struct evutil_addrinfo hints, *ai = NULL;
	struct via_req *vr;
	struct timeval tv;
	uint16_t p;
	int done = 0, gerr;

	vr = xcalloc(1, sizeof *vr);
	vr->vr_base = base;
	vr->vr_kind = vc->vc_kind;
	vr->vr_host = xstrdup(host);
	vr->vr_port = xstrdup(port);
	vr->vr_phost = xstrdup(vc->vc_host);
	vr->vr_pport = xstrdup(vc->vc_port);
	if (vc->vc_user != NULL) {
		vr->vr_user = xstrdup(vc->vc_user);
		vr->vr_pass = xstrdup(vc->vc_pass != NULL ? vc->vc_pass : "");
	}
	vr->vr_timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	vr->vr_cb = cb;
	vr->vr_arg = arg;
	vr->vr_fd = -1;
	vr->vr_donep = &done;
	via_set_name(vr, NULL);

	if (!via_host_ok(host) || addr_port_parse(port, &p) != 0) {
		via_finish(vr, -1, EINVAL, "cannot ask proxy %s for \"%s\"",
		    vr->vr_name, host);
		return NULL;
	}
	vr->vr_timer = evtimer_new(base, via_timeoutcb, vr);
	tv.tv_sec = vr->vr_timeout_ms / 1000;
	tv.tv_usec = (vr->vr_timeout_ms % 1000) * 1000;
	evtimer_add(vr->vr_timer, &tv);

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	vr->vr_state = VIA_RESOLVING;
	if (dns != NULL) {
		/* NULL: the callback already ran (numeric, hosts file). */
		req = evdns_getaddrinfo(dns, vr->vr_phost, vr->vr_pport, &hints,
		    via_resolvedcb, vr);
		if (req != NULL)
			vr->vr_gai = req;
	} else {
		/* No resolver: numeric proxies only. */
		hints.ai_flags = EVUTIL_AI_NUMERICHOST;
		gerr =
		    evutil_getaddrinfo(vr->vr_phost, vr->vr_pport, &hints, &ai);
		via_resolvedcb(gerr, ai, vr);
	}
	if (done)
		return NULL;
	vr->vr_donep = NULL;
	return vr;
}

/* Give up on a proxy connect; the callback is not called. */
void
via_cancel(struct via_req *vr)
{
	if (vr != NULL)
		via_free(vr);
}
