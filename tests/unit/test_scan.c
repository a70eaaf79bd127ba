/* Stream scanner: split announcements, holdback, rewrites, bounce checks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rule.h"
#include "rule_int.h"
#include "scan.h"
#include "unit.h"
#include "xmalloc.h"

static struct ruleset *rules;
static struct sockaddr_storage with4, with6;

/* What a scan of a whole stream gave. */
struct result {
	struct evbuffer *out;
	int found;
	int suspect; /* neutralised */
	int errors;  /* failed closed: the channel would end */
	char first[128];
	const char *first_kind;
	size_t max_held;
};

/* A sockaddr from text. */
static void
mkaddr(struct sockaddr_storage *ss, const char *host, int port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else
		abort();
}

/* Handle what the scanner finds after some input. */
static void
drain(struct scan *s, struct evbuffer *in, const struct sockaddr *with,
    struct result *r)
{
	struct sockaddr_storage zero;
	struct announce an;
	const char *why;
	enum scan_result sr;
	int first = 1;

	memcpy(&zero, with,
	    with->sa_family == AF_INET ? sizeof(struct sockaddr_in)
				       : sizeof(struct sockaddr_in6));
	((struct sockaddr_in *)&zero)->sin_port = 0; /* same offset in v6 */
	while (r->errors == 0) {
		sr = scan_feed(s, first ? in : NULL, r->out, &an, &why);
		first = 0;
		if (scan_held(s) > r->max_held && sr == SCAN_MORE)
			r->max_held = scan_held(s);
		if (sr == SCAN_MORE)
			return;
		if (sr == SCAN_ERROR) {
			r->errors++;
			break;
		}
		if (r->found++ == 0) {
			if (an.an_suspect)
				snprintf(r->first, sizeof r->first, "neutral");
			else
				announce_str(&an, r->first, sizeof r->first);
			r->first_kind = rule_kind_name(an.an_kind);
		}
		if (an.an_suspect) {
			r->suspect++;
			CHECK(scan_emit(s, NULL, r->out) == -1);
			CHECK(scan_emit(s, (struct sockaddr *)&zero, r->out) ==
			    0);
		} else
			CHECK(scan_emit(s, with, r->out) == 0);
	}
	if (in != NULL)
		evbuffer_drain(in, evbuffer_get_length(in));
}

/*
 * Scan text through app's scanner: whole (split 0), byte by byte
 * (split (size_t)-1) or in two pieces cut at split; or in chunks of
 * -split bytes when chunk is set.
 */
static void
scan_text(const struct rule_app *a, enum rule_dir dir, size_t cap,
    const char *text, size_t len, size_t split, size_t chunk,
    const struct sockaddr *with, struct result *r)
{
	struct scan *s = scan_new(a, dir, cap);
	struct evbuffer *in = evbuffer_new();
	size_t i, n;

	memset(r, 0, sizeof *r);
	r->out = evbuffer_new();
	if (chunk == 0 && split == (size_t)-1)
		chunk = 1;
	if (chunk > 0) {
		for (i = 0; i < len; i += n) {
			n = len - i < chunk ? len - i : chunk;
			evbuffer_add(in, text + i, n);
			drain(s, in, with, r);
		}
	} else {
		evbuffer_add(in, text, split);
		drain(s, in, with, r);
		evbuffer_add(in, text + split, len - split);
		drain(s, in, with, r);
	}
	scan_eof(s);
	drain(s, NULL, with, r);
	scan_flush(s, r->out);
	CHECK(r->errors > 0 || scan_held(s) == 0);
	if (r->first[0] == '\0')
		snprintf(r->first, sizeof r->first, "none");
	scan_free(s);
	evbuffer_free(in);
}

/* Is the output exactly want? */
static int
same(struct evbuffer *out, const char *want, size_t len)
{
	return evbuffer_get_length(out) == len &&
	    memcmp(evbuffer_pullup(out, -1), want, len) == 0;
}

/*
 * Scan in whole, byte by byte and split at every position; count the ways
 * that do not give want, count announcements and first as the first.
 */
static size_t
split_all(const struct rule_app *a, enum rule_dir dir, const char *in,
    size_t inlen, const char *want, size_t wantlen, const char *first,
    int count, const struct sockaddr *with)
{
	struct result r;
	size_t k, bad = 0;

	for (k = 0; k <= inlen + 1; k++) {
		scan_text(a, dir, 0, in, inlen, k == inlen + 1 ? (size_t)-1 : k,
		    0, with, &r);
		if (!same(r.out, want, wantlen) || r.found != count ||
		    strcmp(r.first, first) != 0 || r.errors != 0) {
			if (bad++ == 0)
				fprintf(stderr,
				    "%s split %zu: found %d (%s), output "
				    "%.*s\n",
				    rule_app_name(a), k, r.found, r.first,
				    (int)evbuffer_get_length(r.out),
				    (char *)evbuffer_pullup(r.out, -1));
		}
		evbuffer_free(r.out);
	}
	return bad;
}

