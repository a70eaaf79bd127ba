/* isp -R: try a rule file on its vectors and on a capture. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "addr.h"
#include "escape.h"
#include "isp.h"
#include "scan.h"
#include "xmalloc.h"

#define RULETEST_SEGMENT 1448  /* a TCP segment's payload on Ethernet */
#define RULETEST_PIECES  13    /* the other way: pieces of 1 to 13 bytes */
#define RULETEST_SHOW    200   /* bytes of an announcement or rewrite shown */
#define RULETEST_PORT    40000 /* the example listener's port */
#define RULETEST_IPV4    "192.0.2.1"
#define RULETEST_IPV6    "2001:db8::1"

/* One direction of the capture through one scanner, fed one way. */
struct ruletest_scan {
	enum rule_dir rs_dir;
	struct scan *rs_scan;
	struct evbuffer *rs_in;
	struct evbuffer *rs_out;
	uint64_t rs_fed;  /* bytes of the capture fed */
	uint64_t rs_off;  /* bytes of the stream passed or announced */
	uint64_t rs_hash; /* of the findings, to compare the two ways */
	size_t rs_found;
	size_t rs_pieces; /* pieces fed, to vary their sizes */
	int rs_print;     /* print the findings (the other way only counts) */
	int rs_failed;    /* the scanner failed closed: nothing more passes */
};

static void ruletest_line(struct ruletest_scan *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* The rule file's name for a direction. */
static const char *
ruletest_dir_name(enum rule_dir dir)
{
	return dir == RULE_C2S ? "client-to-server" : "server-to-client";
}

/* One vector's outcome, one line. */
static void
ruletest_vectorcb(const struct rule_app *a, const struct rule_kind *k,
    const char *id, const char *failure, void *arg)
{
	(void)a;
	if (failure != NULL)
		printf("FAIL: %s\n", failure);
	else
		printf("pass: %s: [%s] %s\n", (const char *)arg,
		    rule_kind_name(k), id);
}

/* Run the vectors; the number that failed. */
static size_t
ruletest_vectors(const struct ruleset *rs, const char *path)
{
	size_t n = ruleset_vector_count(rs), failed;

	failed = ruleset_report_vectors(rs, ruletest_vectorcb, (void *)path);
	if (n == 0)
		printf("%s: no test vectors\n", path);
	else if (failed == 0)
		printf("%s: %zu test vectors passed\n", path, n);
	else
		printf("%s: %zu of %zu test vectors failed\n", path, failed, n);
	return failed;
}

/* Escape at most RULETEST_SHOW bytes, "..." after them if there are more. */
static const char *
ruletest_show(const void *p, size_t len, char *buf, size_t size)
{
	size_t n = len > RULETEST_SHOW ? RULETEST_SHOW : len, o;

	o = esc_bytes(buf, size, p, n, ESC_QUOTES);
	if (n < len && o + 4 <= size)
		memcpy(buf + o, "...", 4);
	return buf;
}

/* Fold bytes into a running FNV-1a hash. */
static uint64_t
ruletest_hash(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* A line of findings: counted into the hash, and printed one way. */
static void
ruletest_line(struct ruletest_scan *rs, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	rs->rs_hash = ruletest_hash(rs->rs_hash, line, strlen(line));
	if (rs->rs_print)
		printf("%s\n", line);
}

/* The announced endpoint, as "10.1.2.3:1029", "[2001:db8::5]:21" etc. */
static const char *
ruletest_endpoint(const struct announce *an, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (an->an_suspect)
		snprintf(buf, len, "%s", "");
	else if (an->an_implied || an->an_family == 0)
		snprintf(buf, len, "(%s):%u ",
		    an->an_dir == RULE_C2S ? "client" : "server", an->an_port);
	else {
		inet_ntop(an->an_family, an->an_addr, host, sizeof host);
		snprintf(buf, len,
		    an->an_family == AF_INET6 ? "[%s]:%u " : "%s:%u ", host,
		    an->an_port);
	}
	return buf;
}

/* The example replacement: the announcement's family, IPv4 if none. */
static void
ruletest_example(int family, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, RULETEST_IPV6, &sin6->sin6_addr);
		sin6->sin6_port = htons(port);
	} else {
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, RULETEST_IPV4, &sin->sin_addr);
		sin->sin_port = htons(port);
	}
}

