/*
 * [isp] via: parsing proxy URLs, and the SOCKS5 and HTTP CONNECT handshakes
 * against scripted proxies on loopback, in the test's own event loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "log.h"
#include "unit.h"
#include "via.h"
#include "xmalloc.h"

/* One step of a scripted proxy: wait for expect, then send reply. */
struct step {
	const char *expect; /* NULL: send at once (after delay_ms) */
	size_t elen;
	const char *reply; /* NULL: send nothing */
	size_t rlen;
	int delay_ms;
	int close; /* close the connection after this step */
};

struct peer {
	struct event_base *base;
	int lfd;
	int port;
	struct event *lev;
	int fd;
	struct event *rev;
	struct event *delay;
	const struct step *steps;
	size_t nsteps, cur;
	char buf[16384];
	size_t len;
	int mismatch;
};

static struct event_base *base;
static struct evdns_base *dns;

static int calls;
static evutil_socket_t got_fd;
static int got_err;
static char got_why[1024];

#define S(s) s, sizeof(s) - 1

static void peer_run(struct peer *);

/* Send a step's reply now. */
static void
peer_reply(struct peer *p)
{
	const struct step *st = &p->steps[p->cur];

	if (st->reply != NULL && p->fd >= 0)
		CHECK(send(p->fd, st->reply, st->rlen, MSG_NOSIGNAL) ==
		    (ssize_t)st->rlen);
	if (st->close && p->fd >= 0) {
		if (p->rev != NULL)
			event_del(p->rev);
		close(p->fd);
		p->fd = -1;
	}
	p->cur++;
}

/* A delayed step is due. */
static void
peer_delaycb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	(void)fd;
	(void)what;
	peer_reply(p);
	peer_run(p);
}

/* Do every step whose expectation is met. */
static void
peer_run(struct peer *p)
{
	const struct step *st;
	struct timeval tv;

	while (p->cur < p->nsteps && p->fd >= 0) {
		st = &p->steps[p->cur];
		if (st->expect != NULL) {
			if (p->len < st->elen)
				return;
			if (memcmp(p->buf, st->expect, st->elen) != 0) {
				p->mismatch = 1;
				fprintf(stderr,
				    "peer: step %zu: got \"%.*s\"\n", p->cur,
				    (int)p->len, p->buf);
			}
			memmove(p->buf, p->buf + st->elen, p->len - st->elen);
			p->len -= st->elen;
		}
		if (st->delay_ms > 0) {
			tv.tv_sec = 0;
			tv.tv_usec = st->delay_ms * 1000;
			evtimer_add(p->delay, &tv);
			return;
		}
		peer_reply(p);
	}
}

/* The client sent something. */
static void
peer_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	ssize_t n;

	(void)what;
	n = recv(fd, p->buf + p->len, sizeof p->buf - p->len, 0);
	if (n <= 0) {
		event_del(p->rev);
		return;
	}
	p->len += (size_t)n;
	peer_run(p);
}

/* A client (via_connect) arrived. */
static void
peer_acceptcb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	(void)what;
	p->fd = accept(fd, NULL, NULL);
	if (p->fd < 0)
		return;
	event_del(p->lev);
	p->rev =
	    event_new(p->base, p->fd, EV_READ | EV_PERSIST, peer_readcb, p);
	event_add(p->rev, NULL);
	peer_run(p);
}

/* Listen on a loopback port (IPv4 or IPv6) for one client; -1 if not. */
static int
peer_listen(struct peer *p, int family, const struct step *steps, size_t n)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = sizeof ss;
	int one = 1;

	memset(p, 0, sizeof *p);
	p->base = base;
	p->steps = steps;
	p->nsteps = n;
	p->fd = -1;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *sin;
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof *sin6;
	}
	p->lfd = socket(family, SOCK_STREAM, 0);
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(p->lfd, 4) != 0) {
		if (p->lfd >= 0)
			close(p->lfd);
		return -1;
	}
	len = sizeof ss;
	getsockname(p->lfd, (struct sockaddr *)&ss, &len);
	p->port = ntohs(family == AF_INET ? sin->sin_port : sin6->sin6_port);
	p->lev = event_new(base, p->lfd, EV_READ, peer_acceptcb, p);
	p->delay = evtimer_new(base, peer_delaycb, p);
	event_add(p->lev, NULL);
	return 0;
}