/* One case of a shipped rule file, split every way. */
static void
split_case(const char *app, enum rule_dir dir, const char *in, size_t inlen,
    const char *want, size_t wantlen, const char *decode, int count,
    const struct sockaddr *with)
{
	const struct rule_app *a = NULL;
	size_t i;

	for (i = 0; i < ruleset_count(rules); i++) {
		if (strcmp(rule_app_name(ruleset_app(rules, i)), app) == 0)
			a = ruleset_app(rules, i);
	}
	CHECK(a != NULL);
	if (a == NULL)
		return;
	CHECK(split_all(a, dir, in, inlen, want, wantlen, decode, count,
		  with) == 0);
}

#define SPLIT(app, dir, in, want, decode, count, with)                         \
	split_case(app, dir, in, sizeof in - 1, want, sizeof want - 1, decode, \
	    count, (const struct sockaddr *)(with))

/* Announcements split anywhere are found, rewritten, and the rest flows. */
static void
test_split(void)
{
	SPLIT("ftp", RULE_C2S,
	    "USER anonymous\r\nPASS x\r\nPORT 10,0,0,1,4,1\r\nRETR a.txt\r\n"
	    "QUIT\r\n",
	    "USER anonymous\r\nPASS x\r\nPORT 192,0,2,1,156,64\r\nRETR "
	    "a.txt\r\n"
	    "QUIT\r\n",
	    "10.0.0.1 1025", 1, &with4);
	SPLIT("ftp", RULE_C2S,
	    "PORT 10,0,0,1,4,1\r\nPORT 10,0,0,1,4,2\r\nLIST\r\n",
	    "PORT 192,0,2,1,156,64\r\nPORT 192,0,2,1,156,64\r\nLIST\r\n",
	    "10.0.0.1 1025", 2, &with4);
	SPLIT("ftp", RULE_C2S,
	    "EPSV\r\nEPRT |2|2001:db8::5|5282|\r\nSTOR x\r\n",
	    "EPSV\r\nEPRT |2|2001:db8::7|40001|\r\nSTOR x\r\n",
	    "2001:db8::5 5282", 1, &with6);
	SPLIT("ftp", RULE_C2S, "EPRT |1|10.1.1.1|5282|\r\n",
	    "EPRT |2|2001:db8::7|40001|\r\n", "10.1.1.1 5282", 1, &with6);
	/* Not at a line start, however it is split. */
	SPLIT("ftp", RULE_C2S, "NOOP xPORT 10,0,0,1,4,1\r\n",
	    "NOOP xPORT 10,0,0,1,4,1\r\n", "none", 0, &with4);
	SPLIT("ftp", RULE_S2C,
	    "150 Opening\r\n227 Entering Passive Mode (192,168,1,5,195,80)\r\n"
	    "226 Done\r\n",
	    "150 Opening\r\n227 Entering Passive Mode (192,0,2,1,156,64)\r\n"
	    "226 Done\r\n",
	    "192.168.1.5 50000", 1, &with4);
	SPLIT("ftp", RULE_S2C,
	    "229 Entering Extended Passive Mode (|||6446|)\r\n150 x\r\n",
	    "229 Entering Extended Passive Mode (|||40000|)\r\n150 x\r\n",
	    "implied 6446", 1, &with4);
	SPLIT("irc", RULE_C2S,
	    "NICK a\r\nPRIVMSG bob :\x01"
	    "DCC SEND f.txt 3232235777 5000 12345\x01\r\n"
	    "PRIVMSG bob :\x01"
	    "DCC CHAT chat 3232235777 5001\x01\r\nPING x\r\n",
	    "NICK a\r\nPRIVMSG bob :\x01"
	    "DCC SEND f.txt 3221225985 40000 12345\x01\r\n"
	    "PRIVMSG bob :\x01"
	    "DCC CHAT chat 3221225985 40000\x01\r\nPING x\r\n",
	    "192.168.1.1 5000", 2, &with4);
	SPLIT("rsh", RULE_C2S, "1023\0alice\0alice\0ls -l\0",
	    "40000\0alice\0alice\0ls -l\0", "implied 1023", 1, &with4);
	/* A first field that is not a port becomes "0": no stderr socket. */
	SPLIT("rsh", RULE_C2S, "ls\0001023\0", "0\0001023\0", "neutral", 1,
	    &with4);
	SPLIT("rsh", RULE_C2S, "0\0alice\0", "0\0alice\0", "none", 0, &with4);
}

/* Load an extra rule file. */
static const struct rule_app *
extra(struct ruleset *rs, const char *text)
{
	char *cause = NULL;

	if (ruleset_load_text(rs, "extra.ini", text, strlen(text), &cause) !=
	    0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		CHECK(0);
		return NULL;
	}
	return ruleset_app(rs, ruleset_count(rs) - 1);
}

