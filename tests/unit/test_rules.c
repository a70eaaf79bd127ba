/* Rule files: the shipped rules and their vectors, broken files refused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rule.h"
#include "scan.h"
#include "unit.h"

static const char *rules_dir = "rules";

/* A valid file to break in one place. */
#define SERVICE "[service]\nports = 21\n"
#define KIND                             \
	"[port]\n"                       \
	"direction = client-to-server\n" \
	"action = server-connects\n"     \
	"decode = comma\n"
#define PATTERN                                                       \
	"pattern = \"(?im)^PORT (?<h1>\\d+),(?<h2>\\d+),(?<h3>\\d+)," \
	"(?<h4>\\d+),(?<p1>\\d+),(?<p2>\\d+)\\r\\n\"\n"
#define REWRITE "rewrite = \"PORT ${new.addr_comma},${new.port_comma}\\r\\n\"\n"

/* Load text as bad.ini into a fresh ruleset; the error or NULL. */
static char *
load_err(const char *text)
{
	struct ruleset *rs = ruleset_new();
	char *cause = NULL;

	if (ruleset_load_text(rs, "bad.ini", text, strlen(text), &cause) == 0)
		cause = NULL;
	ruleset_free(rs);
	return cause;
}

/* Check that text is refused with exactly this message. */
static void
refused(const char *text, const char *want)
{
	char *cause = load_err(text);

	CHECK(cause != NULL);
	if (cause != NULL && strcmp(cause, want) != 0) {
		fprintf(stderr, "  want: %s\n  got:  %s\n", want, cause);
		CHECK(0);
	}
	free(cause);
}

/* The shipped rules load and pass their own vectors. */
static void
test_shipped(void)
{
	struct ruleset *rs = ruleset_new();
	const struct rule_app *a;
	char *cause = NULL, path[512], *buf;
	const char *text;
	size_t len, i;
	FILE *f;

	CHECK(ruleset_load_dir(rs, rules_dir, &cause) == 0);
	if (cause != NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		cause = NULL;
	}
	CHECK(ruleset_count(rs) == 3);
	CHECK(ruleset_vector_count(rs) >= 20);
	CHECK(ruleset_run_vectors(rs, &cause) == 0);
	if (cause != NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		cause = NULL;
	}
	printf("%zu rule files, %zu vectors\n", ruleset_count(rs),
	    ruleset_vector_count(rs));

	/* Sorted by name; names from the file names. */
	CHECK(strcmp(rule_app_name(ruleset_app(rs, 0)), "ftp") == 0);
	CHECK(strcmp(rule_app_name(ruleset_app(rs, 1)), "irc") == 0);
	CHECK(strcmp(rule_app_name(ruleset_app(rs, 2)), "rsh") == 0);
	CHECK(strcmp(rule_app_file(ruleset_app(rs, 0)), "ftp.ini") == 0);
	CHECK(ruleset_app(rs, 3) == NULL);

	/* Lookup by server port. */
	CHECK(ruleset_for_port(rs, 21) == ruleset_app(rs, 0));
	CHECK(ruleset_for_port(rs, 6667) == ruleset_app(rs, 1));
	/* IRC over TLS cannot be scanned, so irc.ini does not claim it. */
	CHECK(ruleset_for_port(rs, 6697) == NULL);
	CHECK(ruleset_for_port(rs, 514) == ruleset_app(rs, 2));
	CHECK(ruleset_for_port(rs, 80) == NULL);
	CHECK(ruleset_for_port(rs, 6668) == NULL);
	CHECK(ruleset_for_port(NULL, 21) == NULL);

	/* Directions and kinds. */
	a = ruleset_app(rs, 0);
	CHECK(rule_app_scans(a, RULE_C2S));
	CHECK(rule_app_scans(a, RULE_S2C));
	CHECK(rule_app_kind_count(a) == 6);
	CHECK(strcmp(rule_kind_name(rule_app_kind(a, 0)), "port") == 0);
	CHECK(rule_kind_action(rule_app_kind(a, 0)) == RULE_SERVER_CONNECTS);
	CHECK(rule_kind_action(rule_app_kind(a, 2)) == RULE_CLIENT_CONNECTS);
	CHECK(rule_kind_implied(rule_app_kind(a, 3)));
	CHECK(rule_kind_action(rule_app_kind(a, 4)) == RULE_REFUSE);
	CHECK(rule_kind_action(rule_app_kind(a, 5)) == RULE_REFUSE);
	CHECK(!rule_app_scans(ruleset_app(rs, 1), RULE_S2C));
	CHECK(!rule_app_scans(ruleset_app(rs, 2), RULE_S2C));

	/* The original text goes to the esp, which loads the same rules. */
	for (i = 0; i < ruleset_count(rs); i++) {
		a = ruleset_app(rs, i);
		text = rule_app_text(a, &len);
		snprintf(path, sizeof path, "%s/%s", rules_dir,
		    rule_app_file(a));
		buf = calloc(1, len + 2);
		f = fopen(path, "r");
		CHECK(f != NULL);
		if (f != NULL) {
			CHECK(fread(buf, 1, len + 1, f) == len);
			fclose(f);
		}
		CHECK(memcmp(buf, text, len) == 0);
		free(buf);
	}
	{
		struct ruleset *esp = ruleset_new();

		for (i = 0; i < ruleset_count(rs); i++) {
			a = ruleset_app(rs, i);
			text = rule_app_text(a, &len);
			CHECK(ruleset_load_text(esp, rule_app_file(a), text,
				  len, &cause) == 0);
		}
		CHECK(ruleset_count(esp) == 3);
		CHECK(ruleset_run_vectors(esp, &cause) == 0);
		CHECK(strcmp(rule_app_name(ruleset_for_port(esp, 514)),
			  "rsh") == 0);
		/* The same file twice is refused. */
		text = rule_app_text(ruleset_app(rs, 0), &len);
		CHECK(
		    ruleset_load_text(esp, "ftp.ini", text, len, &cause) == -1);
		CHECK_STR_CONTAINS(cause,
		    "ftp.ini: [service] ports: port 21 "
		    "is already taken by ftp.ini");
		free(cause);
		cause = NULL;
		ruleset_free(esp);
	}
	ruleset_free(rs);
}