/* Listen on IPv4 loopback for one client. */
static void
peer_start(struct peer *p, const struct step *steps, size_t n)
{
	if (peer_listen(p, AF_INET, steps, n) != 0)
		abort();
}

/* Tear a peer down. */
static void
peer_stop(struct peer *p)
{
	if (p->rev != NULL)
		event_free(p->rev);
	event_free(p->lev);
	event_free(p->delay);
	if (p->fd >= 0)
		close(p->fd);
	close(p->lfd);
}

/* The via callback: record the outcome and stop the loop. */
static void
donecb(evutil_socket_t fd, int err, const char *why, void *arg)
{
	(void)arg;
	calls++;
	got_fd = fd;
	got_err = err;
	snprintf(got_why, sizeof got_why, "%s", why != NULL ? why : "");
	event_base_loopbreak(base);
}

/* Run one via_connect to host:port through kind://[user:pass@]proxy. */
static void
run(enum via_kind kind, const char *user, const char *pass, const char *phost,
    int pport, const char *host, const char *port, int timeout_ms)
{
	struct via_conf vc;
	struct via_req *vr;
	struct timeval tv = { 5, 0 };
	char pp[16];

	memset(&vc, 0, sizeof vc);
	snprintf(pp, sizeof pp, "%d", pport);
	vc.vc_kind = kind;
	vc.vc_host = xstrdup(phost);
	vc.vc_port = xstrdup(pp);
	if (user != NULL) {
		vc.vc_user = xstrdup(user);
		vc.vc_pass = xstrdup(pass);
	}
	calls = 0;
	got_fd = -1;
	got_err = 0;
	got_why[0] = '\0';
	vr = via_connect(base, dns, &vc, host, port, timeout_ms, donecb, NULL);
	/* NULL exactly when the callback already ran. */
	CHECK((vr == NULL) == (calls == 1));
	if (vr != NULL) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	CHECK(calls == 1);
	via_conf_clear(&vc);
}

/* Expect failure with this errno and exactly this message. */
static void
check_fail(int err, const char *why)
{
	CHECK(got_fd == -1);
	CHECK(got_err == err);
	if (strcmp(got_why, why) != 0) {
		unit_fail++;
		fprintf(stderr, "want \"%s\"\n got \"%s\" (err %d)\n", why,
		    got_why, got_err);
	} else
		unit_pass++;
}

/* Expect success, then these bytes (the esp's) as the first to read. */
static void
check_ok(const char *first)
{
	struct pollfd pfd;
	char buf[64];
	ssize_t n;

	CHECK(got_fd >= 0);
	CHECK(got_err == 0);
	if (got_fd < 0) {
		fprintf(stderr, "failed: %s\n", got_why);
		return;
	}
	CHECK(fcntl(got_fd, F_GETFL) & O_NONBLOCK);
	pfd.fd = got_fd;
	pfd.events = POLLIN;
	CHECK(poll(&pfd, 1, 2000) == 1);
	n = recv(got_fd, buf, sizeof buf - 1, 0);
	CHECK(n == (ssize_t)strlen(first));
	if (n > 0) {
		buf[n] = '\0';
		CHECK(strcmp(buf, first) == 0);
	}
	close(got_fd);
}

/* Parse a good URL and compare the parts. */
static void
parse_ok(const char *url, enum via_kind kind, const char *host,
    const char *port, const char *user, const char *pass)
{
	struct via_conf vc;
	char *cause = NULL;

	if (via_parse(url, &vc, &cause) != 0) {
		unit_fail++;
		fprintf(stderr, "%s: %s\n", url, cause);
		free(cause);
		return;
	}
	CHECK(vc.vc_kind == kind);
	CHECK(strcmp(vc.vc_host, host) == 0);
	CHECK(strcmp(vc.vc_port, port) == 0);
	if (user == NULL)
		CHECK(vc.vc_user == NULL && vc.vc_pass == NULL);
	else {
		CHECK(vc.vc_user != NULL && strcmp(vc.vc_user, user) == 0);
		CHECK(vc.vc_pass != NULL && strcmp(vc.vc_pass, pass) == 0);
	}
	via_conf_clear(&vc);
}