/* Lookbehind and anchors see flushed bytes. */
static void
test_context(void)
{
	static const char rule[] =
	    "[service]\nports = 7000\n"
	    "[at]\ndirection = c2s\naction = server-connects\n"
	    "decode = dotted\n"
	    "pattern = \"(?<=[\\n:]AT )(?<addr>\\d+\\.\\d+\\.\\d+\\.\\d+) "
	    "(?<port>\\d+);\"\n"
	    "rewrite = \"${new.ipv4} ${new.port};\"\n"
	    "test.1.input = \"x\\nAT 1.2.3.4 80;\"\n"
	    "test.1.decode = 1.2.3.4 80\n"
	    "test.1.output = \"x\\nAT 192.0.2.1 40000;\"\n";
	static const char in[] = "hello\nAT 1.2.3.4 80;\nxAT 5.6.7.8 90;\n"
				 ":AT 9.9.9.9 100;\nAT 1.1.1.1 1";
	static const char want[] = "hello\nAT 192.0.2.1 40000;\n"
				   "xAT 5.6.7.8 90;\n:AT 192.0.2.1 40000;\n"
				   "AT 1.1.1.1 1";
	struct ruleset *rs = ruleset_new();
	const struct rule_app *a = extra(rs, rule);
	struct result r;
	size_t k, bad = 0;
	char *cause = NULL;

	if (a == NULL)
		goto out;
	CHECK(ruleset_run_vectors(rs, &cause) == 0);
	free(cause);
	for (k = 0; k <= sizeof in; k++) {
		scan_text(a, RULE_C2S, 0, in, sizeof in - 1,
		    k == sizeof in ? (size_t)-1 : k, 0,
		    (struct sockaddr *)&with4, &r);
		if (!same(r.out, want, sizeof want - 1) || r.found != 2 ||
		    strcmp(r.first, "1.2.3.4 80") != 0)
			bad++;
		evbuffer_free(r.out);
	}
	CHECK(bad == 0);
out:
	ruleset_free(rs);
}

/* A rule file with three c2s kinds; tail is appended to every pattern. */
static const struct rule_app *
combo_rule(struct ruleset *rs, int port, const char *tail)
{
	const struct rule_app *a;
	char *text;

	xasprintf(&text,
	    "[service]\nname = combo%d\nports = %d\n"
	    "[semi]\ndirection = c2s\naction = server-connects\n"
	    "decode = dotted\n"
	    "pattern = \"P (?<addr>\\d+\\.\\d+\\.\\d+\\.\\d+) "
	    "(?<port>\\d+);%s\"\n"
	    "rewrite = \"P ${new.ipv4} ${new.port};\"\n"
	    "[delim]\ndirection = c2s\naction = server-connects\n"
	    "decode = dotted\n"
	    "pattern = \"(?<d>[|!])(?<addr>\\d+\\.\\d+\\.\\d+\\.\\d+)\\k<d>"
	    "(?<port>\\d+)\\k<d>%s\"\n"
	    "rewrite = \"${d}${new.ipv4}${d}${new.port}${d}\"\n"
	    "[bang]\ndirection = c2s\naction = server-connects\n"
	    "decode = dotted\n"
	    "pattern = \"P (?<addr>\\d+\\.\\d+\\.\\d+\\.\\d+) "
	    "(?<port>\\d+)!%s\"\n"
	    "rewrite = \"P ${new.ipv4} ${new.port}!\"\n",
	    port, port, tail, tail, tail);
	a = extra(rs, text);
	free(text);
	return a;
}

/*
 * A direction's kinds scanned in one pass give exactly what scanning them
 * one by one gives: leftmost wins, the first kind on a tie, split anywhere.
 * A pattern with a numbered reference is not combined, and still works.
 */
