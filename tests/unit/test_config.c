/* Config parsing: every error names the file, the key and the problem. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "addr.h"
#include "allow.h"
#include "conf.h"
#include "kdf.h"
#include "policy.h"
#include "session.h"
#include "tls.h"
#include "unit.h"

static char dir[] = "/tmp/dynpass-unit.XXXXXX";

/* Write a file in the scratch folder; returns its path (static). */
static const char *
put(const char *name, const char *text, mode_t mode)
{
	static char path[4][256];
	static int k;
	char *p = path[k++ % 4];
	FILE *f;

	snprintf(p, 256, "%s/%s", dir, name);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

/* Load text as a config, returning the error (or NULL). */
static char *
load_err(const char *text, const char *const *known)
{
	char *cause = NULL;
	struct conf *c = conf_load(put("t.conf", text, 0600), &cause);

	if (c == NULL)
		return cause;
	if (known != NULL)
		conf_check_keys(c, known, &cause);
	conf_free(c);
	return cause;
}

/* Files and keys. */
static void
test_conf(void)
{
	static const char *const known[] = { "esp:session_listen",
		"session:keepalive", NULL };
	char *cause = NULL;
	struct conf *c;
	int ms;
	uint64_t sz;

	CHECK(conf_load("/nonexistent/x.conf", &cause) == NULL);
	CHECK_STR_CONTAINS(cause, "/nonexistent/x.conf: cannot open");
	free(cause);

	cause =
	    load_err("[esp]\nsession_listen = 1.2.3.4:5\nbogus = 1\n", known);
	CHECK_STR_CONTAINS(cause, "t.conf: [esp] bogus: unknown key");
	free(cause);
	cause = load_err("[espp]\nx = 1\n", known);
	CHECK_STR_CONTAINS(cause, "[espp]: unknown section");
	free(cause);
	cause = load_err("[esp\nsession_listen = 1\n", known);
	CHECK_STR_CONTAINS(cause, "t.conf: cannot parse");
	free(cause);
	CHECK(load_err("[esp]\nsession_listen = 1.2.3.4:5 ; comment\n",
		  known) == NULL);

	c = conf_load(put("d.conf",
			  "[session]\nkeepalive = 10x\nwindow = 3Q\n"
			  "queue = 1K\n",
			  0600),
	    &cause);
	CHECK(c != NULL);
	CHECK(conf_duration(c, "session:keepalive", 1, &ms, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "d.conf: [session] keepalive: \"10x\" is not a duration");
	free(cause);
	CHECK(conf_size(c, "session:window", 1, 0, 100, &sz, &cause) == -1);
	CHECK_STR_CONTAINS(cause, "[session] window: \"3Q\" is not a size");
	free(cause);
	CHECK(conf_size(c, "session:queue", 1, 4096, 8192, &sz, &cause) == -1);
	CHECK_STR_CONTAINS(cause, "[session] queue: 1K is out of range");
	free(cause);
	conf_free(c);

	CHECK(conf_parse_duration("500ms", &ms) == 0 && ms == 500);
	CHECK(conf_parse_duration("2m", &ms) == 0 && ms == 120000);
	CHECK(conf_parse_duration("1.5", &ms) == 0 && ms == 1500);
	CHECK(conf_parse_duration("-1", &ms) == -1);
	CHECK(conf_parse_duration("0x10", &ms) == -1); /* decimal only */
	CHECK(conf_parse_duration("1e3", &ms) == -1);
	CHECK(conf_parse_duration("inf", &ms) == -1);
	CHECK(conf_parse_duration("25h", &ms) == -2); /* a duration, too long */
	CHECK(conf_parse_duration("24h", &ms) == 0 && ms == 86400000);
	c = conf_load(put("r.conf",
			  "[session]\nkeepalive = 0s\ndead_after = 25h\n",
			  0600),
	    &cause);
	CHECK(conf_duration(c, "session:keepalive", 1, &ms, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "[session] keepalive: 0s is out of range (1ms to 24h)");
	free(cause);
	CHECK(conf_duration(c, "session:dead_after", 1, &ms, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "[session] dead_after: 25h is out of range (1ms to 24h)");
	free(cause);
	conf_free(c);
	CHECK(conf_parse_size("256K", &sz) == 0 && sz == 262144);
	CHECK(conf_parse_size("16MB", &sz) == 0 && sz == 16 << 20);
	CHECK(conf_parse_size("K", &sz) == -1);

	/* [session] dead_after must exceed keepalive. */
	{
		struct session_params p;

		c = conf_load(put("s.conf",
				  "[session]\nkeepalive = 5s\n"
				  "dead_after = 5s\n",
				  0600),
		    &cause);
		CHECK(session_conf_load(c, &p, &cause) == -1);
		CHECK_STR_CONTAINS(cause,
		    "[session] dead_after: 5.000 s, must be longer than "
		    "[session] keepalive (5.000 s)");
		free(cause);
		conf_free(c);
		/* The default it was not given is named as such. */
		c = conf_load(put("s.conf", "[session]\nkeepalive = 40s\n",
				  0600),
		    &cause);
		CHECK(session_conf_load(c, &p, &cause) == -1);
		CHECK_STR_CONTAINS(cause,
		    "[session] dead_after: 30.000 s (the default), must be "
		    "longer than [session] keepalive (40.000 s)");
		free(cause);
		conf_free(c);
	}
}

/* Allow lists: syntax and matching. */
static void
test_allow(void)
{
	struct allow al;
	char *cause = NULL;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	CHECK(allow_parse(&al, "10.0.0.0/33", &cause) == -1);
	CHECK_STR_CONTAINS(cause, "\"10.0.0.0/33\" is not ADDRESS/PREFIX");
	free(cause);
	CHECK(allow_parse(&al, "10.1.0.0/16:0", &cause) == -1);
	free(cause);
	CHECK(allow_parse(&al, "10.1.0.0/16:80-21", &cause) == -1);
	free(cause);
	CHECK(allow_parse(&al, "host.example:80 .corp.example *.lab.test:22",
		  &cause) == 0);
	CHECK(al.al_n == 3 && allow_has_names(&al));
	CHECK(allow_match_name(&al, "HOST.example", 80));
	CHECK(!allow_match_name(&al, "host.example", 81));
	CHECK(!allow_match_name(&al, "xhost.example", 80));
	CHECK(allow_match_name(&al, "a.b.corp.example", 9));
	CHECK(allow_match_name(&al, "corp.example.", 9));
	CHECK(!allow_match_name(&al, "xcorp.example", 9));
	CHECK(allow_match_name(&al, "srv.lab.test", 22));
	CHECK(!allow_match_name(&al, "srv.lab.test", 23));
	allow_free(&al);
	CHECK(allow_parse(&al, "host_ex!ample:80", &cause) == -1);
	free(cause);
	{
		struct allow a2;
		char ov[128];

		CHECK(allow_parse(&al, "10.1.0.0/16 192.0.2.0/24:21", &cause) ==
		    0);
		CHECK(allow_parse(&a2, "10.2.0.0/16 10.1.7.0/24:80", &cause) ==
		    0);
		CHECK(allow_overlap(&al, &a2, ov, sizeof ov));
		CHECK_STR_CONTAINS(ov, "10.1.0.0/16 and 10.1.7.0/24");
		allow_free(&a2);
		CHECK(
		    allow_parse(&a2, "10.2.0.0/16 192.0.3.0/24", &cause) == 0);
		CHECK(!allow_overlap(&al, &a2, ov, sizeof ov));
		allow_free(&a2);
		allow_free(&al);
	}

	CHECK(allow_parse(&al,
		  "10.1.0.0/16:21,80 192.0.2.7/32:1-65535 "
		  "[2001:db8::]/32:22 127.0.0.1:8080",
		  &cause) == 0);
	CHECK(al.al_n == 4);
	inet_pton(AF_INET, "10.1.200.3", &sin.sin_addr);
	sin.sin_port = htons(21);
	CHECK(allow_match(&al, (struct sockaddr *)&sin));
	sin.sin_port = htons(22);
	CHECK(!allow_match(&al, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "10.2.0.1", &sin.sin_addr);
	sin.sin_port = htons(80);
	CHECK(!allow_match(&al, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	sin.sin_port = htons(65535);
	CHECK(allow_match(&al, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	sin.sin_port = htons(8080);
	CHECK(allow_match(&al, (struct sockaddr *)&sin));
	sin.sin_port = htons(8081);
	CHECK(!allow_match(&al, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "2001:db8:1::5", &sin6.sin6_addr);
	sin6.sin6_port = htons(22);
	CHECK(allow_match(&al, (struct sockaddr *)&sin6));
	sin6.sin6_port = htons(23);
	CHECK(!allow_match(&al, (struct sockaddr *)&sin6));
	/* IPv4-mapped IPv6 is judged as IPv4. */
	inet_pton(AF_INET6, "::ffff:10.1.0.9", &sin6.sin6_addr);
	sin6.sin6_port = htons(80);
	CHECK(allow_match(&al, (struct sockaddr *)&sin6));
	allow_free(&al);

	CHECK(allow_parse(&al, NULL, &cause) == 0 && al.al_n == 0);
	CHECK(!allow_match(&al, (struct sockaddr *)&sin)); /* default: none */
	CHECK(allow_parse(&al, "none", &cause) == 0 && al.al_n == 0);
}

/* PSK files: missing, readable by others or group, malformed, good. */
static void
test_tls(void)
{
	struct tls_conf tc;
	struct conf *c;
	char *cause = NULL, text[512];
	const char *key = "00112233445566778899aabbccddeeff"
			  "00112233445566778899aabbccddeeff\n";

	c = conf_load(put("m.conf", "[tls]\npsk_file = nokey\n", 0600), &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == -1);
	CHECK_STR_CONTAINS(cause, "m.conf: [tls] psk_file:");
	CHECK_STR_CONTAINS(cause, "nokey: No such file or directory");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);

	put("open.psk", key, 0644);
	c = conf_load(put("w.conf", "[tls]\npsk_file = open.psk\n", 0600),
	    &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "open.psk is accessible to group or others "
	    "(mode 644); run chmod 600 ");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);

	put("group.psk", key, 0640);
	c = conf_load(put("gr.conf", "[tls]\npsk_file = group.psk\n", 0600),
	    &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "group.psk is accessible to group or others "
	    "(mode 640); run chmod 600 ");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);

	put("short.psk", "abcd\n", 0600);
	c = conf_load(put("s.conf", "[tls]\npsk_file = short.psk\n", 0600),
	    &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == -1);
	CHECK_STR_CONTAINS(cause, "must hold 32 to 128 hex digits");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);

	put("good.psk", key, 0600);
	snprintf(text, sizeof text, "[tls]\npsk_file = %s/good.psk\n", dir);
	c = conf_load(put("g.conf", text, 0600), &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == 0);
	CHECK(tc.tc_npsks == 1 && tc.tc_psks[0].tp_len == 32 &&
	    tc.tc_psks[0].tp_key[1] == 0x11);
	/* The isp's identity: [isp] id unless psk_identity says otherwise. */
	CHECK(tls_conf_set_identity(c, &tc, "site-a", &cause) == 0);
	CHECK_STR_EQ(tc.tc_psks[0].tp_id, "site-a");
	tls_conf_clear(&tc);
	conf_free(c);

	snprintf(text, sizeof text,
	    "[tls]\npsk_file = %s/good.psk\npsk_identity = site-b\n", dir);
	c = conf_load(put("id.conf", text, 0600), &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == 0);
	CHECK(tls_conf_set_identity(c, &tc, "site-a", &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "[isp] id: \"site-a\", but [tls] "
	    "psk_identity is \"site-b\"");
	CHECK_STR_CONTAINS(cause, "set psk_identity = site-a");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);

	/* An esp: one key per isp identity, never one key for two. */
	put("b.psk",
	    "ffeeddccbbaa99887766554433221100"
	    "ffeeddccbbaa99887766554433221100\n",
	    0600);
	c = conf_load(put("e.conf",
			  "[isp site-a]\npsk_file = good.psk\n"
			  "[isp site-b]\npsk_file = b.psk\n",
			  0600),
	    &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ESP, &cause) == 0);
	CHECK(tc.tc_npsks == 2);
	CHECK_STR_EQ(tc.tc_psks[0].tp_id, "site-a");
	CHECK_STR_EQ(tc.tc_psks[1].tp_id, "site-b");
	tls_conf_clear(&tc);
	conf_free(c);
	c = conf_load(put("e2.conf",
			  "[isp site-a]\npsk_file = good.psk\n"
			  "[isp site-b]\npsk_file = good.psk\n",
			  0600),
	    &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ESP, &cause) == -1);
	CHECK_STR_CONTAINS(cause, "[isp site-b] psk_file: ");
	CHECK_STR_CONTAINS(cause, "holds the same key as isp \"site-a\"");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);

	c = conf_load(put("pn.conf",
			  "[tls]\npsk_file = good.psk\npeer_name = esp\n",
			  0600),
	    &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == -1);
	CHECK_STR_CONTAINS(cause, "[tls] peer_name: only with certificates");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);

	c = conf_load(put("n.conf", "[tls]\n", 0600), &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == -1);
	CHECK_STR_CONTAINS(cause, "[tls] psk_file: missing");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);

	c = conf_load(put("b.conf",
			  "[tls]\npsk_file = good.psk\ncert = x.pem\n", 0600),
	    &cause);
	CHECK(tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) == -1);
	CHECK_STR_CONTAINS(cause, "either pre-shared keys or cert/key");
	free(cause);
	tls_conf_clear(&tc);
	conf_free(c);
}

