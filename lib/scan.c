/* Stream scanner: find announcements across reads and rewrite them. */
#include "rule_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "xmalloc.h"

/*
 * The buffer holds [0, s_ctx) bytes already passed on, kept as lookbehind
 * context so that ^, \b and (?<=...) see the same thing however the
 * stream is split, then [s_ctx, s_len) bytes held. At the very start of
 * the stream s_ctx is 0, so \A and ^ match there and nowhere else.
 *
 * The scanner fails closed. Whatever a pattern finds is reported: what
 * decodes as an announcement, and what only starts like one (a detect
 * pattern) or does not decode, marked suspect, for the owner to
 * neutralise. A match or a partial match longer than the holdback, or
 * any PCRE2 error (a match limit), is SCAN_ERROR: nothing more passes,
 * and the owner ends the connection.
 */
struct scan {
	const struct rule_app *s_app;
	enum rule_dir s_dir;
	struct rule_entry s_ents[RULE_MAX_ENTRIES];
	size_t s_nents;
	pcre2_match_data *s_md;
	pcre2_code *s_any; /* the entries as one pattern, or NULL */
	pcre2_match_data *s_anymd;
	PCRE2_SIZE *s_ov; /* the pending (or best) match's ovector */
	uint32_t s_npairs;

	size_t s_cap;    /* holdback limit */
	size_t s_ctxmax; /* context kept */
	char *s_buf;
	size_t s_size;
	size_t s_len;
	size_t s_ctx;

	int s_eof;
	int s_failed;   /* SCAN_ERROR given: nothing more passes */
	int s_observer; /* only watches: another hop neutralises */
	int s_telnet;   /* RFC 854 state, for Telnet-framed rules */

	int s_pending; /* announcement at [s_ctx, s_an_end) */
	const struct rule_entry *s_ent;
	size_t s_an_end;
	struct announce s_an;
	char s_why[512];
};

/* Telnet states (RFC 854): data, after IAC, after IAC WILL/WONT/DO/DONT, in SB. */
enum { TN_DATA, TN_IAC, TN_OPT, TN_SB, TN_SB_IAC };
#define TN_IAC_BYTE 255
#define TN_SB_BYTE  250
#define TN_SE_BYTE  240

struct scan_cand {
	size_t c_ent; /* index; s_nents when none */
	size_t c_start;
	int c_full;
};

/* A scanner for one direction of one connection. */
struct scan *
scan_new(const struct rule_app *a, enum rule_dir dir, size_t holdback_max)
{
	struct scan *s;
	uint32_t n, max = 1;
	size_t i;

	s = xcalloc(1, sizeof *s);
	s->s_app = a;
	if (a != NULL)
		rule_app_hold(a); /* a reload may drop its rule set meanwhile */
	s->s_dir = dir;
	if (holdback_max == 0)
		holdback_max = SCAN_HOLDBACK_DEFAULT;
	if (holdback_max < SCAN_HOLDBACK_MIN)
		holdback_max = SCAN_HOLDBACK_MIN;
	if (holdback_max > SCAN_HOLDBACK_MAX)
		holdback_max = SCAN_HOLDBACK_MAX;
	s->s_cap = holdback_max;
	s->s_ctxmax = (a != NULL ? a->a_lookbehind : 0) + 8;
	if (a != NULL) {
		s->s_nents =
		    rule_app_entries(a, dir, s->s_ents, nitems(s->s_ents));
		for (i = 0; i < s->s_nents; i++) {
			pcre2_pattern_info(s->s_ents[i].re_code,
			    PCRE2_INFO_CAPTURECOUNT, &n);
			if (n + 1 > max)
				max = n + 1;
		}
		s->s_telnet = a->a_telnet ? TN_DATA : -1;
	} else
		s->s_telnet = -1;
	s->s_npairs = max;
	s->s_md = pcre2_match_data_create(max, NULL);
	if (a != NULL && (s->s_any = a->a_any[dir]) != NULL)
		s->s_anymd = pcre2_match_data_create(1, NULL);
	s->s_ov = xcalloc(2 * (size_t)max, sizeof *s->s_ov);
	return s;
}

/*
 * The scanner only watches: suspect announcements may pass unchanged,
 * because the next hop (the isp, for what a client sends) scans the same
 * bytes with the same rules and neutralises them.
 */
