/*
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) with scrypt as its Hi() function.
 *
 *   SaltedPassword = scrypt(password, salt, N, r, p, 32)
 *   ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey)
 *   ServerKey = HMAC(SaltedPassword, "Server Key")
 *
 * The isp stores StoredKey and ServerKey only, as
 * "scram$N$r$p$SALT$STOREDKEY$SERVERKEY" (base64), so its file does not
 * let anyone log in. The older form "scrypt$N$r$p$SALT$SALTEDPASSWORD"
 * converts to it without the password.
 *
 * Messages are RFC 5802's, without channel binding ("n,,"): the TLS
 * session the agent sees ends at the esp, which the isp cannot check.
 * The server-first message carries scrypt's r and p in an extension,
 * "k=r:p", after "i=N". Each completed exchange yields a key that only
 * the agent and the isp know:
 *
 *   key = HMAC(ClientKey, "dynpass agent key" || AuthMessage)
 *
 * (the esp sees ClientProof, but without StoredKey it cannot take
 * ClientKey from it). Passwords are taken as bytes, without SASLprep.
 */
#include "scram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "xmalloc.h"

#define SCRAM_N 16384 /* 16 MiB with r = 8 */
#define SCRAM_R 8
#define SCRAM_P 1
/*
 * What a client runs for a server's first message, whatever it asks:
 * 16 to 128 MiB (128 * N * r bytes) and at most 4 passes. Less would let
 * a relay guess the password offline cheaply; more would let a server
 * hold the client's memory and CPU.
 */
#define SCRAM_CLIENT_MIN_NR (16384ULL * 8)
#define SCRAM_CLIENT_MAX_NR (131072ULL * 8)
#define SCRAM_CLIENT_MAX_P  4
#define SCRAM_SALT          16
#define SCRAM_NONCE         18 /* random bytes: 24 base64 characters */
#define SCRAM_GS2           "n,,"
#define SCRAM_CBIND         "biws" /* base64("n,,") */
#define SCRAM_KEYTAG        "dynpass agent key"

/* scrypt through OpenSSL's KDF API. */
static int
scram_scrypt(const void *pw, size_t pwlen, const unsigned char *salt,
    size_t saltlen, uint64_t n, uint32_t r, uint32_t p, unsigned char *out)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[6], *q = params;
	int ok;

	if (kdf == NULL)
		return -1;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return -1;
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    (void *)pw, pwlen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)salt, saltlen);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	*q = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, out, SCRAM_KEY_LEN, params) == 1;
	EVP_KDF_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* HMAC-SHA-256 of one or two pieces. */
static void
scram_hmac(const unsigned char *key, size_t keylen, const void *a, size_t alen,
    const void *b, size_t blen, unsigned char out[SCRAM_KEY_LEN])
{
	unsigned char *m = xmalloc(alen + blen + 1);
	unsigned int n = SCRAM_KEY_LEN;

	memcpy(m, a, alen);
	if (blen > 0)
		memcpy(m + alen, b, blen);
	HMAC(EVP_sha256(), key, (int)keylen, m, alen + blen, out, &n);
	OPENSSL_cleanse(m, alen + blen);
	free(m);
}

/* ClientKey, StoredKey and ServerKey from SaltedPassword. */
static void
scram_keys(const unsigned char salted[SCRAM_KEY_LEN],
    unsigned char ckey[SCRAM_KEY_LEN], unsigned char stored[SCRAM_KEY_LEN],
    unsigned char server[SCRAM_KEY_LEN])
{
	scram_hmac(salted, SCRAM_KEY_LEN, "Client Key", 10, NULL, 0, ckey);
	SHA256(ckey, SCRAM_KEY_LEN, stored);
	scram_hmac(salted, SCRAM_KEY_LEN, "Server Key", 10, NULL, 0, server);
}