/*
 * Rewrite the pending announcement as the daemons do, to the example
 * address: in its family, or in IPv4 when the rule cannot write that.
 * Returns 0, 1 if it fell back to IPv4, or -1 if nothing could be written.
 */
static int
ruletest_emit(struct ruletest_scan *rs, const struct announce *an,
    uint16_t port, struct evbuffer *rw, char *at, size_t atlen)
{
	struct sockaddr_storage ss;
	int family = an->an_suspect ? AF_INET : an->an_family;

	ruletest_example(family, port, &ss);
	addr_str((struct sockaddr *)&ss, at, atlen);
	if (scan_emit(rs->rs_scan, (struct sockaddr *)&ss, rw) == 0)
		return 0;
	if (family != AF_INET6)
		return -1;
	ruletest_example(AF_INET, port, &ss);
	addr_str((struct sockaddr *)&ss, at, atlen);
	return scan_emit(rs->rs_scan, (struct sockaddr *)&ss, rw) == 0 ? 1 : -1;
}

/*
 * Why the daemons refuse an announcement whatever the user and the
 * connection, as isp/reverse.c and esp/outside.c decide; or NULL.
 */
static const char *
ruletest_refused(const struct announce *an)
{
	const char *why = NULL;

	if (an->an_suspect)
		return an->an_why;
	if (announce_check_port(an, &why) != 0)
		return why;
	return NULL;
}

/* What the daemons do with it once the user and connection are fine. */
static const char *
ruletest_condition(const struct announce *an, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (rule_kind_action(an->an_kind) == RULE_CLIENT_CONNECTS) {
		snprintf(buf, len, "%s",
		    an->an_implied || rule_kind_other_hosts(an->an_kind)
			? ""
			: ", if it is the server's address");
		return buf;
	}
	if (an->an_implied || an->an_family == 0) {
		snprintf(buf, len, "%s", "");
		return buf;
	}
	inet_ntop(an->an_family, an->an_addr, host, sizeof host);
	snprintf(buf, len, "; only if %s is the client's own address", host);
	return buf;
}

/*
 * A server's announcement the daemons honour: they write it out as it was
 * decoded (the same bytes, unless it had leading zeros and the like).
 */
static void
ruletest_honour(struct ruletest_scan *rs, const struct announce *an,
    const char *p, size_t len, struct evbuffer *rw)
{
	struct sockaddr_storage server, ss;
	char *orig = xmalloc(len + 1), out[1024], cond[128];

	memcpy(orig, p, len);
	ruletest_example(AF_INET, 0, &server); /* the server, when implied */
	announce_endpoint(an, &server, &ss);
	ruletest_condition(an, cond, sizeof cond);
	if (scan_emit(rs->rs_scan, (struct sockaddr *)&ss, rw) != 0) {
		ruletest_line(rs,
		    "  the rule cannot write it as decoded: the connection "
		    "would be reset");
		rs->rs_failed = 1;
	} else if (evbuffer_get_length(rw) == len &&
	    memcmp(evbuffer_pullup(rw, -1), orig, len) == 0)
		ruletest_line(rs,
		    "  unchanged (the client may connect there once%s)", cond);
	else
		ruletest_line(rs,
		    "  written as decoded: \"%s\" (the client may connect "
		    "there once%s)",
		    ruletest_show(evbuffer_pullup(rw, -1),
			evbuffer_get_length(rw), out, sizeof out),
		    cond);
	free(orig);
}

