/* Stream scanner: find announcements across reads and rewrite them. */
#include "rule_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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
 */
struct scan {
	const struct rule_app *s_app;
	enum rule_dir s_dir;
	const struct rule_kind **s_kinds;
	size_t s_nkinds;
	pcre2_match_data *s_md;
	pcre2_code *s_any; /* the kinds as one pattern, or NULL */
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
	size_t s_skip; /* held bytes to pass unscanned after an error */

	int s_pending; /* announcement at [s_ctx, s_an_end) */
	const struct rule_kind *s_kind;
	size_t s_an_end;
	struct announce s_an;
	char s_why[512];
};

struct scan_cand {
	size_t c_kind; /* index; s_nkinds when none */
	size_t c_start;
	int c_full;
};

/* A scanner for one direction of one connection. */
struct scan *
scan_new(const struct rule_app *a, enum rule_dir dir, size_t holdback_max)
{
	struct scan *s;
	const struct rule_kind *k;
	uint32_t n, max = 1;
	size_t i;

	s = xcalloc(1, sizeof *s);
	s->s_app = a;
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
		s->s_kinds = xcalloc(a->a_nkinds + 1, sizeof *s->s_kinds);
		for (i = 0; i < a->a_nkinds; i++) {
			k = a->a_kinds[i];
			if (k->k_dir != dir)
				continue;
			s->s_kinds[s->s_nkinds++] = k;
			pcre2_pattern_info(k->k_code, PCRE2_INFO_CAPTURECOUNT,
			    &n);
			if (n + 1 > max)
				max = n + 1;
		}
	}
	s->s_npairs = max;
	s->s_md = pcre2_match_data_create(max, NULL);
	if (a != NULL && (s->s_any = a->a_any[dir]) != NULL)
		s->s_anymd = pcre2_match_data_create(1, NULL);
	s->s_ov = xcalloc(2 * (size_t)max, sizeof *s->s_ov);
	return s;
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
	free(s->s_kinds);
	free(s->s_buf);
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
	if (drop > 0) {
		memmove(s->s_buf, s->s_buf + drop, s->s_len - drop);
		s->s_len -= drop;
	}
	s->s_ctx = keep;
	/* Give back memory after a large read. */
	want = 2 * (s->s_cap + s->s_ctxmax);
	if (s->s_size > want + 65536 && s->s_len <= want) {
		s->s_buf = xrealloc(s->s_buf, want);
		s->s_size = want;
	}
	return drop;
}

/*
 * The leftmost usable match of one kind at or after from: a complete match
 * no longer than the cap, or a partial one that still fits in it. Returns
 * 1 with the start, 0 for none, or a PCRE2 error code.
 */
static int
scan_kind(struct scan *s, const struct rule_kind *k, size_t from, size_t *start,
    int *full)
{
	PCRE2_SIZE *ov;
	uint32_t opts = s->s_eof ? 0 : PCRE2_PARTIAL_HARD;
	size_t at = from, b, e;
	int rc;

	ov = pcre2_get_ovector_pointer(s->s_md);
	while (at <= s->s_len) {
		rc = pcre2_match(k->k_code, (PCRE2_SPTR)s->s_buf, s->s_len, at,
		    opts, s->s_md, k->k_app->a_mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		if (rc == PCRE2_ERROR_PARTIAL) {
			b = ov[0] < at ? at : ov[0];
			if (s->s_len - b <= s->s_cap) {
				*start = b;
				*full = 0;
				return 1;
			}
			at = b + 1; /* too long to hold: look further on */
			continue;
		}
		if (rc < 0)
			return rc;
		b = ov[0];
		e = ov[1];
		if (b >= at && e > b && e - b <= s->s_cap) {
			*start = b;
			*full = 1;
			return 1;
		}
		at = (b > at ? b : at) + 1;
	}
	return 0;
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
 * The leftmost usable match of any kind, in one pass of the combined
 * pattern; a complete one is matched again by its own kind for the
 * groups. Returns 1 with best filled in, 0 for none, or -1 when the kinds
 * must be tried one by one (an error, a match too long to hold, or
 * anything unexpected), which then decides exactly as without s_any.
 */
static int
scan_any(struct scan *s, struct scan_cand *best)
{
	uint32_t opts = s->s_eof ? 0 : PCRE2_PARTIAL_HARD;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->s_anymd);
	const struct rule_kind *k;
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
		best->c_kind = 0; /* some kind; which does not matter yet */
		best->c_start = b;
		best->c_full = 0;
		return 1;
	}
	if (rc < 0 || ov[0] < s->s_ctx || ov[1] <= ov[0] ||
	    ov[1] - ov[0] > s->s_cap)
		return -1;
	if ((mark = pcre2_get_mark(s->s_anymd)) == NULL ||
	    (i = strtoul((const char *)mark, NULL, 10)) >= s->s_nkinds)
		return -1;
	b = ov[0];
	k = s->s_kinds[i];
	rc = pcre2_match(k->k_code, (PCRE2_SPTR)s->s_buf, s->s_len, b, opts,
	    s->s_md, k->k_app->a_mctx);
	ov = pcre2_get_ovector_pointer(s->s_md);
	if (rc <= 0 || ov[0] != b)
		return -1;
	scan_keep(s);
	best->c_kind = i;
	best->c_start = b;
	best->c_full = 1;
	return 1;
}