/* host:port splitting; a refusal leaves no pointer to freed memory. */
static void
test_hostport(void)
{
	char *h = (char *)"x", *p = (char *)"y";

	CHECK(addr_split_hostport("esp.example.net:", &h, &p) == -1);
	CHECK(h == NULL && p == NULL);
	CHECK(addr_split_hostport("[]:80", &h, &p) == -1);
	CHECK(h == NULL && p == NULL);
	CHECK(addr_split_hostport("[::1]:4430", &h, &p) == 0);
	CHECK_STR_EQ(h, "::1");
	CHECK_STR_EQ(p, "4430");
	free(h);
	free(p);
}

/*
 * The policy the esp gets is tab-separated: tabs in a list are blanks,
 * so what the isp accepts the esp accepts too; a second anonymous line
 * is refused.
 */
static void
test_policy_text(void)
{
	struct policy p, q;
	struct conf *c;
	char *cause = NULL, *text;
	size_t len;

	c = conf_load(put("tab.conf",
			  "[isp]\nallow = 10.0.0.0/8\t192.0.2.0/24:80\n"
			  "[policy]\nrules = ftp\tirc\n",
			  0600),
	    &cause);
	CHECK(policy_load(&p, c, &cause) == 0);
	text = policy_text(&p, &len);
	CHECK(policy_parse(&q, text, len, &cause) == 0);
	CHECK(q.p_anon_allow.al_n == 2);
	policy_free(&q);
	free(text);
	policy_free(&p);
	conf_free(c);
	text = "policy\nanonymous\t1\t1\t*\tnone\nanonymous\t1\t1\t*\tnone\n";
	CHECK(policy_parse(&q, text, strlen(text), &cause) == -1);
	CHECK_STR_CONTAINS(cause, "malformed policy");
	free(cause);
}

