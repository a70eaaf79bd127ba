/*
 * SCRAM-SHA-256 over scrypt: whole exchanges, wrong passwords, replays,
 * a server without the secret, stored forms checked against values
 * computed independently (Python's hashlib), and malformed messages.
 */
#include <stdlib.h>
#include <string.h>

#include "kdf.h"
#include "scram.h"
#include "unit.h"

/* Computed with hashlib.scrypt and hmac for "correct horse", salt 0..15. */
#define OLD_FORM                                     \
	"scrypt$16384$8$1$AAECAwQFBgcICQoLDA0ODw==$" \
	"JbN2hANm9NOw4h5BRHZnbjzQ6Jr0"               \
	"QwNWojTOC2WgIbU="
#define NEW_FORM                                    \
	"scram$16384$8$1$AAECAwQFBgcICQoLDA0ODw==$" \
	"9yXSe6dJkqMRiAJC7GgER5R83qmF"              \
	"s0XprXsWhKQf2Fw=$26NIqBP8w09jj0NcjHQzyd0bR/GE5nfHv0X6Jk9MaxE="
#define PW "correct horse"

static struct scram_secret secret;

/* One exchange; 0 if both sides agree, with the two keys. */
static int
run(const char *user, const char *pw, unsigned char ckey[SCRAM_KEY_LEN],
    unsigned char skey[SCRAM_KEY_LEN], char *cfinal_out)
{
	struct scram_client c;
	struct scram_server s;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX];
	char m4[SCRAM_MSG_MAX], u[SCRAM_USER_MAX + 1];
	const char *why;
	int rc;

	CHECK(scram_client_start(&c, user, pw, strlen(pw), m1, sizeof m1) == 0);
	CHECK(strncmp(m1, "n,,n=", 5) == 0);
	CHECK(scram_server_user(m1, u, sizeof u) == 0);
	CHECK_STR_EQ(u, user);
	CHECK(scram_server_first(&s, m1, &secret, m2, sizeof m2) == 0);
	CHECK(scram_client_final(&c, m2, m3, sizeof m3, &why) == 0);
	if (cfinal_out != NULL)
		strcpy(cfinal_out, m3);
	rc = scram_server_final(&s, m3, m4, sizeof m4, skey);
	if (rc != 0) {
		CHECK_STR_EQ(m4, "e=invalid-proof");
		CHECK(scram_client_verify(&c, m4, ckey, &why) == -1);
		CHECK_STR_CONTAINS(why, "refused the proof");
		return -1;
	}
	CHECK(strncmp(m4, "v=", 2) == 0);
	rc = scram_client_verify(&c, m4, ckey, &why);
	scram_client_clear(&c);
	scram_server_clear(&s);
	return rc;
}