void
scan_set_observer(struct scan *s)
{
	s->s_observer = 1;
}

/* Free a scanner. */
void
scan_free(struct scan *s)
{
	if (s == NULL)
		return;
	pcre2_match_data_free(s->s_md);
	pcre2_match_data_free(s->s_anymd);
	free(s->s_ov);
	free(s->s_buf);
	if (s->s_app != NULL)
		rule_app_release(s->s_app);
	free(s);
}

/* Bytes held, not yet in out. */
size_t
scan_held(const struct scan *s)
{
	return s->s_len - s->s_ctx;
}

/* The stream has ended: partial matches cannot complete any more. */
void
scan_eof(struct scan *s)
{
	s->s_eof = 1;
}

/*
 * Pass n held bytes on (to out, or nowhere when already written), keeping
 * the last few as context. Returns how far the buffer moved.
 */
static size_t
scan_pass(struct scan *s, size_t n, struct evbuffer *out)
{
	size_t end, keep, drop, want;

	if (n == 0)
		return 0;
	if (out != NULL)
		evbuffer_add(out, s->s_buf + s->s_ctx, n);
	end = s->s_ctx + n;
	keep = end < s->s_ctxmax ? end : s->s_ctxmax;
	drop = end - keep;
	/*
	 * Move what is held down only once the bytes passed on are most of
	 * the buffer: moving the rest after every announcement would cost
	 * the square of a large read. Older context than ctxmax is harmless
	 * to the patterns (their lookbehind is shorter).
	 */
	if (drop == 0 || drop < s->s_len - drop) {
		s->s_ctx = end;
		return 0;
	}
	memmove(s->s_buf, s->s_buf + drop, s->s_len - drop);
	s->s_len -= drop;
	s->s_ctx = keep;
	/* Give back memory after a large read. */
	want = 2 * (s->s_cap + s->s_ctxmax);
	if (s->s_size > want + 65536 && s->s_len <= want) {
		s->s_buf = xrealloc(s->s_buf, want);
		s->s_size = want;
	}
	return drop;
}

/* Fail closed: remember why; nothing more passes. */
static enum scan_result scan_fail(struct scan *s, const char **why,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum scan_result
scan_fail(struct scan *s, const char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->s_why, sizeof s->s_why, fmt, ap);
	va_end(ap);
	s->s_failed = 1;
	*why = s->s_why;
	return SCAN_ERROR;
}

/*
 * The leftmost match of one entry at or after from: complete or partial.
 * Returns 1 with the start and end (the buffer's end for a partial one),
 * 0 for none, or a PCRE2 error code.
 */
static int
scan_entry(struct scan *s, const struct rule_entry *e, size_t from,
    size_t *start, size_t *end, int *full)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->s_md);
	uint32_t opts = s->s_eof ? 0 : PCRE2_PARTIAL_HARD;
	int rc;

	rc = pcre2_match(e->re_code, (PCRE2_SPTR)s->s_buf, s->s_len, from, opts,
	    s->s_md, s->s_app->a_mctx);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_PARTIAL) {
		*start = ov[0] < from ? from : ov[0];
		*end = s->s_len;
		*full = 0;
		return 1;
	}
	if (rc < 0)
		return rc;
	*start = ov[0];
	*end = ov[1];
	*full = 1;
	return 1;
}

/* Keep the ovector of the match just found as the best one. */
static void
scan_keep(struct scan *s)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->s_md);
	uint32_t j, n = pcre2_get_ovector_count(s->s_md);

	for (j = 0; j < 2 * s->s_npairs; j++)
		s->s_ov[j] = j < 2 * n ? ov[j] : PCRE2_UNSET;
}

/*
 * The leftmost match of any entry, in one pass of the combined pattern;
 * a complete one is matched again by its own entry for the groups.
 * Returns 1 with best filled in, 0 for none, or -1 when the entries must
 * be tried one by one, which then decides exactly as without s_any.
 */