/*
 * What the esp is sent of the policy holds no password secret: neither
 * the stored form nor any of its fields, and the esp's parsed copy has
 * no hash for the user.
 */
static void
test_policy_no_secrets(void)
{
	struct policy p, q;
	struct conf *c;
	char *cause = NULL, *text, conf[600], *hash = kdf_hash("pw"), *f, *save;
	char *fields;
	size_t len;

	CHECK(hash != NULL && strncmp(hash, "scram$", 6) == 0);
	snprintf(conf, sizeof conf,
	    "[user alice]\npassword = %s\nallow = 10.0.0.0/8:21\n", hash);
	c = conf_load(put("ns.conf", conf, 0600), &cause);
	CHECK(policy_load(&p, c, &cause) == 0);
	text = policy_text(&p, &len);
	CHECK(strstr(text, "alice") != NULL);
	CHECK(
	    strstr(text, "scram$") == NULL && strstr(text, "scrypt$") == NULL);
	fields = strdup(hash + 6);
	for (f = strtok_r(fields, "$", &save); f != NULL;
	     f = strtok_r(NULL, "$", &save))
		if (strlen(f) >= 16) /* salt, StoredKey, ServerKey */
			CHECK(strstr(text, f) == NULL);
	free(fields);
	CHECK(policy_parse(&q, text, len, &cause) == 0);
	CHECK(q.p_nusers == 1 && q.p_users[0].pu_hash == NULL);
	policy_free(&q);
	free(text);
	policy_free(&p);
	conf_free(c);
	free(hash);
}