/* Report one announcement and pass it on as the daemons would. */
static void
ruletest_found(struct ruletest_scan *rs, const struct announce *an)
{
	struct evbuffer *rw = evbuffer_new();
	const char *p, *why;
	char ep[80], text[1024], out[1024], at[64], cond[128];
	size_t len;
	int rc;

	p = scan_pending(rs->rs_scan, &len);
	ruletest_line(rs, "%s: offset %" PRIu64 ": [%s] %s\"%s\"",
	    ruletest_dir_name(rs->rs_dir), rs->rs_off,
	    rule_kind_name(an->an_kind), ruletest_endpoint(an, ep, sizeof ep),
	    ruletest_show(p, len, text, sizeof text));
	rs->rs_off += len;
	rs->rs_found++;
	why = ruletest_refused(an);
	if (why == NULL &&
	    rule_kind_action(an->an_kind) == RULE_CLIENT_CONNECTS) {
		ruletest_honour(rs, an, p, len, rw);
		evbuffer_free(rw);
		return;
	}
	rc = ruletest_emit(rs, an, why != NULL ? 0 : RULETEST_PORT, rw, at,
	    sizeof at);
	if (rc < 0) {
		ruletest_line(rs,
		    "  the rule cannot write it for %s: the connection would "
		    "be reset",
		    at);
		rs->rs_failed = 1;
		evbuffer_free(rw);
		return;
	}
	ruletest_show(evbuffer_pullup(rw, -1), evbuffer_get_length(rw), out,
	    sizeof out);
	if (why != NULL)
		ruletest_line(rs, "  refused: %s; neutralised to \"%s\"", why,
		    out);
	else
		ruletest_line(rs,
		    "  rewrite: \"%s\" (to the isp's listener, here %s%s)%s",
		    out, at, ruletest_condition(an, cond, sizeof cond),
		    rc == 1 ? " (the rule cannot write an IPv6 address)" : "");
	evbuffer_free(rw);
}

/* Run the scanner on what it has; in may be NULL (nothing new). */
static void
ruletest_run(struct ruletest_scan *rs, struct evbuffer *in)
{
	struct announce an;
	const char *why;
	enum scan_result r;

	while (!rs->rs_failed) {
		r = scan_feed(rs->rs_scan, in, rs->rs_out, &an, &why);
		in = NULL;
		rs->rs_off += evbuffer_get_length(rs->rs_out);
		evbuffer_drain(rs->rs_out, evbuffer_get_length(rs->rs_out));
		if (r == SCAN_MORE)
			return;
		if (r == SCAN_ERROR) {
			/* Where and why may differ with the pieces; not that. */
			if (rs->rs_print)
				printf("%s: offset %" PRIu64 ": error: %s; the "
				       "connection would be reset\n",
				    ruletest_dir_name(rs->rs_dir), rs->rs_off,
				    why);
			rs->rs_hash = ruletest_hash(rs->rs_hash, "error", 5);
			rs->rs_failed = 1;
			return;
		}
		ruletest_found(rs, &an);
	}
}

/* Feed bytes of the capture. */
static void
ruletest_feed(struct ruletest_scan *rs, const char *p, size_t len)
{
	rs->rs_fed += len;
	if (rs->rs_failed)
		return;
	evbuffer_add(rs->rs_in, p, len);
	ruletest_run(rs, rs->rs_in);
}

/* Feed bytes in pieces of 1 to RULETEST_PIECES bytes. */
static void
ruletest_feed_pieces(struct ruletest_scan *rs, const char *p, size_t len)
{
	size_t i, k;

	for (i = 0; i < len; i += k) {
		k = 1 + (rs->rs_pieces++ * 7) % RULETEST_PIECES;
		if (k > len - i)
			k = len - i;
		ruletest_feed(rs, p + i, k);
	}
}

/* The end of the capture: what was held back for longer forms. */
static void
ruletest_end(struct ruletest_scan *rs)
{
	if (rs->rs_failed)
		return;
	scan_eof(rs->rs_scan);
	ruletest_run(rs, NULL);
	if (rs->rs_failed)
		return;
	scan_flush(rs->rs_scan, rs->rs_out);
	rs->rs_off += evbuffer_get_length(rs->rs_out);
	evbuffer_drain(rs->rs_out, evbuffer_get_length(rs->rs_out));
}