/* The stored forms: independent values, conversion, checks. */
static void
test_forms(void)
{
	struct scram_secret a, b;
	char *f;
	int old;

	CHECK(scram_secret_parse(OLD_FORM, &a, &old) == 0 && old == 1);
	CHECK(scram_secret_parse(NEW_FORM, &b, &old) == 0 && old == 0);
	CHECK(memcmp(a.ss_stored, b.ss_stored, SCRAM_KEY_LEN) == 0);
	CHECK(memcmp(a.ss_server, b.ss_server, SCRAM_KEY_LEN) == 0);
	f = kdf_convert(OLD_FORM);
	CHECK_STR_EQ(f, NEW_FORM);
	free(f);
	CHECK(kdf_valid(OLD_FORM) == 2);
	CHECK(kdf_valid(NEW_FORM) == 1);
	CHECK(kdf_verify(PW, NEW_FORM) == 1);
	CHECK(kdf_verify(PW, OLD_FORM) == 1);
	CHECK(kdf_verify("correct horsE", NEW_FORM) == 0);
	CHECK(kdf_verify("", NEW_FORM) == 0);
	f = kdf_hash("x\001y");
	CHECK(f != NULL && strncmp(f, "scram$16384$8$1$", 16) == 0);
	CHECK(kdf_valid(f) == 1);
	CHECK(kdf_verify_bytes("x\001y", 3, f) == 1);
	CHECK(kdf_verify_bytes("x\001y", 2, f) == 0);
	free(f);

	/* Not forms. */
	CHECK(kdf_valid("") == 0);
	CHECK(kdf_valid("scram$16384$8$1$AAECAwQFBgcICQoLDA0ODw==$9yXSe6dJkqMR"
			"iAJC7GgER5R83qmFs0XprXsWhKQf2Fw=") == 0);
	CHECK(kdf_valid(NEW_FORM "x") == 0);
	CHECK(kdf_valid(NEW_FORM "$") == 0);
	CHECK(kdf_valid("scram$16385$8$1$AAECAwQFBgcICQoLDA0ODw==$9yXSe6dJkqMR"
			"iAJC7GgER5R83qmFs0XprXsWhKQf2Fw=$26NIqBP8w09jj0NcjHQzy"
			"d0bR/GE5nfHv0X6Jk9MaxE=") == 0);
	CHECK(kdf_valid("scram$2097152$8$1$AAECAwQFBgcICQoLDA0ODw==$9yXSe6dJkq"
			"MRiAJC7GgER5R83qmFs0XprXsWhKQf2Fw=$26NIqBP8w09jj0NcjHQ"
			"zyd0bR/GE5nfHv0X6Jk9MaxE=") == 0);
	CHECK(kdf_valid("scram$16384$8$1$AAEC$9yXSe6dJkqMRiAJC7GgER5R83qmFs0Xp"
			"rXsWhKQf2Fw=$26NIqBP8w09jj0NcjHQzyd0bR/GE5nfHv0X6Jk9Ma"
			"xE=") == 0);
	CHECK(
	    kdf_valid("scram$16384$8$1$AAECAwQFBgcICQoLDA0ODw==$9yXSe6dJkqMR"
		      "iAJC7GgER5R83qmFs0XprXsWhKQf2Fw=$26NIqBP8w09jj0NcjHQzyd"
		      "0bR/GE5nfHv0X6Jk9Ma=xE") == 0);
	CHECK(
	    kdf_valid("scram$16384$8$1$AAECAwQFBgcICQoLDA0ODw==$9yXSe6dJkqMR"
		      "iAJC7GgER5R83qmFs0XprXsWhKQf2Fw=$26NIqBP8w09jj0NcjHQzyd"
		      "0bR/GE5nfHv0X6Jk9MaxE=AAAA") == 0);
}

/* Whole exchanges: the right password, a wrong one, unknown users. */
static void
test_exchange(void)
{
	unsigned char k1[SCRAM_KEY_LEN], k2[SCRAM_KEY_LEN];
	unsigned char k3[SCRAM_KEY_LEN], k4[SCRAM_KEY_LEN];
	struct scram_secret d1, d2, d3;
	unsigned char dkey[16] = "0123456789abcde";

	memset(k1, 1, sizeof k1);
	memset(k2, 2, sizeof k2);
	CHECK(run("alice", PW, k1, k2, NULL) == 0);
	CHECK(memcmp(k1, k2, SCRAM_KEY_LEN) == 0);
	CHECK(run("alice", PW, k3, k4, NULL) == 0);
	CHECK(memcmp(k3, k4, SCRAM_KEY_LEN) == 0);
	/* Each exchange gives its own key. */
	CHECK(memcmp(k1, k3, SCRAM_KEY_LEN) != 0);
	CHECK(run("alice", "correct horsE", k1, k2, NULL) == -1);
	CHECK(run("alice", "", k1, k2, NULL) == -1);

	/* A name nobody stores: a stable salt for the name, every proof
	 * fails. */
	scram_secret_dummy("mallory", dkey, sizeof dkey, &d1);
	scram_secret_dummy("mallory", dkey, sizeof dkey, &d2);
	scram_secret_dummy("trent", dkey, sizeof dkey, &d3);
	CHECK(memcmp(d1.ss_salt, d2.ss_salt, d1.ss_saltlen) == 0);
	CHECK(memcmp(d1.ss_salt, d3.ss_salt, d1.ss_saltlen) != 0);
	CHECK(d1.ss_n == secret.ss_n && d1.ss_saltlen == secret.ss_saltlen);
	secret = d1;
	CHECK(run("mallory", PW, k1, k2, NULL) == -1);
	CHECK(scram_secret_parse(NEW_FORM, &secret, &(int){ 0 }) == 0);
}