static int
scan_any(struct scan *s, struct scan_cand *best)
{
	uint32_t opts = s->s_eof ? 0 : PCRE2_PARTIAL_HARD;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->s_anymd);
	const struct rule_entry *e;
	PCRE2_SPTR mark;
	size_t b, i;
	int rc;

	rc = pcre2_match(s->s_any, (PCRE2_SPTR)s->s_buf, s->s_len, s->s_ctx,
	    opts, s->s_anymd, s->s_app->a_mctx);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_PARTIAL) {
		b = ov[0] < s->s_ctx ? s->s_ctx : ov[0];
		if (s->s_len - b > s->s_cap)
			return -1;
		best->c_ent = 0; /* some entry; which does not matter yet */
		best->c_start = b;
		best->c_full = 0;
		return 1;
	}
	if (rc < 0 || ov[0] < s->s_ctx || ov[1] <= ov[0] ||
	    ov[1] - ov[0] > s->s_cap)
		return -1;
	if ((mark = pcre2_get_mark(s->s_anymd)) == NULL ||
	    (i = strtoul((const char *)mark, NULL, 10)) >= s->s_nents)
		return -1;
	b = ov[0];
	e = &s->s_ents[i];
	if (e->re_detect) {
		/* No groups are needed to neutralise it: the span will do. */
		for (i = 0; i < 2 * s->s_npairs; i++)
			s->s_ov[i] = PCRE2_UNSET;
		s->s_ov[0] = b;
		s->s_ov[1] = ov[1];
		best->c_ent = (size_t)(e - s->s_ents);
		best->c_start = b;
		best->c_full = 1;
		return 1;
	}
	rc = pcre2_match(e->re_code, (PCRE2_SPTR)s->s_buf, s->s_len, b, opts,
	    s->s_md, s->s_app->a_mctx);
	ov = pcre2_get_ovector_pointer(s->s_md);
	if (rc <= 0 || ov[0] != b)
		return -1;
	scan_keep(s);
	best->c_ent = i;
	best->c_start = b;
	best->c_full = 1;
	return 1;
}

/*
 * Choose the leftmost match of all entries (the first entry on a tie).
 * Returns 0, with best->c_ent s_nents for none; or SCAN_ERROR for a PCRE2
 * error (nothing more may go: best->c_start 0) or when the leftmost match
 * is longer than the holdback (what comes before it may go). Every entry
 * is tried first, so no other entry's announcement comes before that.
 */
static int
scan_pick(struct scan *s, struct scan_cand *best, const char **why)
{
	const struct rule_entry *e;
	size_t i, start, end;
	int full, over = 0, rc;
	char msg[256];

	best->c_ent = s->s_nents;
	best->c_start = 0;
	best->c_full = 0;
	if (s->s_any != NULL && scan_any(s, best) >= 0)
		return 0;
	best->c_ent = s->s_nents;
	for (i = 0; i < s->s_nents; i++) {
		e = &s->s_ents[i];
		rc = scan_entry(s, e, s->s_ctx, &start, &end, &full);
		if (rc < 0) {
			best->c_start = 0;
			pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg,
			    sizeof msg);
			return scan_fail(s, why, "%s: [%s] %s: %s",
			    s->s_app->a_file, e->re_kind->k_name,
			    e->re_detect ? "detect" : "pattern", msg);
		}
		if (rc == 0 ||
		    (best->c_ent != s->s_nents && start >= best->c_start))
			continue;
		best->c_ent = i;
		best->c_start = start;
		best->c_full = full;
		if ((over = end - start > s->s_cap) == 0 && full)
			scan_keep(s);
	}
	if (!over)
		return 0;
	e = &s->s_ents[best->c_ent];
	return scan_fail(s, why,
	    "%s: [%s] %s: %s longer than the holdback (%zu bytes)",
	    s->s_app->a_file, e->re_kind->k_name,
	    e->re_detect ? "detect" : "pattern",
	    best->c_full ? "an announcement" : "the start of one", s->s_cap);
}

/*
 * The end of the line that goes on at off, past its CR, LF or CRLF; 0
 * while it may still grow (a CR held last may be followed by an LF).
 */
static size_t
scan_line_end(const struct scan *s, size_t off)
{
	const char *p = s->s_buf + off, *lf, *cr;
	size_t n = s->s_len - off, i;

	lf = memchr(p, '\n', n);
	cr = memchr(p, '\r', lf != NULL ? (size_t)(lf - p) : n);
	if (cr == NULL)
		return lf != NULL ? (size_t)(lf - s->s_buf) + 1 : 0;
	i = (size_t)(cr - s->s_buf);
	if (i + 1 < s->s_len)
		return s->s_buf[i + 1] == '\n' ? i + 2 : i + 1;
	return s->s_eof ? i + 1 : 0;
}