/* Standard base64 of n bytes into out (NUL-terminated). */
static void
scram_b64(const unsigned char *p, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/* Decode base64 text of exactly want bytes (want 0: any, up to max). */
static int
scram_unb64(const char *s, size_t slen, unsigned char *out, size_t max,
    size_t *got)
{
	unsigned char tmp[128];
	size_t pad = 0, i;
	int n;

	if (slen == 0 || slen % 4 != 0 || slen > 4 * (sizeof tmp / 3))
		return -1;
	for (i = 0; i < slen; i++) {
		char c = s[i];

		if (c == '=') {
			if (i < slen - 2)
				return -1;
			pad++;
		} else if (pad > 0 ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '+' || c == '/'))
			return -1;
	}
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)slen);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad > max)
		return -1;
	*got = (size_t)n - pad;
	memcpy(out, tmp, *got);
	OPENSSL_cleanse(tmp, sizeof tmp);
	return 0;
}

/* Is the scrypt cost one we run? */
static int
scram_cost_ok(unsigned long long n, unsigned r, unsigned p)
{
	return n >= 1024 && n <= (1 << 20) && (n & (n - 1)) == 0 && r >= 1 &&
	    r <= 32 && p >= 1 && p <= 16;
}

/*
 * Is the scrypt cost one a client runs for a server (SCRAM_CLIENT_*)?
 * n and r as scram_cost_ok takes them (n * r cannot overflow).
 */
int
scram_client_cost_ok(uint64_t n, unsigned r, unsigned p)
{
	return n * r >= SCRAM_CLIENT_MIN_NR && n * r <= SCRAM_CLIENT_MAX_NR &&
	    p <= SCRAM_CLIENT_MAX_P;
}

/*
 * Parse a stored secret, either form; *old is set for the scrypt$ form.
 * 0, or -1 if it is not one.
 */
int
scram_secret_parse(const char *s, struct scram_secret *ss, int *old)
{
	char a[128], b[128], c[128], tail;
	unsigned char salted[SCRAM_KEY_LEN], ckey[SCRAM_KEY_LEN];
	unsigned long long n;
	unsigned r, p;
	size_t got;
	int k;

	memset(ss, 0, sizeof *ss);
	*old = 0;
	if (strncmp(s, "scram$", 6) == 0) {
		k = sscanf(s,
		    "scram$%llu$%u$%u$%127[A-Za-z0-9+/=]$%127[A-Za-z0-9+/=]"
		    "$%127[A-Za-z0-9+/=]%c",
		    &n, &r, &p, a, b, c, &tail);
		if (k != 6 || !scram_cost_ok(n, r, p) ||
		    scram_unb64(a, strlen(a), ss->ss_salt, sizeof ss->ss_salt,
			&ss->ss_saltlen) != 0 ||
		    ss->ss_saltlen < 8 ||
		    scram_unb64(b, strlen(b), ss->ss_stored, SCRAM_KEY_LEN,
			&got) != 0 ||
		    got != SCRAM_KEY_LEN ||
		    scram_unb64(c, strlen(c), ss->ss_server, SCRAM_KEY_LEN,
			&got) != 0 ||
		    got != SCRAM_KEY_LEN)
			return -1;
	} else {
		k = sscanf(s,
		    "scrypt$%llu$%u$%u$%127[A-Za-z0-9+/=]$%127[A-Za-z0-9+/=]%c",
		    &n, &r, &p, a, b, &tail);
		if (k != 5 || !scram_cost_ok(n, r, p) ||
		    scram_unb64(a, strlen(a), ss->ss_salt, sizeof ss->ss_salt,
			&ss->ss_saltlen) != 0 ||
		    ss->ss_saltlen < 8 ||
		    scram_unb64(b, strlen(b), salted, sizeof salted, &got) !=
			0 ||
		    got != SCRAM_KEY_LEN)
			return -1;
		scram_keys(salted, ckey, ss->ss_stored, ss->ss_server);
		OPENSSL_cleanse(salted, sizeof salted);
		OPENSSL_cleanse(ckey, sizeof ckey);
		*old = 1;
	}
	ss->ss_n = n;
	ss->ss_r = r;
	ss->ss_p = p;
	return 0;
}