/* Parse a bad URL and compare the message. */
static void
parse_bad(const char *url, const char *want)
{
	struct via_conf vc;
	char *cause = NULL;

	if (via_parse(url, &vc, &cause) == 0) {
		unit_fail++;
		fprintf(stderr, "%s: parsed\n", url);
		via_conf_clear(&vc);
		return;
	}
	if (cause == NULL || strcmp(cause, want) != 0) {
		unit_fail++;
		fprintf(stderr, "%s:\n want \"%s\"\n got \"%s\"\n", url, want,
		    cause);
	} else
		unit_pass++;
	CHECK(vc.vc_host == NULL && vc.vc_user == NULL);
	free(cause);
}

/* Good and bad proxy URLs. */
static void
test_parse(void)
{
	char url[600], user[300];

	parse_ok("socks5://192.0.2.9:1080", VIA_SOCKS5, "192.0.2.9", "1080",
	    NULL, NULL);
	parse_ok("SOCKS5h://proxy.example.net:1080/", VIA_SOCKS5,
	    "proxy.example.net", "1080", NULL, NULL);
	parse_ok("http://proxy.example.net:3128", VIA_HTTP, "proxy.example.net",
	    "3128", NULL, NULL);
	parse_ok("socks5://[2001:db8::9]:1080", VIA_SOCKS5, "2001:db8::9",
	    "1080", NULL, NULL);
	parse_ok("http://alice:s%40cret%3A1@[2001:db8::9]:8080", VIA_HTTP,
	    "2001:db8::9", "8080", "alice", "s@cret:1");
	parse_ok("http://bob:p@ss:w@proxy:3128", VIA_HTTP, "proxy", "3128",
	    "bob", "p@ss:w");
	parse_ok("http://dave:a/b?c#d@proxy:3128/", VIA_HTTP, "proxy", "3128",
	    "dave", "a/b?c#d");
	parse_ok("socks5://carol:@proxy:1080", VIA_SOCKS5, "proxy", "1080",
	    "carol", "");

	parse_bad("proxy.example.net:1080",
	    "not a proxy URL; use socks5://host:port or http://host:port");
	parse_bad("ftp://proxy:21",
	    "unknown scheme \"ftp\"; use socks5:// or "
	    "http://");
	parse_bad("socks4://proxy:1080",
	    "unknown scheme \"socks4\"; use socks5:// or http://");
	parse_bad("https://proxy:443",
	    "TLS to the proxy (https://) is not supported; use http:// "
	    "(CONNECT) or socks5://");
	parse_bad("socks5://proxy",
	    "missing port, e.g. socks5://proxy.example.net:1080");
	parse_bad("http://proxy:",
	    "missing port, e.g. "
	    "http://proxy.example.net:3128");
	parse_bad("socks5://[2001:db8::9]",
	    "missing port, e.g. socks5://proxy.example.net:1080");
	parse_bad("socks5://proxy:0", "bad port \"0\" (1-65535)");
	parse_bad("socks5://proxy:65536", "bad port \"65536\" (1-65535)");
	parse_bad("http://proxy:31x", "bad port \"31x\" (1-65535)");
	parse_bad("socks5://:1080",
	    "missing proxy host, e.g. socks5://proxy.example.net:1080");
	parse_bad("socks5://",
	    "missing proxy host, e.g. "
	    "socks5://proxy.example.net:1080");
	parse_bad("socks5://2001:db8::9:1080",
	    "an IPv6 address needs brackets, e.g. "
	    "socks5://[2001:db8::1]:1080");
	parse_bad("socks5://[2001:db8::9:1080",
	    "missing \"]\" after the IPv6 address");
	parse_bad("socks5://[proxy]:1080", "bad IPv6 address \"proxy\"");
	parse_bad("socks5://[2001:db8::9]x:1080",
	    "unexpected \"x:1080\" after \"]\"");
	parse_bad("socks5://pro xy:1080", "bad proxy host \"pro xy\"");
	parse_bad("http://proxy:3128/path",
	    "unexpected path \"/path\"; give only host:port");
	parse_bad("http://proxy:3128?x=1",
	    "unexpected path \"?x=1\"; give only host:port");
	parse_bad("socks5://alice@proxy:1080",
	    "a login needs user:password@ before the host");
	parse_bad("socks5://:pw@proxy:1080", "empty user name before \"@\"");
	parse_bad("socks5://alice:%zz@proxy:1080",
	    "bad percent escape in the password");
	parse_bad("socks5://al%2@proxy:1080",
	    "a login needs user:password@ before the host");
	parse_bad("socks5://al%2:x@proxy:1080",
	    "bad percent escape in the user name");
	parse_bad("socks5://al%00:x@proxy:1080",
	    "bad percent escape in the user name");
	parse_bad("http://a%3Ab:c@proxy:3128",
	    "an HTTP user name cannot contain \":\"");
	memset(user, 'u', 256);
	user[256] = '\0';
	snprintf(url, sizeof url, "socks5://%s:pw@proxy:1080", user);
	parse_bad(url, "user name longer than 255 bytes");
	snprintf(url, sizeof url, "socks5://pw:%s@proxy:1080", user);
	parse_bad(url, "password longer than 255 bytes");
	/* The message never echoes the URL (it may hold a password). */
	parse_bad("gopher://alice:secret@proxy:1",
	    "unknown scheme \"gopher\"; use socks5:// or http://");
}