/* Scan what is held. */
static enum scan_result
scan_run(struct scan *s, struct evbuffer *out, struct announce *an,
    const char **why)
{
	struct scan_cand best;
	const struct rule_entry *e;
	size_t drop;
	uint32_t j;
	char reason[256];

	if (scan_pick(s, &best, why) != 0) {
		if (best.c_start > s->s_ctx && best.c_start <= s->s_len)
			scan_pass(s, best.c_start - s->s_ctx, out);
		return SCAN_ERROR;
	}
	if (best.c_ent == s->s_nents) {
		scan_pass(s, scan_held(s), out);
		return SCAN_MORE;
	}
	drop = scan_pass(s, best.c_start - s->s_ctx, out);
	if (!best.c_full)
		return SCAN_MORE;

	/* A complete match, now at s_ctx. */
	e = &s->s_ents[best.c_ent];
	for (j = 0; j < 2 * s->s_npairs; j++) {
		if (s->s_ov[j] == PCRE2_UNSET)
			continue;
		if (s->s_ov[j] < drop)
			s->s_ov[j] = PCRE2_UNSET; /* in context now dropped */
		else
			s->s_ov[j] -= drop;
	}
	for (j = 0; j < s->s_npairs; j++) {
		if (s->s_ov[2 * j] == PCRE2_UNSET ||
		    s->s_ov[2 * j + 1] == PCRE2_UNSET)
			s->s_ov[2 * j] = s->s_ov[2 * j + 1] = PCRE2_UNSET;
	}
	s->s_an_end = s->s_ov[1];
	if (e->re_detect && s->s_app->a_lines) {
		/* A line protocol: what starts like one is refused to its end. */
		size_t nl = scan_line_end(s, s->s_an_end);

		if (nl != 0)
			s->s_an_end = nl;
		else if (s->s_eof)
			s->s_an_end = s->s_len;
		if (nl != 0 || s->s_eof) {
			if (s->s_an_end - s->s_ctx > s->s_cap)
				return scan_fail(s, why,
				    "%s: [%s] detect: a line longer than the "
				    "holdback (%zu bytes)",
				    s->s_app->a_file, e->re_kind->k_name,
				    s->s_cap);
		} else if (scan_held(s) > s->s_cap)
			return scan_fail(s, why,
			    "%s: [%s] detect: a line longer than the holdback "
			    "(%zu bytes)",
			    s->s_app->a_file, e->re_kind->k_name, s->s_cap);
		else
			return SCAN_MORE; /* held until the line ends */
	}
	memset(&s->s_an, 0, sizeof s->s_an);
	s->s_an.an_kind = e->re_kind;
	s->s_an.an_dir = s->s_dir;
	/* For logs: the first 160 bytes say enough. */
	esc_bytes(s->s_an.an_text, sizeof s->s_an.an_text, s->s_buf + s->s_ctx,
	    s->s_an_end - s->s_ctx > 160 ? 160 : s->s_an_end - s->s_ctx,
	    ESC_QUOTES);
	if (e->re_detect && e->re_kind->k_action == RULE_REFUSE) {
		s->s_an.an_suspect = 1;
		snprintf(s->s_an.an_why, sizeof s->s_an.an_why,
		    "[%s] refuses it (action = refuse)", e->re_kind->k_name);
	} else if (e->re_detect) {
		s->s_an.an_suspect = 1;
		snprintf(s->s_an.an_why, sizeof s->s_an.an_why,
		    "it is not in a form [%s] understands", e->re_kind->k_name);
	} else if (rule_kind_decode(e->re_kind, s->s_buf, s->s_ov, &s->s_an,
		       reason, sizeof reason) != 0) {
		s->s_an.an_suspect = 1;
		snprintf(s->s_an.an_why, sizeof s->s_an.an_why,
		    "it does not decode: %s", reason);
	}
	s->s_ent = e;
	s->s_pending = 1;
	*an = s->s_an;
	return SCAN_FOUND;
}

/*
 * Append n bytes to the buffer; for a Telnet-framed rule, without the
 * Telnet commands (RFC 854: IAC and the command, its option, or a whole
 * subnegotiation), so that no command can hide a word from the patterns.
 * IAC IAC, a data byte 255, stays as it is.
 */