static void
test_combined(void)
{
	static const char in[] = "x |5.6.7.8|90| P 1.2.3.4 80! y\n"
				 "P 1.1.1.1 70;P 2.2.2.2 60!! 3.3.3.3!5! P 4.4";
	static const char want[] =
	    "x |192.0.2.1|40000| P 192.0.2.1 40000! y\n"
	    "P 192.0.2.1 40000;P 192.0.2.1 40000!! 3.3.3.3!5! P 4.4";
	static const char rule_ref[] =
	    "[service]\nname = numbered\nports = 7003\n"
	    "[colon]\ndirection = c2s\naction = server-connects\n"
	    "decode = dotted\n"
	    "pattern = \"(?<addr>\\d+\\.\\d+\\.\\d+\\.\\d+):(?<port>\\d+)\"\n"
	    "rewrite = \"${new.ipv4}:${new.port}\"\n"
	    "[quoted]\ndirection = c2s\naction = server-connects\n"
	    "decode = dotted\n"
	    "pattern = \"(['x])R (?<addr>\\d+\\.\\d+\\.\\d+\\.\\d+) "
	    "(?<port>\\d+)\\1\"\n"
	    "rewrite = \"'R ${new.ipv4} ${new.port}'\"\n";
	static const char in_ref[] = "'R 9.9.9.9 99' 'R 8.8.8.8 88x 7.7.7.7:7";
	static const char want_ref[] =
	    "'R 192.0.2.1 40000' 'R 8.8.8.8 88x 192.0.2.1:40000";
	struct ruleset *rs = ruleset_new();
	const struct rule_app *one, *each, *ref;

	one = combo_rule(rs, 7001, "");
	each = combo_rule(rs, 7002, "(?#alone)");
	ref = extra(rs, rule_ref);
	if (one == NULL || each == NULL || ref == NULL)
		goto out;
	CHECK(one->a_any[RULE_C2S] != NULL);
	CHECK(one->a_any[RULE_S2C] == NULL);
	CHECK(each->a_any[RULE_C2S] == NULL);
	CHECK(ref->a_any[RULE_C2S] == NULL);
	CHECK(ruleset_for_port(rules, 21)->a_any[RULE_C2S] != NULL);
	CHECK(ruleset_for_port(rules, 21)->a_any[RULE_S2C] != NULL);

	CHECK(split_all(one, RULE_C2S, in, sizeof in - 1, want, sizeof want - 1,
		  "5.6.7.8 90", 4, (struct sockaddr *)&with4) == 0);
	CHECK(
	    split_all(each, RULE_C2S, in, sizeof in - 1, want, sizeof want - 1,
		"5.6.7.8 90", 4, (struct sockaddr *)&with4) == 0);
	CHECK(split_all(ref, RULE_C2S, in_ref, sizeof in_ref - 1, want_ref,
		  sizeof want_ref - 1, "9.9.9.9 99", 2,
		  (struct sockaddr *)&with4) == 0);
out:
	ruleset_free(rs);
}

/*
 * One entry's match too long for the holdback, after another entry's
 * complete announcement in the same read: the error passes nothing from
 * the announcement on, in either direction, split or whole.
 */
static void
test_overlong_after(void)
{
	const struct rule_app *ftp = ruleset_for_port(rules, 21);
	const char *heads[2][2] = { { "NOOP\r\nEPRT |1|10.9.8.7|1025|",
					"PORT " },
		{ "200 ok\r\n229 Entering Extended Passive Mode (|||2121|)",
		    "227 " } };
	enum rule_dir dirs[2] = { RULE_C2S, RULE_S2C };
	size_t splits[] = { 0, 3000, 5100 }, len, pre, i, k;
	struct evbuffer_ptr p;
	struct result r;
	char *buf = malloc(12000);

	for (k = 0; k < 2; k++) {
		len = strlen(heads[k][0]);
		memcpy(buf, heads[k][0], len);
		memset(buf + len, ' ', 5000);
		len += 5000;
		memcpy(buf + len, "\r\n", 2);
		len += 2;
		memcpy(buf + len, heads[k][1], strlen(heads[k][1]));
		len += strlen(heads[k][1]);
		memset(buf + len, ' ', 5000);
		len += 5000;
		pre = strchr(heads[k][0], '\n') - heads[k][0] + 1;
		for (i = 0; i < sizeof splits / sizeof splits[0]; i++) {
			scan_text(ftp, dirs[k], 0, buf, len,
			    splits[i] == 0 ? len : splits[i], 0,
			    (struct sockaddr *)&with4, &r);
			CHECK(r.errors == 1);
			p = evbuffer_search(r.out, k == 0 ? "EPRT" : "229",
			    k == 0 ? 4 : 3, NULL);
			CHECK(p.pos == -1);
			CHECK(evbuffer_get_length(r.out) <= pre);
			evbuffer_free(r.out);
		}
	}
	free(buf);
}