/* SOCKS5 handshakes against a scripted proxy. */
static void
test_socks(void)
{
	struct peer p;
	char want[300];
	static const struct {
		int code, err;
		const char *what;
	} codes[] = {
		{ 1, EIO, "general SOCKS server failure" },
		{ 2, EACCES, "connection not allowed by ruleset" },
		{ 3, ENETUNREACH, "network unreachable" },
		{ 4, EHOSTUNREACH, "host unreachable" },
		{ 5, ECONNREFUSED, "connection refused" },
		{ 6, ETIMEDOUT, "TTL expired" },
		{ 7, EOPNOTSUPP, "command not supported" },
		{ 8, EAFNOSUPPORT, "address type not supported" },
		{ 9, EPROTO, "unknown reply code" },
	};
	char reply[10];
	size_t i;

	/* No login, target by name (ATYP 3); the esp's bytes follow. */
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05\x00"), 0, 0 },
			{ S("\x05\x01\x00\x03\x0f"
			    "esp.example.net\x11\x4e"),
			    S("\x05\x00\x00\x01\xc0\x00\x02\x01\x30\x39"
			      "TLS!"),
			    0, 0 },
		};
		peer_start(&p, st, 2);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port,
		    "esp.example.net", "4430", 2000);
		check_ok("TLS!");
		CHECK(!p.mismatch && p.cur == 2);
		peer_stop(&p);
	}
	/* Login (RFC 1929), IPv4 target (ATYP 1), IPv6 BND.ADDR. */
	{
		const struct step st[] = {
			{ S("\x05\x02\x00\x02"), S("\x05\x02"), 0, 0 },
			{ S("\x01\x05"
			    "alice\x06secret"),
			    S("\x01\x00"), 0, 0 },
			{ S("\x05\x01\x00\x01\xc6\x33\x64\x02\x11\x4e"),
			    S("\x05\x00\x00\x04"
			      "0123456789abcdef\x01\x02"
			      "x"),
			    0, 0 },
		};
		peer_start(&p, st, 3);
		run(VIA_SOCKS5, "alice", "secret", "127.0.0.1", p.port,
		    "198.51.100.2", "4430", 2000);
		check_ok("x");
		CHECK(!p.mismatch && p.cur == 3);
		peer_stop(&p);
	}
	/* Login offered, proxy needs none; IPv6 target (ATYP 4); a domain
	 * BND.ADDR, sent in pieces. */
	{
		const struct step st[] = {
			{ S("\x05\x02\x00\x02"), S("\x05\x00"), 0, 0 },
			{ S("\x05\x01\x00\x04\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0"
			    "\0\0\0\x02\x11\x4e"),
			    S("\x05\x00\x00\x03\x07"), 0, 0 },
			{ NULL, 0, S("proxy.x"), 50, 0 },
			{ NULL, 0, S("\x04\x38y"), 50, 0 },
		};
		peer_start(&p, st, 4);
		run(VIA_SOCKS5, "alice", "secret", "127.0.0.1", p.port,
		    "2001:db8::2", "4430", 2000);
		check_ok("y");
		CHECK(!p.mismatch && p.cur == 4);
		peer_stop(&p);
	}
	/* Every reply code becomes an errno and a message. */
	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		memcpy(reply, "\x05\x00\x00\x01\0\0\0\0\0\0", 10);
		reply[1] = (char)codes[i].code;
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05\x00"), 0, 0 },
			{ S("\x05\x01\x00\x03\x03"
			    "esp\x11\x4e"),
			    reply, 10, 0, 0 },
		};
		peer_start(&p, st, 2);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d answered SOCKS5 reply %d (%s)", p.port,
		    codes[i].code, codes[i].what);
		check_fail(codes[i].err, want);
		peer_stop(&p);
	}
	/* Wrong password. */
	{
		const struct step st[] = {
			{ S("\x05\x02\x00\x02"), S("\x05\x02"), 0, 0 },
			{ S("\x01\x05"
			    "alice\x05wrong"),
			    S("\x01\x01"), 0, 0 },
		};
		peer_start(&p, st, 2);
		run(VIA_SOCKS5, "alice", "wrong", "127.0.0.1", p.port, "esp",
		    "4430", 2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d refused the SOCKS5 login of user "
		    "\"alice\" (status 1)",
		    p.port);
		check_fail(EACCES, want);
		peer_stop(&p);
	}
	/* A login needed but none given. */
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05\xff"), 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d accepts none of our SOCKS5 methods "
		    "(none); does it need user:pass@?",
		    p.port);
		check_fail(EACCES, want);
		peer_stop(&p);
	}
	/* A method we did not offer. */
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05\x02"), 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d chose SOCKS5 method 0x02, which we "
		    "did not offer",
		    p.port);
		check_fail(EPROTO, want);
		peer_stop(&p);
	}
	/* An HTTP proxy configured as socks5://. */
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"),
			    S("HTTP/1.0 400 Bad Request\r\n\r\n"), 0, 1 },
		};
		peer_start(&p, st, 1);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d is not a SOCKS5 proxy (its answer "
		    "starts with 0x48, like HTTP: use http://)",
		    p.port);
		check_fail(EPROTO, want);
		peer_stop(&p);
	}
	/* A bad address type in the reply. */
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05\x00"), 0, 0 },
			{ S("\x05\x01\x00\x03\x03"
			    "esp\x11\x4e"),
			    S("\x05\x00\x00\x07\x00\x00\x00"), 0, 0 },
		};
		peer_start(&p, st, 2);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d sent a SOCKS5 reply with address "
		    "type 7",
		    p.port);
		check_fail(EPROTO, want);
		peer_stop(&p);
	}
	/* Closed mid-way. */
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05"), 0, 1 },
		};
		peer_start(&p, st, 1);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d closed the connection during the "
		    "SOCKS5 greeting",
		    p.port);
		check_fail(ECONNRESET, want);
		peer_stop(&p);
	}
	/* Silent: the timeout bounds the exchange. */
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05\x00"), 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    300);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d: no answer within 300 ms", p.port);
		check_fail(ETIMEDOUT, want);
		CHECK(p.cur == 1);
		peer_stop(&p);
	}
}