/* The stored form of a secret (allocated). */
char *
scram_secret_format(const struct scram_secret *ss)
{
	char s64[96], k64[48], v64[48], *ret;

	scram_b64(ss->ss_salt, ss->ss_saltlen, s64);
	scram_b64(ss->ss_stored, SCRAM_KEY_LEN, k64);
	scram_b64(ss->ss_server, SCRAM_KEY_LEN, v64);
	xasprintf(&ret, "scram$%llu$%u$%u$%s$%s$%s",
	    (unsigned long long)ss->ss_n, ss->ss_r, ss->ss_p, s64, k64, v64);
	return ret;
}

/* A new secret for a password, with a random salt; 0 or -1. */
int
scram_secret_make(const void *pw, size_t len, struct scram_secret *ss)
{
	unsigned char salted[SCRAM_KEY_LEN], ckey[SCRAM_KEY_LEN];

	memset(ss, 0, sizeof *ss);
	ss->ss_n = SCRAM_N;
	ss->ss_r = SCRAM_R;
	ss->ss_p = SCRAM_P;
	ss->ss_saltlen = SCRAM_SALT;
	if (RAND_bytes(ss->ss_salt, SCRAM_SALT) != 1 ||
	    scram_scrypt(pw, len, ss->ss_salt, ss->ss_saltlen, ss->ss_n,
		ss->ss_r, ss->ss_p, salted) != 0)
		return -1;
	scram_keys(salted, ckey, ss->ss_stored, ss->ss_server);
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(ckey, sizeof ckey);
	return 0;
}

/*
 * A secret for a user nobody stores: its salt is stable for the name (a
 * keyed hash), so a probe cannot tell the name is unknown by the salt
 * changing, and its keys are random, so no proof matches.
 */
void
scram_secret_dummy(const char *user, const unsigned char *key, size_t keylen,
    struct scram_secret *ss)
{
	unsigned char h[SCRAM_KEY_LEN];

	memset(ss, 0, sizeof *ss);
	ss->ss_n = SCRAM_N;
	ss->ss_r = SCRAM_R;
	ss->ss_p = SCRAM_P;
	ss->ss_saltlen = SCRAM_SALT;
	scram_hmac(key, keylen, "dummy salt ", 11, user, strlen(user), h);
	memcpy(ss->ss_salt, h, SCRAM_SALT);
	RAND_bytes(ss->ss_stored, SCRAM_KEY_LEN);
	RAND_bytes(ss->ss_server, SCRAM_KEY_LEN);
}