/* The holdback cap bounds memory and never loses or reorders bytes. */
static void
test_holdback(void)
{
	const struct rule_app *ftp = ruleset_for_port(rules, 21);
	struct result r;
	char *big;
	size_t n, len, chunks[] = { 1, 7, 100, 5000 }, i;

	/* A long line without any announcement. */
	len = 100000;
	big = malloc(len + 64);
	memset(big, 'x', len);
	for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		scan_text(ftp, RULE_C2S, 64, big, len, 0, chunks[i],
		    (struct sockaddr *)&with4, &r);
		CHECK(same(r.out, big, len));
		CHECK(r.found == 0);
		CHECK(r.max_held <= 64);
		evbuffer_free(r.out);
	}

	/*
	 * A partial announcement that grows past the cap fails closed:
	 * nothing from it on is passed (the channel ends), whatever the
	 * chunks.
	 */
	memcpy(big, "NOOP\r\nPORT", 10);
	memset(big + 10, ' ', 5000);
	memcpy(big + 5010, "10,0,0,1,4,1\r\nNOOP\r\n", 20);
	len = 5030;
	for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		scan_text(ftp, RULE_C2S, 64, big, len, 0, chunks[i],
		    (struct sockaddr *)&with4, &r);
		CHECK(r.errors == 1);
		CHECK(same(r.out, "NOOP\r\n", 6));
		CHECK(r.max_held <= 64);
		evbuffer_free(r.out);
	}
	/* With the default cap of 4096 it is still too long. */
	scan_text(ftp, RULE_C2S, 0, big, len, 0, 1, (struct sockaddr *)&with4,
	    &r);
	CHECK(r.errors == 1);
	CHECK(same(r.out, "NOOP\r\n", 6));
	CHECK(r.max_held <= 4096);
	evbuffer_free(r.out);

	/* Exactly the cap is found; one byte more fails closed. */
	for (n = 46; n <= 47; n++) {
		memcpy(big, "PORT", 4);
		memset(big + 4, ' ', n);
		memcpy(big + 4 + n, "10,0,0,1,4,1\r\nNOOP\r\n", 20);
		len = 4 + n + 20;
		for (i = 0; i < 3; i++) {
			scan_text(ftp, RULE_C2S, 64, big, len,
			    i == 2 ? (size_t)-1 : i * 30, 0,
			    (struct sockaddr *)&with4, &r);
			if (n == 46) {
				CHECK(r.found == 1);
				CHECK(same(r.out,
				    "PORT 192,0,2,1,156,64\r\nNOOP\r\n", 29));
			} else {
				CHECK(r.found == 0 && r.errors == 1);
				CHECK(evbuffer_get_length(r.out) == 0);
			}
			evbuffer_free(r.out);
		}
	}

	/* A big read with an announcement after it. */
	len = 100000;
	memset(big, 'y', len);
	memcpy(big + len - 21, "\nPORT 10,0,0,1,4,1\r\n", 20);
	big[len - 1] = 'z';
	scan_text(ftp, RULE_C2S, 0, big, len, 0, 0, (struct sockaddr *)&with4,
	    &r);
	CHECK(r.found == 1);
	CHECK(evbuffer_get_length(r.out) == len + 4);
	CHECK(memcmp(evbuffer_pullup(r.out, -1), big, len - 20) == 0);
	CHECK(memcmp((char *)evbuffer_pullup(r.out, -1) + len - 20,
		  "PORT 192,0,2,1,156,64\r\nz", 24) == 0);
	evbuffer_free(r.out);
	free(big);
}

/* The first announcement in text, or -1. */
static int
first_announce(const struct rule_app *a, enum rule_dir dir, const char *text,
    size_t len, struct announce *an)
{
	struct scan *s = scan_new(a, dir, 0);
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	const char *why;
	enum scan_result r;

	evbuffer_add(in, text, len);
	r = scan_feed(s, in, out, an, &why);
	scan_free(s);
	evbuffer_free(in);
	evbuffer_free(out);
	return r == SCAN_FOUND ? 0 : -1;
}

/* Check the bounce verdict for an announcement from a client. */
static void
bounce(const char *app, const char *text, size_t len, const char *client,
    const char *want)
{
	const struct rule_app *a = NULL;
	struct announce an;
	struct sockaddr_storage ss;
	const char *why = NULL;
	size_t i;
	int rc;

	for (i = 0; i < ruleset_count(rules); i++) {
		if (strcmp(rule_app_name(ruleset_app(rules, i)), app) == 0)
			a = ruleset_app(rules, i);
	}
	CHECK(a != NULL);
	if (a == NULL || first_announce(a, RULE_C2S, text, len, &an) != 0) {
		fprintf(stderr, "no announcement in %s\n", text);
		CHECK(0);
		return;
	}
	CHECK(rule_kind_action(an.an_kind) == RULE_SERVER_CONNECTS);
	mkaddr(&ss, client, 0);
	rc = announce_check_origin(&an, (struct sockaddr *)&ss, &why);
	if (want == NULL) {
		CHECK(rc == 0);
		if (rc != 0)
			fprintf(stderr, "%s from %s: %s\n", text, client, why);
	} else {
		CHECK(rc == -1);
		CHECK(why != NULL && strcmp(why, want) == 0);
		if (why == NULL || strcmp(why, want) != 0)
			fprintf(stderr, "want: %s\ngot:  %s\n", want,
			    why ? why : "(null)");
	}
}

#define BOUNCE(app, text, client, want) \
	bounce(app, text, sizeof text - 1, client, want)