/* HTTP CONNECT handshakes against a scripted proxy. */
static void
test_http(void)
{
	struct peer p;
	char want[300];

	/* 200, in pieces split inside the terminator; the esp's bytes stay. */
	{
		const struct step st[] = {
			{ S("CONNECT esp.example.net:4430 HTTP/1.1\r\n"
			    "Host: esp.example.net:4430\r\n\r\n"),
			    S("HTTP/1.1 200 Connection established\r\n"
			      "Proxy-agent: test\r\n\r"),
			    0, 0 },
			{ NULL, 0, S("\nTLS!"), 50, 0 },
		};
		peer_start(&p, st, 2);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port,
		    "esp.example.net", "4430", 2000);
		check_ok("TLS!");
		CHECK(!p.mismatch && p.cur == 2);
		peer_stop(&p);
	}
	/* Basic auth, IPv6 target in brackets, HTTP/1.0 answer. */
	{
		const struct step st[] = {
			{ S("CONNECT [2001:db8::2]:4430 HTTP/1.1\r\n"
			    "Host: [2001:db8::2]:4430\r\n"
			    "Proxy-Authorization: Basic "
			    "YWxpY2U6cyBAY3JldA==\r\n\r\n"),
			    S("HTTP/1.0 200 OK\r\n\r\n"), 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, "alice", "s @cret", "127.0.0.1", p.port,
		    "2001:db8::2", "4430", 2000);
		CHECK(got_fd >= 0);
		if (got_fd >= 0)
			close(got_fd);
		CHECK(!p.mismatch && p.cur == 1);
		peer_stop(&p);
	}
	/* 407 with a login, and a hint without one. */
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\n"
			    "Host: esp:4430\r\n"
			    "Proxy-Authorization: Basic "
			    "YWxpY2U6d3Jvbmc=\r\n\r\n"),
			    S("HTTP/1.1 407 Proxy Authentication Required\r\n"
			      "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n"),
			    0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, "alice", "wrong", "127.0.0.1", p.port, "esp",
		    "4430", 2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d answered \"HTTP/1.1 407 Proxy "
		    "Authentication Required\"",
		    p.port);
		check_fail(EACCES, want);
		CHECK(!p.mismatch);
		peer_stop(&p);
	}
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    S("HTTP/1.1 407 Proxy Authentication Required\r\n"
			      "\r\n"),
			    0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d answered \"HTTP/1.1 407 Proxy "
		    "Authentication Required\" (it needs user:pass@ in via)",
		    p.port);
		check_fail(EACCES, want);
		peer_stop(&p);
	}
	/* 403, like tinyproxy's refusal of a port. */
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    S("HTTP/1.0 403 Access violation\r\nServer: t\r\n"
			      "\r\n<html>body</html>"),
			    0, 1 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d answered \"HTTP/1.0 403 Access "
		    "violation\"",
		    p.port);
		check_fail(EACCES, want);
		peer_stop(&p);
	}
	/* 502 and 504. */
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    S("HTTP/1.1 504 Gateway Timeout\r\n\r\n"), 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d answered \"HTTP/1.1 504 Gateway "
		    "Timeout\"",
		    p.port);
		check_fail(ETIMEDOUT, want);
		peer_stop(&p);
	}
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    S("HTTP/1.1 502 Bad Gateway\r\n\r\n"), 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		CHECK(got_fd == -1 && got_err == ECONNREFUSED);
		peer_stop(&p);
	}
	/* Garbage: not HTTP at all, with control bytes made visible. */
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    S("SSH-2.0-OpenSSH\x01\r\n\r\n"), 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d is not an HTTP proxy (it answered "
		    "\"SSH-2.0-OpenSSH\\x01\")",
		    p.port);
		check_fail(EPROTO, want);
		peer_stop(&p);
	}
	/* A head that never ends is bounded. */
	{
		static char big[9000];
		memset(big, 'a', sizeof big);
		memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    big, sizeof big, 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d answered a head longer than 8191 "
		    "bytes",
		    p.port);
		check_fail(EPROTO, want);
		peer_stop(&p);
	}
	/* Closed without an answer. */
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    S("HTTP/1.1 200"), 0, 1 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d closed the connection in the middle "
		    "of its answer",
		    p.port);
		check_fail(ECONNRESET, want);
		peer_stop(&p);
	}
	/* Silent. */
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    NULL, 0, 0, 0 },
		};
		peer_start(&p, st, 1);
		run(VIA_HTTP, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    250);
		snprintf(want, sizeof want,
		    "proxy 127.0.0.1:%d: no answer within 250 ms", p.port);
		check_fail(ETIMEDOUT, want);
		peer_stop(&p);
	}
}