static void
scan_append(struct scan *s, const uint8_t *p, size_t n)
{
	uint8_t *o;
	size_t i;

	/* IAC IAC stays two bytes: room for the worst case. */
	if (s->s_len + 2 * n > s->s_size) {
		size_t want = s->s_size ? s->s_size : 256;

		while (want < s->s_len + 2 * n)
			want *= 2;
		s->s_buf = xrealloc(s->s_buf, want);
		s->s_size = want;
	}
	o = (uint8_t *)s->s_buf + s->s_len;
	if (s->s_telnet < 0) {
		memcpy(o, p, n);
		s->s_len += n;
		return;
	}
	for (i = 0; i < n; i++) {
		switch (s->s_telnet) {
		case TN_DATA: {
			/* Plain data up to the next IAC goes in one copy. */
			const uint8_t *iac = memchr(p + i, TN_IAC_BYTE, n - i);
			size_t run =
			    iac != NULL ? (size_t)(iac - (p + i)) : n - i;

			memcpy(o, p + i, run);
			o += run;
			i += run;
			if (i < n)
				s->s_telnet = TN_IAC;
			break;
		}
		case TN_IAC:
			if (p[i] == TN_IAC_BYTE) {
				*o++ = TN_IAC_BYTE;
				*o++ = TN_IAC_BYTE;
				s->s_telnet = TN_DATA;
			} else if (p[i] >= 251) /* WILL WONT DO DONT */
				s->s_telnet = TN_OPT;
			else if (p[i] == TN_SB_BYTE)
				s->s_telnet = TN_SB;
			else
				s->s_telnet = TN_DATA; /* IP, DM, AYT ... */
			break;
		case TN_OPT:
			s->s_telnet = TN_DATA;
			break;
		case TN_SB:
			if (p[i] == TN_IAC_BYTE)
				s->s_telnet = TN_SB_IAC;
			break;
		case TN_SB_IAC:
			s->s_telnet = p[i] == TN_SE_BYTE ? TN_DATA : TN_SB;
			break;
		}
	}
	s->s_len = (size_t)(o - (uint8_t *)s->s_buf);
}

/* Move bytes from in to out, stopping at an announcement. */
enum scan_result
scan_feed(struct scan *s, struct evbuffer *in, struct evbuffer *out,
    struct announce *an, const char **why)
{
	struct evbuffer_iovec v;

	*why = NULL;
	while (in != NULL && evbuffer_peek(in, -1, NULL, &v, 1) > 0 &&
	    v.iov_len > 0) {
		scan_append(s, v.iov_base, v.iov_len);
		evbuffer_drain(in, v.iov_len);
	}
	if (s->s_failed) {
		*why = s->s_why;
		return SCAN_ERROR;
	}
	if (s->s_pending) {
		*an = s->s_an;
		return SCAN_FOUND;
	}
	if (scan_held(s) == 0)
		return SCAN_MORE;
	return scan_run(s, out, an, why);
}

/*
 * Write the pending announcement rewritten to replacement, or unchanged
 * with NULL. A suspect one is written only as the rule's neutral text
 * (or, without one, its rewrite), never unchanged.
 */
int
scan_emit(struct scan *s, const struct sockaddr *replacement,
    struct evbuffer *out)
{
	size_t len;

	if (!s->s_pending)
		return -1;
	if (s->s_an.an_suspect && replacement == NULL && !s->s_observer)
		return -1;
	len = s->s_an_end - s->s_ctx;
	if (replacement == NULL)
		evbuffer_add(out, s->s_buf + s->s_ctx, len);
	else if (rule_kind_rewrite(s->s_ent->re_kind, s->s_an.an_suspect,
		     s->s_buf, s->s_ov, s->s_npairs, replacement, out) != 0)
		return -1;
	scan_pass(s, len, NULL);
	s->s_pending = 0;
	return 0;
}

/*
 * The pending announcement's bytes as the patterns saw them (for a
 * Telnet-framed rule, without the Telnet commands), or NULL.
 */
const char *
scan_pending(const struct scan *s, size_t *len)
{
	if (!s->s_pending) {
		*len = 0;
		return NULL;
	}
	*len = s->s_an_end - s->s_ctx;
	return s->s_buf + s->s_ctx;
}