/* Announcements naming a third host are refused. */
static void
test_bounce(void)
{
	BOUNCE("ftp", "PORT 10,9,9,9,4,1\r\n", "198.51.100.2",
	    "announced 10.9.9.9 is not the client 198.51.100.2 (FTP bounce)");
	BOUNCE("ftp", "PORT 198,51,100,2,4,1\r\n", "198.51.100.2", NULL);
	BOUNCE("ftp", "EPRT |1|10.9.9.9|1025|\r\n", "198.51.100.2",
	    "announced 10.9.9.9 is not the client 198.51.100.2 (FTP bounce)");
	BOUNCE("ftp", "EPRT |1|198.51.100.2|1025|\r\n", "198.51.100.2", NULL);
	BOUNCE("ftp", "EPRT |2|2001:db8::9|1025|\r\n", "2001:db8::2",
	    "announced 2001:db8::9 is not the client 2001:db8::2 (FTP bounce)");
	BOUNCE("ftp", "EPRT |2|2001:DB8::2|1025|\r\n", "2001:db8::2", NULL);
	/* IPv4-mapped addresses compare as IPv4, on either side. */
	BOUNCE("ftp", "EPRT |2|::ffff:198.51.100.2|1025|\r\n", "198.51.100.2",
	    NULL);
	BOUNCE("ftp", "EPRT |2|::ffff:10.9.9.9|1025|\r\n", "198.51.100.2",
	    "announced 10.9.9.9 is not the client 198.51.100.2 (FTP bounce)");
	BOUNCE("ftp", "PORT 198,51,100,2,4,1\r\n", "::ffff:198.51.100.2", NULL);
	BOUNCE("ftp", "EPRT |2|::ffff:198.51.100.2|1025|\r\n",
	    "::ffff:198.51.100.2", NULL);
	BOUNCE("ftp", "PORT 198,51,100,3,4,1\r\n", "::ffff:198.51.100.2",
	    "announced 198.51.100.3 is not the client 198.51.100.2 (FTP "
	    "bounce)");
	/* Families differ. */
	BOUNCE("ftp", "EPRT |1|198.51.100.2|1025|\r\n", "2001:db8::2",
	    "announced 198.51.100.2 is not the client 2001:db8::2 (FTP "
	    "bounce)");
	/* Ports. */
	BOUNCE("ftp", "PORT 198,51,100,2,0,0\r\n", "198.51.100.2",
	    "announced port 0 is not valid");
	BOUNCE("ftp", "PORT 198,51,100,2,0,25\r\n", "198.51.100.2",
	    "announced port 25 is below 1024 (not allowed by the rule)");
	BOUNCE("ftp", "EPRT |1|198.51.100.2|65535|\r\n", "198.51.100.2", NULL);
	/* rsh's stderr port is reserved, and its address implied. */
	BOUNCE("rsh", "1023\0alice\0", "198.51.100.2", NULL);
	/* DCC. */
	BOUNCE("irc",
	    "PRIVMSG bob :\x01"
	    "DCC SEND f 167772161 5000 1\x01\r\n",
	    "198.51.100.2",
	    "announced 10.0.0.1 is not the client 198.51.100.2 (FTP bounce)");
	BOUNCE("irc",
	    "PRIVMSG bob :\x01"
	    "DCC CHAT chat 3325256706 5000\x01\r\n",
	    "198.51.100.2", NULL);
}