/*
 * Many users: the text round trip keeps each, policy_find finds each by
 * name and nothing else, and a name listed twice is refused by name.
 */
static void
test_policy_many(void)
{
	struct policy q, none;
	struct evbuffer *b = evbuffer_new();
	char *cause = NULL, *text, name[32];
	size_t len, i;

	/* In an order that is not sorted. */
	evbuffer_add_printf(b, "policy\nanonymous\t0\t1\t*\tnone\n");
	for (i = 0; i < POLICY_MAX_USERS; i++)
		evbuffer_add_printf(b, "user\tu%zu\t1\t*\t10.%zu.0.0/16\n",
		    (i * 7919) % POLICY_MAX_USERS, i % 256);
	len = evbuffer_get_length(b);
	text = (char *)evbuffer_pullup(b, -1);
	CHECK(policy_parse(&q, text, len, &cause) == 0);
	CHECK(q.p_nusers == POLICY_MAX_USERS);
	for (i = 0; i < POLICY_MAX_USERS; i++) {
		snprintf(name, sizeof name, "u%zu", i);
		CHECK(policy_find(&q, name) != NULL &&
		    strcmp(policy_find(&q, name)->pu_name, name) == 0);
	}
	CHECK(policy_find(&q, "u10000") == NULL);
	CHECK(policy_find(&q, "u") == NULL);
	CHECK(policy_find(&q, "") == NULL);
	CHECK(policy_allow(&q, "u77") == &policy_find(&q, "u77")->pu_allow);
	text = policy_text(&q, &len);
	policy_free(&q);
	CHECK(policy_parse(&q, text, len, &cause) == 0);
	CHECK(
	    q.p_nusers == POLICY_MAX_USERS && policy_find(&q, "u9999") != NULL);
	policy_free(&q);
	free(text);
	/* One more is refused, and so is a name twice. */
	evbuffer_add_printf(b, "user\tu10000\t1\t*\tnone\n");
	len = evbuffer_get_length(b);
	CHECK(policy_parse(&q, (char *)evbuffer_pullup(b, -1), len, &cause) ==
	    -1);
	CHECK_STR_CONTAINS(cause, "more than 10000 users");
	free(cause);
	evbuffer_free(b);
	text = "policy\nanonymous\t0\t1\t*\tnone\nuser\tbob\t1\t*\tnone\n"
	       "user\talice\t1\t*\tnone\nuser\tbob\t0\t*\tnone\n";
	CHECK(policy_parse(&q, text, strlen(text), &cause) == -1);
	CHECK_STR_CONTAINS(cause, "malformed policy: user bob listed twice");
	free(cause);
	text = "policy\nanonymous\t1\t1\t*\tnone\n";
	CHECK(policy_parse(&none, text, strlen(text), &cause) == 0);
	CHECK(policy_find(&none, "bob") == NULL);
	CHECK(policy_allow(&none, "") == &none.p_anon_allow);
	policy_free(&none);
}

/* A user naming a missing group: the message names it (and reads no freed memory). */
static void
test_policy_groups(void)
{
	struct policy p;
	struct conf *c;
	char *cause = NULL, text[512], *hash = kdf_hash("pw");

	snprintf(text, sizeof text,
	    "[user alice]\npassword = %s\ngroups = staff nosuchgroup\n"
	    "[group staff]\nallow = 10.0.0.0/8\n",
	    hash);
	c = conf_load(put("pg.conf", text, 0600), &cause);
	CHECK(policy_load(&p, c, &cause) == -1);
	CHECK_STR_CONTAINS(cause,
	    "pg.conf: [user alice] groups: no [group nosuchgroup] section");
	free(cause);
	policy_free(&p);
	conf_free(c);
	free(hash);
}

int
main(void)
{
	char cmd[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	test_conf();
	test_allow();
	test_tls();
	test_policy_groups();
	test_hostport();
	test_policy_text();
	test_policy_many();
	test_policy_no_secrets();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return unit_done("config");
}