/* Does the password give this secret? Constant-time; 1 or 0. */
int
scram_secret_check(const struct scram_secret *ss, const void *pw, size_t len)
{
	unsigned char salted[SCRAM_KEY_LEN], ckey[SCRAM_KEY_LEN];
	unsigned char stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	int ok;

	if (scram_scrypt(pw, len, ss->ss_salt, ss->ss_saltlen, ss->ss_n,
		ss->ss_r, ss->ss_p, salted) != 0)
		return 0;
	scram_keys(salted, ckey, stored, server);
	ok = CRYPTO_memcmp(stored, ss->ss_stored, SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(ckey, sizeof ckey);
	OPENSSL_cleanse(server, sizeof server);
	return ok;
}

/* A fresh nonce: base64 of random bytes (no ',' in it). */
static int
scram_nonce(char *out)
{
	unsigned char r[SCRAM_NONCE];

	if (RAND_bytes(r, sizeof r) != 1)
		return -1;
	scram_b64(r, sizeof r, out);
	return 0;
}

/*
 * Find attribute "c=" at the start of s or after a comma; its value and
 * length. NULL if it is not there.
 */
static const char *
scram_attr(const char *s, char c, size_t *len)
{
	const char *p = s, *e;

	for (;;) {
		if (p[0] == c && p[1] == '=') {
			p += 2;
			e = strchr(p, ',');
			*len = e != NULL ? (size_t)(e - p) : strlen(p);
			return p;
		}
		if ((p = strchr(p, ',')) == NULL)
			return NULL;
		p++;
	}
}

/* Is the value printable ASCII without ','? (RFC 5802 "printable") */
static int
scram_printable(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return 0;
	return n > 0;
}

/*
 * The client's first message, "n,,n=USER,r=NONCE". The user name may not
 * hold ',' or '=' (dynpass names never do). 0, or -1.
 */
int
scram_client_start(struct scram_client *c, const char *user, const void *pw,
    size_t len, char *out, size_t outlen)
{
	memset(c, 0, sizeof *c);
	if (strlen(user) == 0 || strlen(user) > SCRAM_USER_MAX ||
	    !scram_printable(user, strlen(user)) || strchr(user, '=') != NULL ||
	    len > sizeof c->sc_pw || scram_nonce(c->sc_nonce) != 0)
		return -1;
	memcpy(c->sc_pw, pw, len);
	c->sc_pwlen = len;
	snprintf(c->sc_first_bare, sizeof c->sc_first_bare, "n=%s,r=%s", user,
	    c->sc_nonce);
	if ((size_t)snprintf(out, outlen, SCRAM_GS2 "%s", c->sc_first_bare) >=
	    outlen)
		return -1;
	return 0;
}

/* The session key both ends derive from ClientKey and AuthMessage. */
static void
scram_session_key(const unsigned char ckey[SCRAM_KEY_LEN], const char *am,
    unsigned char key[SCRAM_KEY_LEN])
{
	scram_hmac(ckey, SCRAM_KEY_LEN, SCRAM_KEYTAG, strlen(SCRAM_KEYTAG), am,
	    strlen(am), key);
}

/*
 * Answer the server's first message with the proof (this runs scrypt).
 * 0, or -1 with *why.
 */
int
scram_client_final(struct scram_client *c, const char *sfirst, char *out,
    size_t outlen, const char **why)
{
	char without[SCRAM_MSG_MAX], am[3 * SCRAM_MSG_MAX], p64[48], sbuf[96];
	unsigned char salt[SCRAM_SALT_MAX], salted[SCRAM_KEY_LEN];
	unsigned char ckey[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	unsigned char server[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];
	unsigned char proof[SCRAM_KEY_LEN];
	const char *nonce, *s, *i, *k;
	size_t nl, sl, il, kl, saltlen, j;
	unsigned long long n;
	unsigned r, p;
	char *end;

	*why = "the server refused the login";
	if (strncmp(sfirst, "e=", 2) == 0)
		return -1;
	*why = "malformed server-first message";
	if (strlen(sfirst) >= SCRAM_MSG_MAX || strncmp(sfirst, "r=", 2) != 0 ||
	    (nonce = scram_attr(sfirst, 'r', &nl)) == NULL ||
	    (s = scram_attr(sfirst, 's', &sl)) == NULL ||
	    (i = scram_attr(sfirst, 'i', &il)) == NULL ||
	    (k = scram_attr(sfirst, 'k', &kl)) == NULL)
		return -1;
	*why = "the server's nonce does not extend ours";
	if (nl <= strlen(c->sc_nonce) || nl >= sizeof sbuf ||
	    strncmp(nonce, c->sc_nonce, strlen(c->sc_nonce)) != 0 ||
	    !scram_printable(nonce, nl))
		return -1;
	*why = "malformed salt or cost";
	if (scram_unb64(s, sl, salt, sizeof salt, &saltlen) != 0 || saltlen < 8)
		return -1;
	for (j = 0; j < il; j++)
		if (i[j] < '0' || i[j] > '9')
			return -1;
	n = strtoull(i, &end, 10);
	if (il == 0 || il > 8 || end != i + il ||
	    sscanf(k, "%u:%u", &r, &p) != 2 || !scram_cost_ok(n, r, p))
		return -1;
	*why = "the server asks for a scrypt cost a client does not run (16 "
	       "to 128 MiB, at most 4 passes)";
	if (!scram_client_cost_ok(n, r, p))
		return -1;
	snprintf(without, sizeof without, "c=" SCRAM_CBIND ",r=%.*s", (int)nl,
	    nonce);
	snprintf(am, sizeof am, "%s,%s,%s", c->sc_first_bare, sfirst, without);
	*why = "scrypt failed";
	if (scram_scrypt(c->sc_pw, c->sc_pwlen, salt, saltlen, n, r, p,
		salted) != 0)
		return -1;
	scram_keys(salted, ckey, stored, server);
	scram_hmac(stored, SCRAM_KEY_LEN, am, strlen(am), NULL, 0, sig);
	for (j = 0; j < SCRAM_KEY_LEN; j++)
		proof[j] = ckey[j] ^ sig[j];
	scram_hmac(server, SCRAM_KEY_LEN, am, strlen(am), NULL, 0,
	    c->sc_server_sig);
	scram_session_key(ckey, am, c->sc_key);
	scram_b64(proof, sizeof proof, p64);
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(ckey, sizeof ckey);
	OPENSSL_cleanse(server, sizeof server);
	OPENSSL_cleanse(c->sc_pw, sizeof c->sc_pw);
	*why = "message too long";
	if ((size_t)snprintf(out, outlen, "%s,p=%s", without, p64) >= outlen)
		return -1;
	return 0;
}

/*
 * Check the server's last message ("v=SIGNATURE"): only the holder of
 * ServerKey can write it. On success the session key goes to key.
 */
int
scram_client_verify(struct scram_client *c, const char *sfinal,
    unsigned char key[SCRAM_KEY_LEN], const char **why)
{
	unsigned char v[SCRAM_KEY_LEN];
	size_t got;

	if (strncmp(sfinal, "e=", 2) == 0) {
		*why = "the server refused the proof (wrong password?)";
		return -1;
	}
	*why = "the server's signature is wrong: it does not hold the "
	       "user's secret";
	if (strncmp(sfinal, "v=", 2) != 0 ||
	    scram_unb64(sfinal + 2, strlen(sfinal + 2), v, sizeof v, &got) !=
		0 ||
	    got != SCRAM_KEY_LEN ||
	    CRYPTO_memcmp(v, c->sc_server_sig, SCRAM_KEY_LEN) != 0)
		return -1;
	memcpy(key, c->sc_key, SCRAM_KEY_LEN);
	return 0;
}

/* Forget the client's secrets. */
void
scram_client_clear(struct scram_client *c)
{
	OPENSSL_cleanse(c, sizeof *c);
}

/*
 * The user name a client-first message asks for ("n,,n=USER,r=..."),
 * so that the server can find its secret; 0, or -1 if malformed.
 */
int
scram_server_user(const char *cfirst, char *user, size_t len)
{
	const char *bare, *u, *r;
	size_t ul, rl;

	if (strlen(cfirst) >= SCRAM_MSG_MAX ||
	    strncmp(cfirst, SCRAM_GS2, strlen(SCRAM_GS2)) != 0)
		return -1;
	bare = cfirst + strlen(SCRAM_GS2);
	if (strncmp(bare, "n=", 2) != 0 ||
	    (u = scram_attr(bare, 'n', &ul)) == NULL ||
	    (r = scram_attr(bare, 'r', &rl)) == NULL || r != u + ul + 3 ||
	    ul == 0 || ul > SCRAM_USER_MAX || ul >= len ||
	    !scram_printable(u, ul) || memchr(u, '=', ul) != NULL ||
	    !scram_printable(r, rl) || rl < 16 || rl > 64 || r[rl] != '\0')
		return -1;
	memcpy(user, u, ul);
	user[ul] = '\0';
	return 0;
}

/*
 * Answer a client-first message with salt, cost and the joined nonce.
 * real is 0 when the secret is a dummy. 0, or -1 if malformed.
 */
int
scram_server_first(struct scram_server *sv, const char *cfirst,
    const struct scram_secret *ss, char *out, size_t outlen)
{
	char user[SCRAM_USER_MAX + 1], mine[48], s64[96];
	const char *r;
	size_t rl;

	memset(sv, 0, sizeof *sv);
	if (scram_server_user(cfirst, user, sizeof user) != 0 ||
	    scram_nonce(mine) != 0)
		return -1;
	snprintf(sv->sv_first_bare, sizeof sv->sv_first_bare, "%s",
	    cfirst + strlen(SCRAM_GS2));
	r = scram_attr(sv->sv_first_bare, 'r', &rl);
	snprintf(sv->sv_nonce, sizeof sv->sv_nonce, "%.*s%s", (int)rl, r, mine);
	sv->sv_secret = *ss;
	scram_b64(ss->ss_salt, ss->ss_saltlen, s64);
	snprintf(sv->sv_first, sizeof sv->sv_first, "r=%s,s=%s,i=%llu,k=%u:%u",
	    sv->sv_nonce, s64, (unsigned long long)ss->ss_n, ss->ss_r,
	    ss->ss_p);
	if ((size_t)snprintf(out, outlen, "%s", sv->sv_first) >= outlen)
		return -1;
	return 0;
}

/*
 * Check the client's proof. On success, 0 with "v=SIGNATURE" in out and
 * the session key in key; on failure -1 with "e=invalid-proof" in out.
 */
int
scram_server_final(struct scram_server *sv, const char *cfinal, char *out,
    size_t outlen, unsigned char key[SCRAM_KEY_LEN])
{
	char am[3 * SCRAM_MSG_MAX], without[SCRAM_MSG_MAX], v64[48];
	unsigned char proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];
	unsigned char ckey[SCRAM_KEY_LEN], h[SCRAM_KEY_LEN];
	const char *c, *r, *p;
	size_t cl, rl, pl, got, j;
	int ok;

	snprintf(out, outlen, "e=invalid-proof");
	if (strlen(cfinal) >= SCRAM_MSG_MAX || strncmp(cfinal, "c=", 2) != 0 ||
	    (c = scram_attr(cfinal, 'c', &cl)) == NULL ||
	    (r = scram_attr(cfinal, 'r', &rl)) == NULL ||
	    (p = scram_attr(cfinal, 'p', &pl)) == NULL || p[pl] != '\0' ||
	    p < cfinal + 3)
		return -1;
	if (cl != strlen(SCRAM_CBIND) || memcmp(c, SCRAM_CBIND, cl) != 0 ||
	    rl != strlen(sv->sv_nonce) || memcmp(r, sv->sv_nonce, rl) != 0 ||
	    scram_unb64(p, pl, proof, sizeof proof, &got) != 0 ||
	    got != SCRAM_KEY_LEN)
		return -1;
	/* Everything before ",p=". */
	snprintf(without, sizeof without, "%.*s", (int)(p - 3 - cfinal),
	    cfinal);
	snprintf(am, sizeof am, "%s,%s,%s", sv->sv_first_bare, sv->sv_first,
	    without);
	scram_hmac(sv->sv_secret.ss_stored, SCRAM_KEY_LEN, am, strlen(am), NULL,
	    0, sig);
	for (j = 0; j < SCRAM_KEY_LEN; j++)
		ckey[j] = proof[j] ^ sig[j];
	SHA256(ckey, SCRAM_KEY_LEN, h);
	ok = CRYPTO_memcmp(h, sv->sv_secret.ss_stored, SCRAM_KEY_LEN) == 0;
	/* A used exchange cannot be answered twice. */
	sv->sv_nonce[0] = '\0';
	if (!ok) {
		OPENSSL_cleanse(ckey, sizeof ckey);
		return -1;
	}
	scram_hmac(sv->sv_secret.ss_server, SCRAM_KEY_LEN, am, strlen(am), NULL,
	    0, sig);
	scram_b64(sig, sizeof sig, v64);
	scram_session_key(ckey, am, key);
	OPENSSL_cleanse(ckey, sizeof ckey);
	if ((size_t)snprintf(out, outlen, "v=%s", v64) >= outlen)
		return -1;
	return 0;
}

/* Forget the server's state. */
void
scram_server_clear(struct scram_server *sv)
{
	OPENSSL_cleanse(sv, sizeof *sv);
}