/* Decode errors, emits that cannot be written, end of stream. */
static void
test_edges(void)
{
	const struct rule_app *ftp = ruleset_for_port(rules, 21);
	struct scan *s;
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct announce an;
	const char *why;
	struct sockaddr_storage mapped;
	static const char bad[] =
	    "PORT 10,0,0,300,4,1\r\nPORT 10,0,0,1,4,1\r\n";

	/*
	 * An announcement that does not decode is reported suspect: it can
	 * only be neutralised, never passed on unchanged.
	 */
	s = scan_new(ftp, RULE_C2S, 0);
	evbuffer_add(in, bad, sizeof bad - 1);
	CHECK(scan_feed(s, in, out, &an, &why) == SCAN_FOUND);
	CHECK(an.an_suspect);
	CHECK_STR_CONTAINS(an.an_why,
	    "it does not decode: h4 \"300\" is not a "
	    "number 0-255");
	CHECK(evbuffer_get_length(out) == 0);
	CHECK(scan_emit(s, NULL, out) == -1);
	mkaddr(&mapped, "192.0.2.9", 0);
	CHECK(scan_emit(s, (struct sockaddr *)&mapped, out) == 0);
	CHECK(same(out, "PORT 192,0,2,9,0,0\r\n", 20));
	CHECK(scan_feed(s, NULL, out, &an, &why) == SCAN_FOUND);
	CHECK(!an.an_suspect);
	CHECK(strcmp(an.an_text, "PORT 10,0,0,1,4,1\\r\\n") == 0);
	CHECK(an.an_family == AF_INET && an.an_port == 1025);
	CHECK(an.an_dir == RULE_C2S && !an.an_implied);

	/* IPv6 does not fit the comma form: nothing written, still pending. */
	CHECK(scan_emit(s, (struct sockaddr *)&with6, out) == -1);
	CHECK(evbuffer_get_length(out) == 20);
	/* Feeding while pending keeps the bytes in order. */
	evbuffer_add(in, "NOOP\r\n", 6);
	CHECK(scan_feed(s, in, out, &an, &why) == SCAN_FOUND);
	CHECK(an.an_port == 1025);
	mkaddr(&mapped, "::ffff:203.0.113.9", 1026);
	CHECK(scan_emit(s, (struct sockaddr *)&mapped, out) == 0);
	CHECK(scan_emit(s, NULL, out) == -1);
	CHECK(scan_feed(s, NULL, out, &an, &why) == SCAN_MORE);
	CHECK(same(out,
	    "PORT 192,0,2,9,0,0\r\nPORT 203,0,113,9,4,2\r\nNOOP\r\n", 48));
	scan_free(s);
	evbuffer_drain(out, evbuffer_get_length(out));

	/* An IPv4-mapped announcement decodes as IPv4. */
	CHECK(first_announce(ftp, RULE_C2S, "EPRT |2|::ffff:10.1.2.3|2000|\r\n",
		  32, &an) == 0);
	CHECK(an.an_family == AF_INET && an.an_port == 2000);
	CHECK(memcmp(an.an_addr, "\x0a\x01\x02\x03", 4) == 0);

	/* The original bytes, unchanged, when the caller says so. */
	s = scan_new(ftp, RULE_C2S, 0);
	evbuffer_add(in, "PORT 10,0,0,1,4,1\r\nQUIT", 23);
	CHECK(scan_feed(s, in, out, &an, &why) == SCAN_FOUND);
	CHECK(scan_emit(s, NULL, out) == 0);
	CHECK(scan_feed(s, NULL, out, &an, &why) == SCAN_MORE);
	CHECK(scan_held(s) == 0); /* "QUIT" cannot start an announcement */
	scan_flush(s, out);
	CHECK(same(out, "PORT 10,0,0,1,4,1\r\nQUIT", 23));
	scan_free(s);
	evbuffer_drain(out, evbuffer_get_length(out));

	/* Flushing with an announcement pending writes nothing: it waits. */
	s = scan_new(ftp, RULE_C2S, 0);
	evbuffer_add(in, "PORT 10,0,0,1,4,1\r\nPO", 21);
	CHECK(scan_feed(s, in, out, &an, &why) == SCAN_FOUND);
	scan_flush(s, out);
	CHECK(evbuffer_get_length(out) == 0);
	CHECK(scan_emit(s, NULL, out) == 0);
	CHECK(same(out, "PORT 10,0,0,1,4,1\r\n", 19));
	scan_free(s);
	evbuffer_drain(out, evbuffer_get_length(out));

	/* At the end of the stream a held complete match is reported. */
	{
		static const char rule[] =
		    "[service]\nports = 7001\n"
		    "[x]\ndirection = s2c\naction = client-connects\n"
		    "decode = implied\npattern = \"X(?<port>\\d+)\"\n"
		    "rewrite = \"X${new.port}\"\n";
		struct ruleset *rs = ruleset_new();
		const struct rule_app *a = extra(rs, rule);

		if (a != NULL) {
			s = scan_new(a, RULE_S2C, 0);
			CHECK(!rule_app_scans(a, RULE_C2S));
			evbuffer_add(in, "ab X123", 7);
			CHECK(scan_feed(s, in, out, &an, &why) == SCAN_MORE);
			CHECK(same(out, "ab ", 3));
			CHECK(scan_held(s) == 4);
			scan_eof(s);
			CHECK(scan_feed(s, NULL, out, &an, &why) == SCAN_FOUND);
			CHECK(an.an_implied && an.an_port == 123 &&
			    an.an_family == 0);
			CHECK(
			    scan_emit(s, (struct sockaddr *)&with4, out) == 0);
			CHECK(scan_feed(s, NULL, out, &an, &why) == SCAN_MORE);
			scan_flush(s, out);
			CHECK(same(out, "ab X40000", 9));
			scan_free(s);
		}
		ruleset_free(rs);
	}
	evbuffer_free(in);
	evbuffer_free(out);
}

/* CPU seconds this process has used. */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 MiB of lines made from pattern, each padded with spaces to width. */
static char *
lines_of(const char *pattern, size_t width, size_t *len)
{
	size_t total = 1 << 20, o = 0, n = strlen(pattern);
	char *buf = xmalloc(total);

	while (o + width + 2 <= total) {
		memcpy(buf + o, pattern, n);
		memset(buf + o + n, ' ', width - n);
		memcpy(buf + o + width, "\r\n", 2);
		o += width + 2;
	}
	*len = o;
	return buf;
}

/* 1 MiB of the protocol's own lines, in turn ("|" between them). */
static char *
lines_mix(const char *mix, size_t *len)
{
	size_t total = 1 << 20, o = 0, n;
	const char *p = mix, *bar;
	char *buf = xmalloc(total);

	for (;;) {
		bar = strchr(p, '|');
		n = bar != NULL ? (size_t)(bar - p) : strlen(p);
		if (o + n + 2 > total)
			break;
		memcpy(buf + o, p, n);
		memcpy(buf + o + n, "\r\n", 2);
		o += n + 2;
		p = bar != NULL ? bar + 1 : mix;
	}
	*len = o;
	return buf;
}

/* CPU seconds to scan text in TCP-segment-sized reads (best of 5). */
static double
scan_cost(const struct rule_app *a, enum rule_dir dir, const char *text,
    size_t len)
{
	struct result r;
	double best = 1e9, t;
	int i;

	for (i = 0; i < 6; i++) {
		t = cpu_now();
		scan_text(a, dir, 0, text, len, 0, 65408,
		    (struct sockaddr *)&with4, &r);
		t = cpu_now() - t;
		CHECK(r.errors == 0);
		evbuffer_free(r.out);
		if (i > 0 && t < best) /* the first warms the caches */
			best = t;
	}
	return best;
}