/* A relay that keeps a client-final cannot use it again. */
static void
test_replay(void)
{
	struct scram_client c;
	struct scram_server s, s2;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX];
	char m4[SCRAM_MSG_MAX], n2[SCRAM_MSG_MAX];
	unsigned char key[SCRAM_KEY_LEN], k2[SCRAM_KEY_LEN];
	const char *why;

	CHECK(scram_client_start(&c, "alice", PW, strlen(PW), m1, sizeof m1) ==
	    0);
	CHECK(scram_server_first(&s, m1, &secret, m2, sizeof m2) == 0);
	CHECK(scram_client_final(&c, m2, m3, sizeof m3, &why) == 0);
	CHECK(scram_server_final(&s, m3, m4, sizeof m4, key) == 0);
	/* The same exchange answered twice. */
	CHECK(scram_server_final(&s, m3, m4, sizeof m4, key) == -1);
	CHECK_STR_EQ(m4, "e=invalid-proof");
	/* The same client messages on a second exchange: a new server
	 * nonce. */
	CHECK(scram_server_first(&s2, m1, &secret, n2, sizeof n2) == 0);
	CHECK(strcmp(n2, m2) != 0);
	CHECK(scram_server_final(&s2, m3, m4, sizeof m4, k2) == -1);

	/* A server without the secret: its signature is refused. */
	CHECK(scram_client_start(&c, "alice", PW, strlen(PW), m1, sizeof m1) ==
	    0);
	CHECK(scram_server_first(&s, m1, &secret, m2, sizeof m2) == 0);
	CHECK(scram_client_final(&c, m2, m3, sizeof m3, &why) == 0);
	CHECK(scram_client_verify(&c,
		  "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", key,
		  &why) == -1);
	CHECK_STR_CONTAINS(why, "does not hold the user's secret");
	CHECK(scram_client_verify(&c, "v=", key, &why) == -1);
	CHECK(scram_client_verify(&c, "x", key, &why) == -1);
}