/*
 * End of stream: flush what is held to out. Only bytes that can no longer
 * be part of an announcement are held then (scan_feed after scan_eof has
 * reported or refused the rest).
 */
void
scan_flush(struct scan *s, struct evbuffer *out)
{
	if (s->s_failed || s->s_pending)
		return; /* a pending announcement waits for scan_emit */
	scan_pass(s, scan_held(s), out);
}

/* The address bytes, with IPv4-mapped IPv6 reduced to IPv4. */
static int
scan_norm(int family, const uint8_t *addr, uint8_t *out)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		0xff };

	if (family == AF_INET) {
		memcpy(out, addr, 4);
		return AF_INET;
	}
	if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0) {
		memcpy(out, addr + 12, 4);
		return AF_INET;
	}
	if (family == AF_INET6) {
		memcpy(out, addr, 16);
		return AF_INET6;
	}
	return 0;
}

/* "10.0.0.1 5001", "2001:db8::1 21" or "implied 6446". */
const char *
announce_str(const struct announce *an, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN];

	if (an->an_implied || an->an_family == 0)
		snprintf(buf, len, "implied %u", an->an_port);
	else {
		inet_ntop(an->an_family, an->an_addr, text, sizeof text);
		snprintf(buf, len, "%s %u", text, an->an_port);
	}
	return buf;
}

/*
 * An announcement's endpoint as a sockaddr: an implied address (or none
 * decoded) is implied's, which may be empty (family 0: no port then).
 */
void
announce_endpoint(const struct announce *an,
    const struct sockaddr_storage *implied, struct sockaddr_storage *ep)
{
	memset(ep, 0, sizeof *ep);
	if (an->an_implied || an->an_family == 0)
		*ep = *implied;
	else if (an->an_family == AF_INET) {
		ep->ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)ep)->sin_addr, an->an_addr, 4);
	} else {
		ep->ss_family = AF_INET6;
		memcpy(&((struct sockaddr_in6 *)ep)->sin6_addr, an->an_addr,
		    16);
	}
	if (ep->ss_family == AF_INET)
		((struct sockaddr_in *)ep)->sin_port = htons(an->an_port);
	else if (ep->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ep)->sin6_port = htons(an->an_port);
}

/* Is the announced port acceptable: 1-65535, below 1024 only by the rule? */
int
announce_check_port(const struct announce *an, const char **why)
{
	static __thread char buf[128]; /* per thread: workers */

	*why = buf;
	if (an->an_port == 0) {
		snprintf(buf, sizeof buf, "announced port 0 is not valid");
		return -1;
	}
	if (an->an_port < 1024 &&
	    (an->an_kind == NULL || !an->an_kind->k_low_ports)) {
		snprintf(buf, sizeof buf,
		    "announced port %u is below 1024 (not allowed by the "
		    "rule)",
		    an->an_port);
		return -1;
	}
	*why = NULL;
	return 0;
}

/* Bounce check for a reverse announcement. */
int
announce_check_origin(const struct announce *an, const struct sockaddr *client,
    const char **why)
{
	static __thread char buf[256];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t a[16], c[16];
	char at[INET6_ADDRSTRLEN], ct[INET6_ADDRSTRLEN];
	int af, cf = 0;

	if (announce_check_port(an, why) != 0)
		return -1;
	*why = buf;
	if (an->an_implied) {
		*why = NULL;
		return 0;
	}
	af = scan_norm(an->an_family, an->an_addr, a);
	if (client != NULL && client->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)client;
		cf = scan_norm(AF_INET, (const uint8_t *)&sin->sin_addr, c);
	} else if (client != NULL && client->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)client;
		cf = scan_norm(AF_INET6, sin6->sin6_addr.s6_addr, c);
	}
	if (af == 0 || cf == 0) {
		snprintf(buf, sizeof buf,
		    "announced address or client address is not IPv4 or "
		    "IPv6");
		return -1;
	}
	if (af != cf || memcmp(a, c, af == AF_INET ? 4 : 16) != 0) {
		inet_ntop(af, a, at, sizeof at);
		inet_ntop(cf, c, ct, sizeof ct);
		snprintf(buf, sizeof buf,
		    "announced %s is not the client %s (FTP bounce)", at, ct);
		return -1;
	}
	*why = NULL;
	return 0;
}