/* Connect failures, names, cancelling. */
static void
test_misc(void)
{
	struct via_conf vc;
	struct via_req *vr;
	struct peer p;
	struct timeval tv = { 0, 100000 };
	char want[300], hosts[] = "/tmp/test_via.XXXXXX";
	int port, fd;

	/* Nobody listening: the connect's errno. */
	peer_start(&p, NULL, 0);
	port = p.port;
	peer_stop(&p);
	run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", port, "esp", "4430", 2000);
	snprintf(want, sizeof want,
	    "proxy 127.0.0.1:%d: cannot connect: Connection refused", port);
	check_fail(ECONNREFUSED, want);

	/* A proxy by name (from a hosts file) is named with its address. */
	fd = mkstemp(hosts);
	CHECK(fd >= 0 && write(fd, "127.0.0.1 proxy.test\n", 21) == 21);
	close(fd);
	CHECK(evdns_base_load_hosts(dns, hosts) == 0);
	unlink(hosts);
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05\x00"), 0, 0 },
			{ S("\x05\x01\x00\x03\x03"
			    "esp\x11\x4e"),
			    S("\x05\x05\x00\x01\0\0\0\0\0\0"), 0, 0 },
		};
		peer_start(&p, st, 2);
		run(VIA_SOCKS5, NULL, NULL, "proxy.test", p.port, "esp", "4430",
		    2000);
		snprintf(want, sizeof want,
		    "proxy proxy.test:%d (127.0.0.1:%d) answered SOCKS5 reply "
		    "5 (connection refused)",
		    p.port, p.port);
		check_fail(ECONNREFUSED, want);
		peer_stop(&p);
	}

	/* Without a resolver, numeric proxies still work. */
	{
		const struct step st[] = {
			{ S("\x05\x01\x00"), S("\x05\x00"), 0, 0 },
			{ S("\x05\x01\x00\x03\x03"
			    "esp\x11\x4e"),
			    S("\x05\x00\x00\x01\0\0\0\0\0\0"), 0, 0 },
		};
		struct evdns_base *saved = dns;

		dns = NULL;
		peer_start(&p, st, 2);
		run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", p.port, "esp", "4430",
		    2000);
		CHECK(got_fd >= 0);
		if (got_fd >= 0)
			close(got_fd);
		peer_stop(&p);
		dns = saved;
	}

	/* An IPv6 proxy, named in brackets (if this host has ::1). */
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    S("HTTP/1.1 403 Forbidden\r\n\r\n"), 0, 0 },
		};
		if (peer_listen(&p, AF_INET6, st, 1) == 0) {
			run(VIA_HTTP, NULL, NULL, "::1", p.port, "esp", "4430",
			    2000);
			snprintf(want, sizeof want,
			    "proxy [::1]:%d answered \"HTTP/1.1 403 "
			    "Forbidden\"",
			    p.port);
			check_fail(EACCES, want);
			peer_stop(&p);
		} else
			printf(
			    "test_via: no IPv6 loopback, IPv6 case skipped\n");
	}

	/* A bad target fails at once, through the callback. */
	run(VIA_SOCKS5, NULL, NULL, "127.0.0.1", 1, "bad host", "4430", 2000);
	check_fail(EINVAL, "cannot ask proxy 127.0.0.1:1 for \"bad host\"");

	/* Cancelled while connecting, and while waiting for an answer: the
	 * callback is never called. */
	memset(&vc, 0, sizeof vc);
	vc.vc_kind = VIA_HTTP;
	vc.vc_host = xstrdup("127.0.0.1");
	{
		const struct step st[] = {
			{ S("CONNECT esp:4430 HTTP/1.1\r\nHost: "
			    "esp:4430\r\n\r\n"),
			    NULL, 0, 0, 0 },
		};
		peer_start(&p, st, 1);
		snprintf(want, sizeof want, "%d", port); /* refused */
		vc.vc_port = xstrdup(want);
		calls = 0;
		vr = via_connect(base, dns, &vc, "esp", "4430", 200, donecb,
		    NULL);
		CHECK(vr != NULL);
		via_cancel(vr);
		free(vc.vc_port);
		snprintf(want, sizeof want, "%d", p.port);
		vc.vc_port = xstrdup(want);
		vr = via_connect(base, dns, &vc, "esp", "4430", 400, donecb,
		    NULL);
		CHECK(vr != NULL);
		event_base_loopexit(base, &tv);
		event_base_dispatch(base); /* request sent, no answer yet */
		CHECK(p.cur == 1);
		via_cancel(vr);
		tv.tv_usec = 600000;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base); /* past the 400 ms timeout */
		CHECK(calls == 0);
		peer_stop(&p);
	}
	via_conf_clear(&vc);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init("test_via", 0, 0);
	base = event_base_new();
	dns = evdns_base_new(base, 0);

	test_parse();
	test_socks();
	test_http();
	test_misc();

	evdns_base_free(dns, 0);
	event_base_free(base);
	return unit_done("test_via");
}