/*
 * Matching takes linear time: each shipped rule costs no more than 2x
 * per MB on adversarial input (long runs of spaces after the start of an
 * announcement, held across reads) than on the protocol's plain traffic.
 * (rsh's pattern is anchored to the stream's first bytes: it never looks
 * further.) CPU time under AddressSanitizer is not that of the program:
 * it slows our C code and not PCRE2's JIT code, so the ratio means
 * nothing there and the check runs only in the plain build.
 */
static void
test_linear(void)
{
#ifdef __SANITIZE_ADDRESS__
	printf("test_linear: skipped under AddressSanitizer (CPU time is "
	       "not the program's)\n");
	return;
#endif
	/* Plain text is the protocol's ordinary traffic. */
#define FTP_C2S \
	"RETR pub/releases/dynpass-0.1.tar.gz|TYPE I|PASV|LIST -la|CWD pub"
#define FTP_S2C                                                            \
	"150 Opening BINARY mode data connection for pub/f (1234 bytes).|" \
	"226 Transfer complete.|200 Type set to I.|213 1234"
#define IRC_C2S                                                     \
	"PRIVMSG #dynpass :hello, how is it going?|PING :irc.test|" \
	"JOIN #dynpass|NOTICE bob :see you"
	static const struct {
		const char *app;
		enum rule_dir dir;
		const char *plain;
		const char *evil;
	} cases[] = {
		{ "ftp", RULE_C2S, FTP_C2S, "PORT 10,9,8,7,4" },
		{ "ftp", RULE_C2S, FTP_C2S, "EPRT |1|10.9.8.7|" },
		{ "ftp", RULE_C2S, FTP_C2S, "PO\xff\xf4RT 1,2," },
		{ "ftp", RULE_S2C, FTP_S2C,
		    "227 Entering Passive Mode (10,9,8,7,4" },
		{ "ftp", RULE_S2C, FTP_S2C,
		    "229 Entering Extended Passive Mode (|||" },
		{ "irc", RULE_C2S, IRC_C2S,
		    "PRIVMSG bob :\x01"
		    "DCC SEND x 1 2" },
		{ "irc", RULE_C2S, IRC_C2S,
		    "PRIVMSG bob :\x01"
		    "DCC CHAT chat 1" },
		{ "irc", RULE_C2S, IRC_C2S, ":a PRIVMSG b :" },
		{ "irc", RULE_C2S, IRC_C2S,
		    "@a=b PRIVMSG b :\x01VERSION\x01\x01"
		    "DC" },
	};
	const struct rule_app *a;
	char *plain, *evil;
	size_t i, j, plen, elen;
	double p, e;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		a = NULL;
		for (j = 0; j < ruleset_count(rules); j++)
			if (strcmp(rule_app_name(ruleset_app(rules, j)),
				cases[i].app) == 0)
				a = ruleset_app(rules, j);
		CHECK(a != NULL);
		if (a == NULL)
			continue;
		plain = lines_mix(cases[i].plain, &plen);
		evil = lines_of(cases[i].evil, 1000, &elen);
		/*
		 * CPU time is noisy on a shared machine: each cost is the
		 * least of up to five measurements, taken in turns, and the
		 * case is superlinear only if the least adversarial cost is
		 * still over twice the least plain one. A quadratic pattern
		 * fails every time, by far.
		 */
		p = e = 0;
		for (j = 0; j < 5; j++) {
			double pj = scan_cost(a, cases[i].dir, plain, plen);
			double ej = scan_cost(a, cases[i].dir, evil, elen);

			p = j == 0 || pj < p ? pj : p;
			e = j == 0 || ej < e ? ej : e;
			if (e <= 2 * p)
				break;
		}
		printf("%s %s \"%.12s...\": %.0f us/MB plain, %.0f us/MB "
		       "adversarial\n",
		    cases[i].app, cases[i].dir == RULE_C2S ? "c2s" : "s2c",
		    cases[i].evil, p * 1e6, e * 1e6);
		CHECK(e <= 2 * p);
		free(plain);
		free(evil);
	}
}

int
main(int argc, char **argv)
{
	char *cause = NULL;

	rules = ruleset_new();
	if (ruleset_load_dir(rules, argc > 1 ? argv[1] : "rules", &cause) !=
	    0) {
		fprintf(stderr, "%s\n", cause);
		return 1;
	}
	mkaddr(&with4, "192.0.2.1", 40000);
	mkaddr(&with6, "2001:db8::7", 40001);
	test_split();
	test_context();
	test_combined();
	test_holdback();
	test_overlong_after();
	test_bounce();
	test_edges();
	test_linear();
	ruleset_free(rules);
	return unit_done("test_scan");
}