/* Malformed messages on both sides. */
static void
test_malformed(void)
{
	static const char *firsts[] = { "", "n,,", "n,,n=", "n,,n=alice",
		"n,,n=alice,r=", "n,,n=alice,r=short",
		"y,,n=alice,r=abcdefghijklmnopq",
		"p=tls-exporter,,n=alice,r=abcdefghijklmnopq",
		"n,,n=al,ice,r=abcdefghijklmnopq",
		"n,,n=al=2Cice,r=abcdefghijklmnopq",
		"n,,r=abcdefghijklmnopq,n=alice",
		"n,,n=alice,r=abcdefghijklmnopq,x=1",
		"n,,n=alice,r=abcdefghij klmnopq",
		"n,,n="
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaa,r=abcdefghijklmnopq" };
	static const char *sfirsts[] = { "", "e=other-error",
		"r=X,s=AAAAAAAAAAA=,i=16384,k=8:1",
		"r=%s,s=AAAAAAAAAAA=,i=16384", "r=%s,s=AAA,i=16384,k=8:1",
		"r=%s,s=AAAAAAAAAAA=,i=16384,k=8",
		"r=%s,s=AAAAAAAAAAA=,i=16385,k=8:1",
		"r=%s,s=AAAAAAAAAAA=,i=2097152,k=8:1",
		"r=%s,s=AAAAAAAAAAA=,i=16384,k=33:1",
		"r=%s,s=AAAAAAAAAAA=,i=-16384,k=8:1",
		"r=%s,s=AAAAAAAAAAA=,i=16384x,k=8:1",
		"r=%s,s=AAAAAAAAAAA=,i=,k=8:1", "r=%s,s=AAAA,i=16384,k=8:1",
		"r=%s,s=AAAAAAAAAAA=,i=16384,k=8:17" };
	struct scram_client c;
	struct scram_server s;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX];
	char u[SCRAM_USER_MAX + 1], buf[SCRAM_MSG_MAX];
	unsigned char key[SCRAM_KEY_LEN];
	const char *why, *nonce;
	size_t i;

	for (i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
		CHECK(scram_server_user(firsts[i], u, sizeof u) == -1);
		CHECK(scram_server_first(&s, firsts[i], &secret, m2,
			  sizeof m2) == -1);
	}
	CHECK(scram_client_start(&c, "al,ice", PW, 2, m1, sizeof m1) == -1);
	CHECK(scram_client_start(&c, "al=ice", PW, 2, m1, sizeof m1) == -1);
	CHECK(scram_client_start(&c, "", PW, 2, m1, sizeof m1) == -1);
	CHECK(scram_client_start(&c, "alice", PW, 2, m1, 8) == -1);

	for (i = 0; i < sizeof sfirsts / sizeof sfirsts[0]; i++) {
		CHECK(scram_client_start(&c, "alice", PW, strlen(PW), m1,
			  sizeof m1) == 0);
		nonce = strstr(m1, ",r=") + 3;
		snprintf(m2, sizeof m2, "%sZZ", nonce);
		snprintf(buf, sizeof buf, sfirsts[i], m2);
		CHECK(scram_client_final(&c, buf, m3, sizeof m3, &why) == -1);
	}
	CHECK(scram_client_start(&c, "alice", PW, strlen(PW), m1, sizeof m1) ==
	    0);
	CHECK(scram_client_final(&c, "e=unknown-user", m3, sizeof m3, &why) ==
	    -1);
	CHECK_STR_CONTAINS(why, "refused the login");
	/* A nonce that does not extend the client's. */
	CHECK(scram_client_final(&c,
		  "r=AAAAAAAAAAAAAAAAAAAAAAAAAAAA,s=AAAAAAAAAAA=,i=16384,k=8:1",
		  m3, sizeof m3, &why) == -1);
	CHECK_STR_CONTAINS(why, "does not extend ours");
	/*
	 * Costs a hostile server could ask for: 1 GiB of memory, 16 passes,
	 * or one eighth of the least a relay should find costly to guess.
	 */
	{
		static const char *costs[] = { "i=1048576,k=8:2",
			"i=16384,k=8:16", "i=16384,k=1:1", "i=1024,k=8:1" };
		size_t k;

		for (k = 0; k < sizeof costs / sizeof costs[0]; k++) {
			CHECK(scram_client_start(&c, "alice", PW, strlen(PW),
				  m1, sizeof m1) == 0);
			nonce = strstr(m1, ",r=") + 3;
			snprintf(buf, sizeof buf, "r=%sZZ,s=AAAAAAAAAAA=,%s",
			    nonce, costs[k]);
			CHECK(scram_client_final(&c, buf, m3, sizeof m3,
				  &why) == -1);
			CHECK_STR_CONTAINS(why, "a client does not run");
		}
	}

	/* Client-final messages the server refuses. */
	CHECK(scram_client_start(&c, "alice", PW, strlen(PW), m1, sizeof m1) ==
	    0);
	CHECK(scram_server_first(&s, m1, &secret, m2, sizeof m2) == 0);
	static const char *finals[] = { "", "c=biws", "c=biws,r=x,p=AAAA",
		"c=eSws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"c=biws,r=%s,p=AAAA",
		"c=biws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"c=biws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,x="
		"y",
		"r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" };
	nonce = strchr(m2, '=') + 1;
	snprintf(u, sizeof u, "%.*s", (int)(strchr(nonce, ',') - nonce), nonce);
	for (i = 0; i < sizeof finals / sizeof finals[0]; i++) {
		snprintf(buf, sizeof buf, finals[i], u);
		CHECK(scram_server_final(&s, buf, m3, sizeof m3, key) == -1);
		CHECK_STR_EQ(m3, "e=invalid-proof");
	}
}

int
main(void)
{
	int old;

	CHECK(scram_secret_parse(NEW_FORM, &secret, &old) == 0);
	test_forms();
	test_exchange();
	test_replay();
	test_malformed();
	printf("test_scram: %d passed, %d failed\n", unit_pass, unit_fail);
	return unit_fail != 0;
}