/*
 * Choose the leftmost usable match of all kinds (the first kind on a
 * tie). Returns 0, with best->c_kind s_nkinds for none, or -1 with *why.
 */
static int
scan_pick(struct scan *s, struct scan_cand *best, const char **why)
{
	const struct rule_kind *k;
	size_t i, start;
	int full, rc;
	char msg[256];

	best->c_kind = s->s_nkinds;
	best->c_start = 0;
	best->c_full = 0;
	if (s->s_any != NULL && scan_any(s, best) >= 0)
		return 0;
	best->c_kind = s->s_nkinds;
	for (i = 0; i < s->s_nkinds; i++) {
		k = s->s_kinds[i];
		rc = scan_kind(s, k, s->s_ctx, &start, &full);
		if (rc < 0) {
			pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg,
			    sizeof msg);
			snprintf(s->s_why, sizeof s->s_why,
			    "%s: [%s] pattern: %s; %zu bytes passed unscanned",
			    k->k_app->a_file, k->k_name, msg, scan_held(s));
			s->s_skip = scan_held(s);
			*why = s->s_why;
			return -1;
		}
		if (rc == 0)
			continue;
		if (best->c_kind != s->s_nkinds && start >= best->c_start)
			continue;
		best->c_kind = i;
		best->c_start = start;
		best->c_full = full;
		if (full)
			scan_keep(s);
	}
	return 0;
}

/* Scan what is held. */
static enum scan_result
scan_run(struct scan *s, struct evbuffer *out, struct announce *an,
    const char **why)
{
	struct scan_cand best;
	const struct rule_kind *k;
	size_t drop;
	uint32_t j;
	char reason[256];

	if (scan_pick(s, &best, why) != 0)
		return SCAN_ERROR;
	if (best.c_kind == s->s_nkinds) {
		scan_pass(s, scan_held(s), out);
		return SCAN_MORE;
	}
	drop = scan_pass(s, best.c_start - s->s_ctx, out);
	if (!best.c_full)
		return SCAN_MORE;

	/* A complete announcement, now at s_ctx. */
	k = s->s_kinds[best.c_kind];
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
	memset(&s->s_an, 0, sizeof s->s_an);
	s->s_an.an_kind = k;
	s->s_an.an_dir = s->s_dir;
	esc_bytes(s->s_an.an_text, sizeof s->s_an.an_text, s->s_buf + s->s_ctx,
	    s->s_an_end - s->s_ctx, ESC_QUOTES);
	if (rule_kind_decode(k, s->s_buf, s->s_ov, &s->s_an, reason,
		sizeof reason) != 0) {
		snprintf(s->s_why, sizeof s->s_why,
		    "%s: [%s] cannot decode \"%.200s\": %s; passed unscanned",
		    k->k_app->a_file, k->k_name, s->s_an.an_text, reason);
		s->s_skip = s->s_an_end - s->s_ctx;
		*why = s->s_why;
		return SCAN_ERROR;
	}
	s->s_kind = k;
	s->s_pending = 1;
	*an = s->s_an;
	return SCAN_FOUND;
}

/* Move bytes from in to out, stopping at an announcement. */
enum scan_result
scan_feed(struct scan *s, struct evbuffer *in, struct evbuffer *out,
    struct announce *an, const char **why)
{
	size_t n, want;

	*why = NULL;
	if (in != NULL && (n = evbuffer_get_length(in)) > 0) {
		if (s->s_len + n > s->s_size) {
			want = s->s_size ? s->s_size : 256;
			while (want < s->s_len + n)
				want *= 2;
			s->s_buf = xrealloc(s->s_buf, want);
			s->s_size = want;
		}
		evbuffer_remove(in, s->s_buf + s->s_len, n);
		s->s_len += n;
	}
	if (s->s_pending) {
		*an = s->s_an;
		return SCAN_FOUND;
	}
	if (s->s_skip > 0) {
		n = s->s_skip < scan_held(s) ? s->s_skip : scan_held(s);
		scan_pass(s, n, out);
		s->s_skip = 0;
	}
	if (scan_held(s) == 0)
		return SCAN_MORE;
	return scan_run(s, out, an, why);
}

/* Write the pending announcement, rewritten or (replacement NULL) not. */
int
scan_emit(struct scan *s, const struct sockaddr *replacement,
    struct evbuffer *out)
{
	size_t len;

	if (!s->s_pending)
		return -1;
	len = s->s_an_end - s->s_ctx;
	if (replacement == NULL)
		evbuffer_add(out, s->s_buf + s->s_ctx, len);
	else if (rule_kind_rewrite(s->s_kind, s->s_buf, s->s_ov, s->s_npairs,
		     replacement, out) != 0)
		return -1;
	scan_pass(s, len, NULL);
	s->s_pending = 0;
	return 0;
}

/* End of stream: flush everything held to out, unscanned. */
void
scan_flush(struct scan *s, struct evbuffer *out)
{
	scan_pass(s, scan_held(s), out);
	s->s_pending = 0;
	s->s_skip = 0;
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

/* Bounce check for a reverse announcement. */
int
announce_check_origin(const struct announce *an, const struct sockaddr *client,
    const char **why)
{
	static char buf[256];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t a[16], c[16];
	char at[INET6_ADDRSTRLEN], ct[INET6_ADDRSTRLEN];
	int af, cf = 0;

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