/* Set up a scan of one direction. */
static void
ruletest_scan_init(struct ruletest_scan *rs, const struct rule_app *a,
    enum rule_dir dir, int print)
{
	memset(rs, 0, sizeof *rs);
	rs->rs_dir = dir;
	rs->rs_scan = scan_new(a, dir, 0);
	rs->rs_in = evbuffer_new();
	rs->rs_out = evbuffer_new();
	rs->rs_hash = 0xcbf29ce484222325ULL;
	rs->rs_print = print;
}

/* Free a scan. */
static void
ruletest_scan_free(struct ruletest_scan *rs)
{
	scan_free(rs->rs_scan);
	evbuffer_free(rs->rs_in);
	evbuffer_free(rs->rs_out);
}

/*
 * One direction of the capture, from the start of f: in segments, as
 * printed, and at the same time in small pieces, which must find the
 * same. 0, or -1 on a read error or a difference.
 */
static int
ruletest_direction(const struct rule_app *a, enum rule_dir dir, FILE *f,
    const char *path)
{
	struct ruletest_scan seg, pieces;
	char buf[RULETEST_SEGMENT];
	size_t n;
	int rc = 0;

	ruletest_scan_init(&seg, a, dir, 1);
	ruletest_scan_init(&pieces, a, dir, 0);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		ruletest_feed(&seg, buf, n);
		ruletest_feed_pieces(&pieces, buf, n);
	}
	if (ferror(f)) {
		fprintf(stderr, "isp: %s: cannot read: %s\n", path,
		    strerror(errno));
		rc = -1;
	} else {
		ruletest_end(&seg);
		ruletest_end(&pieces);
		if (seg.rs_found == 0)
			printf("%s: %" PRIu64 " bytes scanned, nothing found\n",
			    ruletest_dir_name(dir), seg.rs_fed);
		else
			printf("%s: %" PRIu64 " bytes scanned, %zu found\n",
			    ruletest_dir_name(dir), seg.rs_fed, seg.rs_found);
		if (seg.rs_hash != pieces.rs_hash) {
			printf("FAIL: %s: fed in pieces of 1 to %d bytes "
			       "instead, the scanner finds something else (%zu "
			       "found, not %zu)\n",
			    ruletest_dir_name(dir), RULETEST_PIECES,
			    pieces.rs_found, seg.rs_found);
			rc = -1;
		}
	}
	ruletest_scan_free(&seg);
	ruletest_scan_free(&pieces);
	return rc;
}

/* Scan a capture in each direction the rule file scans. */
static int
ruletest_capture(const struct rule_app *a, const char *path)
{
	FILE *f;
	int rc = 0, done = 0;
	enum rule_dir dir;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "isp: %s: cannot open: %s\n", path,
		    strerror(errno));
		return -1;
	}
	for (dir = RULE_C2S; dir <= RULE_S2C; dir++) {
		if (!rule_app_scans(a, dir))
			continue;
		if (done++ > 0 && fseek(f, 0, SEEK_SET) != 0) {
			fprintf(stderr,
			    "isp: %s: cannot read it again for the other "
			    "direction: %s\n",
			    path, strerror(errno));
			rc = -1;
			break;
		}
		if (ruletest_direction(a, dir, f, path) != 0)
			rc = -1;
	}
	fclose(f);
	return rc;
}

/*
 * isp -R RULEFILE [CAPTURE]: load one rule file, run its test vectors,
 * and show what it finds in a capture of one direction of a connection.
 * Exit 0 if all went well, else 1.
 */
int
ruletest_main(const char *rulefile, const char *capture)
{
	struct ruleset *rs = ruleset_new();
	char *cause = NULL;
	int rc = 0;

	if (ruleset_load_file(rs, rulefile, &cause) != 0) {
		fprintf(stderr, "isp: %s\n", cause);
		free(cause);
		ruleset_free(rs);
		return 1;
	}
	if (ruletest_vectors(rs, rulefile) != 0)
		rc = 1;
	if (capture != NULL &&
	    ruletest_capture(ruleset_app(rs, 0), capture) != 0)
		rc = 1;
	ruleset_free(rs);
	return rc;
}