/* Broken files are refused with "FILE: [section] key: reason". */
static void
test_broken(void)
{
	char buf[2048];

	/* The base file is fine. */
	snprintf(buf, sizeof buf, "%s%s%s%s", SERVICE, KIND, PATTERN, REWRITE);
	CHECK(load_err(buf) == NULL);

	snprintf(buf, sizeof buf, "%s%s%s%spatern = x\n", SERVICE, KIND,
	    PATTERN, REWRITE);
	refused(buf, "bad.ini: [port] patern: unknown key");
	snprintf(buf, sizeof buf, "%sport = 21\n%s%s%s", SERVICE, KIND, PATTERN,
	    REWRITE);
	refused(buf, "bad.ini: [service] port: unknown key");
	snprintf(buf, sizeof buf, "%s%s%s%stest.1.inptu = x\n", SERVICE, KIND,
	    PATTERN, REWRITE);
	refused(buf, "bad.ini: [port] test.1.inptu: unknown key");

	snprintf(buf, sizeof buf, "%s%s%s", SERVICE, KIND, REWRITE);
	refused(buf, "bad.ini: [port] pattern: missing");
	snprintf(buf, sizeof buf, "%s%s%s", SERVICE, KIND, PATTERN);
	refused(buf, "bad.ini: [port] rewrite: missing");
	snprintf(buf, sizeof buf,
	    "%s[port]\naction = server-connects\ndecode = comma\n%s%s", SERVICE,
	    PATTERN, REWRITE);
	refused(buf, "bad.ini: [port] direction: missing");

	snprintf(buf, sizeof buf,
	    "%s[port]\ndirection = up\naction = server-connects\n"
	    "decode = comma\n%s%s",
	    SERVICE, PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [port] direction: \"up\" is not client-to-server or "
	    "server-to-client");
	snprintf(buf, sizeof buf,
	    "%s[port]\ndirection = c2s\naction = connect\n"
	    "decode = comma\n%s%s",
	    SERVICE, PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [port] action: \"connect\" is not server-connects, "
	    "client-connects or refuse");
	/* action = refuse: detect and plain neutral text, nothing else. */
	snprintf(buf, sizeof buf,
	    "%s[auth]\ndirection = c2s\naction = refuse\n%s", SERVICE, PATTERN);
	refused(buf,
	    "bad.ini: [auth] pattern: not with action = refuse: it only "
	    "detects");
	snprintf(buf, sizeof buf,
	    "%s[auth]\ndirection = c2s\naction = refuse\n"
	    "neutral = \"NOOP\\r\\n\"\n",
	    SERVICE);
	refused(buf,
	    "bad.ini: [auth] detect: missing: action = refuse needs what to "
	    "detect");
	snprintf(buf, sizeof buf,
	    "%s[auth]\ndirection = c2s\naction = refuse\n"
	    "detect = \"^AUTH\"\n",
	    SERVICE);
	refused(buf,
	    "bad.ini: [auth] neutral: missing: what replaces text that "
	    "detect finds");
	snprintf(buf, sizeof buf,
	    "%s[auth]\ndirection = c2s\naction = refuse\n"
	    "detect = \"^AUTH\"\nneutral = \"PORT ${new.port}\\r\\n\"\n",
	    SERVICE);
	refused(buf, "bad.ini: [auth] neutral: no ${...} with action = refuse");
	snprintf(buf, sizeof buf,
	    "%s[port]\ndirection = c2s\naction = server-connects\n"
	    "decode = hex\n%s%s",
	    SERVICE, PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [port] decode: \"hex\" is not comma, dotted, u32, ipv6, "
	    "ip or implied");

	/* Port lists. */
	snprintf(buf, sizeof buf, "[service]\nports = 21x\n%s%s%s", KIND,
	    PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [service] ports: \"21x\" is not a port or range of ports "
	    "1-65535 (e.g. 21, 6667,6697, 6660-6669)");
	snprintf(buf, sizeof buf, "[service]\nports = 21, 70000\n%s%s%s", KIND,
	    PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [service] ports: \"70000\" is not a port or range of "
	    "ports 1-65535 (e.g. 21, 6667,6697, 6660-6669)");
	snprintf(buf, sizeof buf, "[service]\nports = 0\n%s%s%s", KIND, PATTERN,
	    REWRITE);
	refused(buf,
	    "bad.ini: [service] ports: \"0\" is not a port or range of ports "
	    "1-65535 (e.g. 21, 6667,6697, 6660-6669)");
	snprintf(buf, sizeof buf, "[service]\nports = 30-20\n%s%s%s", KIND,
	    PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [service] ports: \"30-20\" is not a port or range of "
	    "ports 1-65535 (e.g. 21, 6667,6697, 6660-6669)");
	snprintf(buf, sizeof buf, "[service]\n%s%s%s", KIND, PATTERN, REWRITE);
	refused(buf, "bad.ini: [service] ports: missing");
	snprintf(buf, sizeof buf, "%s%s%s", KIND, PATTERN, REWRITE);
	refused(buf, "bad.ini: [service]: missing");
	refused(SERVICE, "bad.ini: no announcement sections (only [service])");
	snprintf(buf, sizeof buf, "ports = 21\n%s%s%s%s", SERVICE, KIND,
	    PATTERN, REWRITE);
	refused(buf, "bad.ini: key \"ports\" is outside a section");

	/* PCRE2 compile errors carry PCRE2's message and offset. */
	snprintf(buf, sizeof buf, "%s%spattern = PORT (?<h1>\\d+\n%s", SERVICE,
	    KIND, REWRITE);
	refused(buf,
	    "bad.ini: [port] pattern: PCRE2 error at offset 14: missing "
	    "closing parenthesis");
	snprintf(buf, sizeof buf, "%s%spattern = \"PORT [z-a]\"\n%s", SERVICE,
	    KIND, REWRITE);
	refused(buf,
	    "bad.ini: [port] pattern: PCRE2 error at offset 8: range out of "
	    "order in character class");
	snprintf(buf, sizeof buf, "%s%spattern = \"(*UTF)PORT\"\n%s", SERVICE,
	    KIND, REWRITE);
	refused(buf,
	    "bad.ini: [port] pattern: PCRE2 error at offset 6: using UTF is "
	    "disabled by the application");

	/* Named captures required by the decode. */
	snprintf(buf, sizeof buf,
	    "%s%spattern = \"PORT (\\d+),(?<h2>\\d+),(?<h3>\\d+),(?<h4>\\d+),"
	    "(?<p1>\\d+),(?<p2>\\d+)\\r\\n\"\nrewrite = x\n",
	    SERVICE, KIND);
	refused(buf,
	    "bad.ini: [port] pattern: decode comma needs a group named h1, "
	    "(?<h1>...)");
	snprintf(buf, sizeof buf,
	    "%s[x]\ndirection = c2s\naction = server-connects\ndecode = u32\n"
	    "pattern = \"DCC (?<addr>\\d+) (\\d+)\"\nrewrite = x\n",
	    SERVICE);
	refused(buf,
	    "bad.ini: [x] pattern: decode u32 needs a group named port, "
	    "(?<port>...)");
	snprintf(buf, sizeof buf,
	    "%s[x]\ndirection = s2c\naction = client-connects\n"
	    "decode = implied\npattern = \"229 (\\d+)\"\nrewrite = x\n",
	    SERVICE);
	refused(buf,
	    "bad.ini: [x] pattern: decode implied needs a group named port, "
	    "(?<port>...)");

	/* A pattern that can match nothing at all would loop. */
	snprintf(buf, sizeof buf,
	    "%s[x]\ndirection = c2s\naction = server-connects\n"
	    "decode = implied\npattern = \"(?<port>\\d*)\"\nrewrite = x\n",
	    SERVICE);
	refused(buf, "bad.ini: [x] pattern: can match an empty string");

	/* Rewrite templates. */
	snprintf(buf, sizeof buf, "%s%s%srewrite = \"PORT ${foo}\"\n", SERVICE,
	    KIND, PATTERN);
	refused(buf,
	    "bad.ini: [port] rewrite: ${foo}: no group of that name in the "
	    "pattern");
	snprintf(buf, sizeof buf, "%s%s%srewrite = \"PORT ${new.host}\"\n",
	    SERVICE, KIND, PATTERN);
	refused(buf,
	    "bad.ini: [port] rewrite: unknown ${new.host} (new.addr, new.ipv4, "
	    "new.ipv6, new.addr_comma, new.addr_u32, new.af, new.port, "
	    "new.port_comma, new.port_hi, new.port_lo)");
	snprintf(buf, sizeof buf, "%s%s%srewrite = \"PORT $x\"\n", SERVICE,
	    KIND, PATTERN);
	refused(buf,
	    "bad.ini: [port] rewrite: $ at offset 5 does not start ${name} "
	    "(write \\$ for a dollar sign)");
	snprintf(buf, sizeof buf, "%s%s%srewrite = \"PORT \\q\"\n", SERVICE,
	    KIND, PATTERN);
	refused(buf, "bad.ini: [port] rewrite: unknown escape \\q at offset 5");
	snprintf(buf, sizeof buf, "%s%s%srewrite = \"PORT \\x4\"\n", SERVICE,
	    KIND, PATTERN);
	refused(buf,
	    "bad.ini: [port] rewrite: \\x needs two hex digits at offset 5");

	/* Test vectors. */
	snprintf(buf, sizeof buf, "%s%s%s%stest.1.decode = 1.2.3.4 5\n",
	    SERVICE, KIND, PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [port] test.1.input: missing (the other test.1 keys "
	    "need it)");
	snprintf(buf, sizeof buf,
	    "%s%s%s%stest.1.input = x\ntest.1.decode = somewhere\n", SERVICE,
	    KIND, PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [port] test.1.decode: \"somewhere\" is not none, "
	    "neutral, error, implied PORT or ADDRESS PORT");
	snprintf(buf, sizeof buf,
	    "%s%s%s%stest.1.input = x\ntest.1.with = 1.2.3.4\n", SERVICE, KIND,
	    PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [port] test.1.with: \"1.2.3.4\" is not ADDRESS PORT "
	    "(e.g. 192.0.2.1 40000)");

	/* Other fields. */
	snprintf(buf, sizeof buf, "%s%slow_ports = maybe\n%s%s", SERVICE, KIND,
	    PATTERN, REWRITE);
	refused(buf, "bad.ini: [port] low_ports: \"maybe\" is not yes or no");
	snprintf(buf, sizeof buf, "%smatch_limit = lots\n%s%s%s", SERVICE, KIND,
	    PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [service] match_limit: \"lots\" is not a number from 100 "
	    "to 100000000");
	snprintf(buf, sizeof buf, "%s[Port!]\n%s%s", SERVICE, PATTERN, REWRITE);
	refused(buf,
	    "bad.ini: [port!]: section names are letters, digits, _ and -");
	refused("[service\nports = 21\n",
	    "bad.ini: cannot parse: iniparser: syntax error in bad.ini (1): "
	    "-> [service");
	{
		struct ruleset *rs = ruleset_new();
		char *cause = NULL;

		CHECK(ruleset_load_text(rs, "nul.ini", "[service]\0x", 11,
			  &cause) == -1);
		CHECK_STR_CONTAINS(cause, "nul.ini: contains a NUL byte");
		free(cause);
		ruleset_free(rs);
	}
}

/* A rule file whose vectors are wrong fails with expected and got. */
static void
test_vectors_fail(void)
{
	struct ruleset *rs = ruleset_new();
	char buf[2048], *cause = NULL;

	snprintf(buf, sizeof buf,
	    "%s%s%s%stest.1.input = \"PORT 10,0,0,1,4,1\\r\\n\"\n"
	    "test.1.decode = 10.0.0.2 1025\n",
	    SERVICE, KIND, PATTERN, REWRITE);
	CHECK(ruleset_load_text(rs, "v.ini", buf, strlen(buf), &cause) == 0);
	CHECK(ruleset_run_vectors(rs, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "v.ini: [port] test.1.decode: expected 10.0.0.2 1025, got "
	    "10.0.0.1 1025");
	free(cause);
	cause = NULL;
	ruleset_free(rs);

	rs = ruleset_new();
	snprintf(buf, sizeof buf,
	    "%s%s%s%stest.1.input = \"PORT 10,0,0,1,4,1\\r\\nQUIT\\r\\n\"\n"
	    "test.1.output = \"PORT 192,0,2,1,156,64\\r\\n\"\n",
	    SERVICE, KIND, PATTERN, REWRITE);
	CHECK(ruleset_load_text(rs, "v.ini", buf, strlen(buf), &cause) == 0);
	CHECK(ruleset_run_vectors(rs, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "v.ini: [port] test.1.output: expected "
	    "\"PORT 192,0,2,1,156,64\\r\\n\", got "
	    "\"PORT 192,0,2,1,156,64\\r\\nQUIT\\r\\n\"");
	free(cause);
	cause = NULL;
	ruleset_free(rs);

	rs = ruleset_new();
	snprintf(buf, sizeof buf,
	    "%s%s%s%stest.1.input = \"NOOP\\r\\n\"\n"
	    "test.1.decode = 10.0.0.1 1025\n",
	    SERVICE, KIND, PATTERN, REWRITE);
	CHECK(ruleset_load_text(rs, "v.ini", buf, strlen(buf), &cause) == 0);
	CHECK(ruleset_run_vectors(rs, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "v.ini: [port] test.1.decode: expected 10.0.0.1 1025, got none");
	free(cause);
	ruleset_free(rs);
}

/* Folders: sorted, all or nothing, clear errors. */
static void
test_dir(void)
{
	char dir[] = "/tmp/dynpass-rules.XXXXXX", path[256], *cause = NULL;
	struct ruleset *rs;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	rs = ruleset_new();
	CHECK(ruleset_load_dir(rs, "/nonexistent/rules", &cause) == -1);
	CHECK_STR_CONTAINS(cause, "/nonexistent/rules: cannot open: ");
	free(cause);
	cause = NULL;
	CHECK(ruleset_load_dir(rs, dir, &cause) == 0);
	CHECK(ruleset_count(rs) == 0);

	snprintf(path, sizeof path, "%s/a.ini", dir);
	f = fopen(path, "w");
	fprintf(f, "%s%s%s%s", SERVICE, KIND, PATTERN, REWRITE);
	fclose(f);
	snprintf(path, sizeof path, "%s/b.ini", dir);
	f = fopen(path, "w");
	fprintf(f, "[service]\nports = 25\n%s%s", KIND, REWRITE);
	fclose(f);
	snprintf(path, sizeof path, "%s/README", dir);
	f = fopen(path, "w");
	fprintf(f, "not a rule file\n");
	fclose(f);
	CHECK(ruleset_load_dir(rs, dir, &cause) == -1);
	snprintf(path, sizeof path, "%s/b.ini: [port] pattern: missing", dir);
	CHECK_STR_CONTAINS(cause, path);
	free(cause);
	cause = NULL;
	CHECK(ruleset_count(rs) == 0); /* a.ini was taken back */

	snprintf(path, sizeof path, "%s/b.ini", dir);
	unlink(path);
	CHECK(ruleset_load_dir(rs, dir, &cause) == 0);
	CHECK(ruleset_count(rs) == 1);
	CHECK(strcmp(rule_app_name(ruleset_app(rs, 0)), "a") == 0);
	snprintf(path, sizeof path, "%s/a.ini", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/README", dir);
	unlink(path);
	rmdir(dir);
	ruleset_free(rs);
}

/* Load a one-kind rule with this pattern; 0 or -1 with *cause. */
static int
load_pattern(struct ruleset *rs, const char *pattern, char **cause)
{
	char text[600];

	snprintf(text, sizeof text,
	    "[service]\nports = 9999\n"
	    "[evil]\ndirection = c2s\naction = server-connects\n"
	    "decode = implied\npattern = \"%s\"\nrewrite = x\n",
	    pattern);
	return ruleset_load_text(rs, "evil.ini", text, strlen(text), cause);
}

/*
 * Patterns that could take time beyond linear are refused at load; a
 * pattern that still hits a match limit fails closed: nothing passes.
 */
static void
test_malicious(void)
{
	static const char *const nested[] = { "^(?<port>(a+)+)$",
		"(?<port>(?:x*y)*)z", "(?<port>(a|b+){2,})",
		"(?<port>(\\d+)*)" };
	static const char *const fine[] = { "(?<port>(ab)+)", "(?<port>a+b+)",
		"(?<port>(?:[+*])+)", "(?<port>[(]a+[)]+)",
		"(?<port>(a{2})+)" };
	struct ruleset *rs;
	struct scan *s;
	struct evbuffer *in, *out;
	struct announce an;
	const char *why = NULL;
	char *cause = NULL;
	enum scan_result r;
	size_t i;

	for (i = 0; i < sizeof nested / sizeof nested[0]; i++) {
		rs = ruleset_new();
		CHECK(load_pattern(rs, nested[i], &cause) == -1);
		CHECK_STR_CONTAINS(cause,
		    "evil.ini: [evil] pattern: a group that repeats without "
		    "bound is repeated without bound at offset ");
		free(cause);
		cause = NULL;
		ruleset_free(rs);
	}
	for (i = 0; i < sizeof fine / sizeof fine[0]; i++) {
		rs = ruleset_new();
		if (load_pattern(rs, fine[i], &cause) != 0) {
			fprintf(stderr, "%s: %s\n", fine[i], cause);
			free(cause);
			cause = NULL;
			CHECK(0);
		}
		ruleset_free(rs);
	}

	/* The file's match limit is the one used; hitting it fails closed. */
	in = evbuffer_new();
	out = evbuffer_new();
	for (int lim = 0; lim < 2; lim++) {
		char low[512];

		snprintf(low, sizeof low,
		    "[service]\nports = 9999\n%s"
		    "[slow]\ndirection = c2s\naction = server-connects\n"
		    "decode = implied\n"
		    "pattern = \"^(?<port>(?:[0-9]|[0-9]){1,12})x\"\n"
		    "rewrite = x\n",
		    lim ? "match_limit = 100\ndepth_limit = 100\n" : "");
		rs = ruleset_new();
		CHECK(ruleset_load_text(rs, "low.ini", low, strlen(low),
			  &cause) == 0);
		s = scan_new(ruleset_app(rs, 0), RULE_C2S, 0);
		evbuffer_drain(out, evbuffer_get_length(out));
		evbuffer_add(in, "123456789012y", 13);
		r = scan_feed(s, in, out, &an, &why);
		CHECK(r == (lim ? SCAN_ERROR : SCAN_MORE));
		if (lim) {
			CHECK_STR_CONTAINS(why,
			    "low.ini: [slow] pattern: match "
			    "limit exceeded");
			evbuffer_add(in, "more", 4);
			CHECK(scan_feed(s, in, out, &an, &why) == SCAN_ERROR);
			CHECK(evbuffer_get_length(out) == 0);
		} else
			CHECK(evbuffer_get_length(out) == 13);
		scan_free(s);
		ruleset_free(rs);
	}
	evbuffer_free(in);
	evbuffer_free(out);
}

/*
 * A scanner holds its rules: a rule set dropped (as a reload does) while
 * a scanner uses it stays until that scanner goes, and the scanner still
 * finds announcements meanwhile (ASan checks there is no use after free,
 * and no leak).
 */
static void
test_held(void)
{
	const char *ftp = "[service]\nports = 21\n"
			  "[pasv]\ndirection = s2c\naction = client-connects\n"
			  "decode = implied\n"
			  "pattern = \"^227 (?<port>[0-9]+)\\r\\n\"\n"
			  "rewrite = \"227 ${new.port}\\r\\n\"\n";
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct ruleset *rs;
	struct scan *s[2];
	struct announce an;
	char *cause = NULL;
	const char *why = NULL;
	int k;

	rs = ruleset_new();
	CHECK(ruleset_load_text(rs, "held.ini", ftp, strlen(ftp), &cause) == 0);
	for (k = 0; k < 2; k++)
		s[k] = scan_new(ruleset_app(rs, 0), RULE_S2C, 0);
	ruleset_free(rs); /* replaced: the scanners still hold it */
	for (k = 0; k < 2; k++) {
		evbuffer_add(in, "227 2121\r\n", 10);
		CHECK(scan_feed(s[k], in, out, &an, &why) == SCAN_FOUND);
		CHECK(an.an_port == 2121);
		scan_free(s[k]); /* the last one frees the rules */
		evbuffer_drain(in, evbuffer_get_length(in));
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	evbuffer_free(in);
	evbuffer_free(out);
}

int
main(int argc, char **argv)
{
	struct stat st;

	if (argc > 1)
		rules_dir = argv[1];
	if (stat(rules_dir, &st) != 0) {
		fprintf(stderr, "%s: not found (run from the repository)\n",
		    rules_dir);
		return 1;
	}
	test_shipped();
	test_broken();
	test_vectors_fail();
	test_dir();
	test_malicious();
	test_held();
	return unit_done("test_rules");
}
