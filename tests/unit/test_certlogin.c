/*
 * Certificate login (lib/certlogin.c): whole exchanges with ECDSA,
 * Ed25519 and RSA keys, the transcript and keys recomputed by hand from
 * the documented format, certificates the isp must refuse, a relay that
 * swaps keys or replays, and every message cut short or too long. The
 * PKI is made here with OpenSSL's API.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certlogin.h"
#include "unit.h"

#define DAY   (24L * 60 * 60)
#define LABEL "dynpass certificate login 1"

static uint8_t m1[CERTLOGIN_MSG_MAX + 2], m2[CERTLOGIN_MSG_MAX + 2];
static uint8_t m3[CERTLOGIN_MSG_MAX + 2], m4[CERTLOGIN_MSG_MAX + 2];
static size_t n1, n2, n3, n4;

/* The test PKI. */
static EVP_PKEY *ca_key, *other_key, *ec_key, *ed_key, *rsa_key, *x_key;
static X509 *ca, *other_ca, *ec_cert, *ed_cert, *rsa_cert, *other_cert;
static X509 *expired, *server_only, *future, *ka_only, *x25519_cert;
static X509 *weak_cert, *self_signed;
static EVP_PKEY *weak_key;
static X509_STORE *store;
static long serial = 1;

/* A fresh key: "EC" (P-256), "RSA" (2048), "RSA1024", or another type. */
static EVP_PKEY *
keygen(const char *type)
{
	EVP_PKEY *k;

	if (strcmp(type, "EC") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(type, "RSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(type, "RSA1024") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, type);
	if (k == NULL)
		abort();
	return k;
}

/* A name with one commonName. */
static X509_NAME *
cn_name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		(const unsigned char *)cn, -1, -1, 0) != 1)
		abort();
	return n;
}

/* Add an extension in openssl.cnf syntax. */
static void
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e;

	if (value == NULL)
		return;
	if ((e = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL ||
	    X509_add_ext(x, e, -1) != 1)
		abort();
	X509_EXTENSION_free(e);
}

/*
 * A certificate for subject (taken) and pub, signed by issuer's key (or
 * self-signed), valid from..to days from now, with the extensions given
 * (NULL: none of that kind).
 */
static X509 *
mkcert(X509_NAME *subject, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey,
    long from, long to, const char *bc, const char *ku, const char *eku)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	const EVP_MD *md = EVP_sha256();

	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) != 1 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x,
		issuer != NULL ? X509_get_subject_name(issuer) : subject) !=
		1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), from * DAY) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), to * DAY) == NULL ||
	    X509_set_pubkey(x, pub) != 1)
		abort();
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &ctx, NID_basic_constraints, bc);
	add_ext(x, &ctx, NID_key_usage, ku);
	add_ext(x, &ctx, NID_ext_key_usage, eku);
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (EVP_PKEY_is_a(ikey, "ED25519"))
		md = NULL;
	if (X509_sign(x, ikey, md) <= 0)
		abort();
	X509_NAME_free(subject);
	return x;
}

/* A user certificate from the test CA, valid for a year. */
static X509 *
user_cert(X509_NAME *subject, EVP_PKEY *pub, const char *ku, const char *eku)
{
	return mkcert(subject, pub, ca, ca_key, -1, 365, "critical,CA:FALSE",
	    ku, eku);
}

/* Make the PKI: two CAs, users of each key type, certificates to refuse. */
static void
make_pki(void)
{
	ca_key = keygen("EC");
	other_key = keygen("EC");
	ca = mkcert(cn_name("dynpass test CA"), ca_key, NULL, ca_key, -1, 3650,
	    "critical,CA:TRUE", "critical,keyCertSign,cRLSign", NULL);
	other_ca = mkcert(cn_name("some other CA"), other_key, NULL, other_key,
	    -1, 3650, "critical,CA:TRUE", "critical,keyCertSign,cRLSign", NULL);
	ec_key = keygen("EC");
	ed_key = keygen("ED25519");
	rsa_key = keygen("RSA");
	x_key = keygen("X25519");
	weak_key = keygen("RSA1024");
	ec_cert = user_cert(cn_name("alice"), ec_key,
	    "critical,digitalSignature", "clientAuth");
	ed_cert = user_cert(cn_name("alice"), ed_key,
	    "critical,digitalSignature", "clientAuth");
	rsa_cert = user_cert(cn_name("alice"), rsa_key,
	    "critical,digitalSignature,keyEncipherment", "clientAuth");
	other_cert =
	    mkcert(cn_name("alice"), ec_key, other_ca, other_key, -1, 365,
		"critical,CA:FALSE", "critical,digitalSignature", "clientAuth");
	expired = mkcert(cn_name("alice"), ec_key, ca, ca_key, -30, -1,
	    "critical,CA:FALSE", "critical,digitalSignature", "clientAuth");
	future = mkcert(cn_name("alice"), ec_key, ca, ca_key, 2, 30,
	    "critical,CA:FALSE", "critical,digitalSignature", "clientAuth");
	server_only = user_cert(cn_name("alice"), ec_key,
	    "critical,digitalSignature", "serverAuth");
	ka_only = user_cert(cn_name("alice"), ec_key, "critical,keyAgreement",
	    "clientAuth");
	x25519_cert = user_cert(cn_name("alice"), x_key, NULL, "clientAuth");
	weak_cert = user_cert(cn_name("alice"), weak_key,
	    "critical,digitalSignature", "clientAuth");
	self_signed = mkcert(cn_name("alice"), ec_key, NULL, ec_key, -1, 365,
	    NULL, "critical,digitalSignature", "clientAuth");
	if ((store = X509_STORE_new()) == NULL ||
	    X509_STORE_add_cert(store, ca) != 1)
		abort();
}

/* "certificate verify failed: " and OpenSSL's text for an error. */
static const char *
verify_why(int code)
{
	static char buf[256];

	snprintf(buf, sizeof buf, "certificate verify failed: %s",
	    X509_verify_cert_error_string(code));
	return buf;
}

/*
 * One exchange with its messages left in m1..m4; 0 if both sides finish
 * (same key, user alice), else -1 with the failing step's *why.
 */
static int
exchange(X509 *cert, EVP_PKEY *key, unsigned char ckey[CERTLOGIN_KEY_LEN],
    unsigned char skey[CERTLOGIN_KEY_LEN], const char **why)
{
	struct certlogin_client c;
	struct certlogin_server s;
	char user[CERTLOGIN_USER_MAX + 1];
	int rc = -1;

	memset(&c, 0, sizeof c);
	memset(&s, 0, sizeof s);
	if (certlogin_client_start(&c, cert, m1, sizeof m1, &n1, why) != 0 ||
	    certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		sizeof m2, &n2, why) != 0 ||
	    certlogin_client_sign(&c, key, m2, n2, m3, sizeof m3, &n3, why) !=
		0 ||
	    certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, skey,
		why) != 0 ||
	    certlogin_client_verify(&c, m4, n4, ckey, why) != 0)
		goto out;
	CHECK_STR_EQ(user, "alice");
	rc = 0;
out:
	certlogin_client_clear(&c);
	certlogin_server_clear(&s);
	return rc;
}

/* T by hand from messages 1 and 2, as documented. */
static void
hand_transcript(const uint8_t *a, size_t alen, const uint8_t *b,
    unsigned char t[CERTLOGIN_T_LEN])
{
	memcpy(t, LABEL, strlen(LABEL));
	memcpy(t + 27, a, 64);
	SHA256(a + 64, alen - 64, t + 27 + 64);
	memcpy(t + 27 + 96, b, 64);
}

/* Sign T by hand with a certificate key, as documented. */
static size_t
hand_sign(EVP_PKEY *k, const unsigned char *t, size_t tlen, uint8_t *sig,
    size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *p;
	int ed = EVP_PKEY_is_a(k, "ED25519");

	if (EVP_DigestSignInit(md, &p, ed ? NULL : EVP_sha256(), NULL, k) !=
		1 ||
	    (EVP_PKEY_is_a(k, "RSA") &&
		(EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(p, 32) != 1)) ||
	    EVP_DigestSign(md, sig, &siglen, t, tlen) != 1)
		abort();
	EVP_MD_CTX_free(md);
	return siglen;
}

/* HKDF-SHA256 by hand, through the EVP_PKEY_HKDF interface. */
static void
hand_hkdf(const unsigned char *ikm, const unsigned char *t, unsigned char *out)
{
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	unsigned char salt[32];
	size_t n = 32;

	SHA256(t, CERTLOGIN_T_LEN, salt);
	if (p == NULL || EVP_PKEY_derive_init(p) != 1 ||
	    EVP_PKEY_CTX_set_hkdf_md(p, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_salt(p, salt, 32) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(p, ikm, 32) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(p,
		(const unsigned char *)"dynpass "
				       "agent key",
		17) != 1 ||
	    EVP_PKEY_derive(p, out, &n) != 1 || n != 32)
		abort();
	EVP_PKEY_CTX_free(p);
}

/* The X25519 secret of a private key and public bytes, by hand. */
static void
hand_x25519(EVP_PKEY *mine, const uint8_t *pub, unsigned char ss[32])
{
	EVP_PKEY *peer =
	    EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(mine, NULL);
	size_t n = 32;

	if (peer == NULL || p == NULL || EVP_PKEY_derive_init(p) != 1 ||
	    EVP_PKEY_derive_set_peer(p, peer) != 1 ||
	    EVP_PKEY_derive(p, ss, &n) != 1)
		abort();
	EVP_PKEY_CTX_free(p);
	EVP_PKEY_free(peer);
}

/* Message 4 by hand: HMAC(K, "dynpass isp confirm" || SHA-256(T)). */
static void
hand_confirm(const unsigned char *k, const unsigned char *t,
    unsigned char out[32])
{
	unsigned char m[19 + 32];
	unsigned int n = 32;

	memcpy(m, "dynpass isp confirm", 19);
	SHA256(t, CERTLOGIN_T_LEN, m + 19);
	HMAC(EVP_sha256(), k, 32, m, sizeof m, out, &n);
}

/* Each key type: both sides agree, and every exchange has its own K. */
static void
test_exchange(void)
{
	struct {
		X509 *cert;
		EVP_PKEY *key;
	} users[] = { { ec_cert, ec_key }, { ed_cert, ed_key },
		{ rsa_cert, rsa_key } };
	unsigned char ck[CERTLOGIN_KEY_LEN], sk[CERTLOGIN_KEY_LEN];
	unsigned char prev[CERTLOGIN_KEY_LEN];
	const char *why = NULL;
	size_t i;

	for (i = 0; i < sizeof users / sizeof users[0]; i++) {
		memset(ck, 1, sizeof ck);
		memset(sk, 2, sizeof sk);
		CHECK(exchange(users[i].cert, users[i].key, ck, sk, &why) == 0);
		CHECK(memcmp(ck, sk, sizeof ck) == 0);
		CHECK(n2 == 64 && n4 == 32);
		memcpy(prev, ck, sizeof prev);
		CHECK(exchange(users[i].cert, users[i].key, ck, sk, &why) == 0);
		CHECK(memcmp(ck, sk, sizeof ck) == 0);
		CHECK(memcmp(ck, prev, sizeof ck) != 0);
	}
}

/*
 * The documented format, recomputed by hand: T, HKDF, message 4, and
 * message 3 (PSS for RSA, not PKCS#1 v1.5).
 */
static void
test_by_hand(void)
{
	struct {
		X509 *cert;
		EVP_PKEY *key;
	} users[] = { { ec_cert, ec_key }, { ed_cert, ed_key },
		{ rsa_cert, rsa_key } };
	struct certlogin_client c;
	struct certlogin_server s;
	unsigned char t[CERTLOGIN_T_LEN], ss[32], k[32], conf[32];
	unsigned char ck[32], sk[32];
	char user[CERTLOGIN_USER_MAX + 1];
	const char *why;
	EVP_MD_CTX *md;
	EVP_PKEY_CTX *p;
	size_t i;

	for (i = 0; i < sizeof users / sizeof users[0]; i++) {
		CHECK(certlogin_client_start(&c, users[i].cert, m1, sizeof m1,
			  &n1, &why) == 0);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  sizeof user, m2, sizeof m2, &n2, &why) == 0);
		hand_transcript(m1, n1, m2, t);
		hand_x25519(c.cl_eph, m2, ss);
		hand_hkdf(ss, t, k);
		hand_confirm(k, t, conf);
		CHECK(certlogin_client_sign(&c, users[i].key, m2, n2, m3,
			  sizeof m3, &n3, &why) == 0);
		/* Message 3 verifies by hand over T. */
		md = EVP_MD_CTX_new();
		CHECK(EVP_DigestVerifyInit(md, &p,
			  EVP_PKEY_is_a(users[i].key, "ED25519") ? NULL
								 : EVP_sha256(),
			  NULL, users[i].key) == 1);
		if (EVP_PKEY_is_a(users[i].key, "RSA")) {
			EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING);
			EVP_PKEY_CTX_set_rsa_pss_saltlen(p, 32);
		}
		CHECK(EVP_DigestVerify(md, m3, n3, t, sizeof t) == 1);
		EVP_MD_CTX_free(md);
		if (EVP_PKEY_is_a(users[i].key, "RSA")) {
			md = EVP_MD_CTX_new();
			EVP_DigestVerifyInit(md, &p, EVP_sha256(), NULL,
			    users[i].key);
			EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PADDING);
			CHECK(EVP_DigestVerify(md, m3, n3, t, sizeof t) != 1);
			EVP_MD_CTX_free(md);
			ERR_clear_error();
		}
		CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4,
			  sk, &why) == 0);
		CHECK(n4 == 32 && memcmp(m4, conf, 32) == 0);
		CHECK(certlogin_client_verify(&c, m4, n4, ck, &why) == 0);
		CHECK(memcmp(ck, k, 32) == 0 && memcmp(sk, k, 32) == 0);
	}

	/* A message 3 made by hand from the documented T is accepted. */
	CHECK(
	    certlogin_client_start(&c, ed_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	hand_transcript(m1, n1, m2, t);
	n3 = hand_sign(ed_key, t, sizeof t, m3, sizeof m3);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == 0);
	certlogin_client_clear(&c);
}

/* Certificates the isp refuses at message 1, and why. */
static void
test_refused(void)
{
	struct {
		X509 *cert;
		const char *why;
	} bad[] = {
		{ other_cert, NULL },
		{ expired, NULL },
		{ server_only, NULL },
		{ future, NULL },
		{ self_signed, NULL },
		{ weak_cert, NULL },
		{ ka_only, "key usage does not allow digital signatures" },
		{ x25519_cert, "key type is not supported" },
	};
	int codes[] = { X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
		X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_INVALID_PURPOSE,
		X509_V_ERR_CERT_NOT_YET_VALID,
		X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
		X509_V_ERR_EE_KEY_TOO_SMALL };
	struct certlogin_client c;
	struct certlogin_server s;
	char user[CERTLOGIN_USER_MAX + 1];
	unsigned char *p;
	const char *why;
	size_t i;
	int der;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* Message 1 by hand: any head, then the DER. */
		memset(m1, 0x55, 64);
		p = m1 + 64;
		der = i2d_X509(bad[i].cert, &p);
		CHECK(der > 0);
		CHECK(certlogin_peek_user(m1, 64 + (size_t)der, user,
			  sizeof user) == 0);
		CHECK_STR_EQ(user, "alice");
		strcpy(user, "unset");
		n2 = 99;
		CHECK(certlogin_server_start(&s, m1, 64 + (size_t)der, store,
			  user, sizeof user, m2, sizeof m2, &n2, &why) == -1);
		CHECK(n2 == 0);
		CHECK_STR_EQ(user, "unset");
		if (i < sizeof codes / sizeof codes[0])
			CHECK_STR_EQ(why, verify_why(codes[i]));
		else
			CHECK_STR_CONTAINS(why, bad[i].why);
	}
	CHECK_STR_EQ(verify_why(X509_V_ERR_CERT_HAS_EXPIRED),
	    "certificate verify failed: certificate has expired");

	/* The agent will not send a key it cannot sign with. */
	CHECK(certlogin_client_start(&c, x25519_cert, m1, sizeof m1, &n1,
		  &why) == -1);
	CHECK_STR_CONTAINS(why, "key type is not supported");
	/* The other CA's certificate is good against a store of it. */
	{
		X509_STORE *st = X509_STORE_new();
		X509_STORE *keep = store;
		unsigned char ck[32], sk[32];

		X509_STORE_add_cert(st, other_ca);
		store = st;
		CHECK(exchange(other_cert, ec_key, ck, sk, &why) == 0);
		CHECK(exchange(ec_cert, ec_key, ck, sk, &why) == -1);
		CHECK_STR_EQ(why,
		    verify_why(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
		store = keep;
		X509_STORE_free(st);
	}
	/* No store at all. */
	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(&s, m1, n1, NULL, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == -1);
	CHECK_STR_EQ(why,
	    "certificate verify failed: no CA to verify it against");
	certlogin_client_clear(&c);
}

/* A name with one commonName of this ASN.1 type, bytes as given. */
static X509_NAME *
raw_cn(int type, const char *bytes, int len)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", type,
		(const unsigned char *)bytes, len, -1, 0) != 1)
		abort();
	return n;
}

/* Common names that are user names, and those that are not. */
static void
test_names(void)
{
	static const struct {
		const char *bytes;
		int len;
	} bad[] = { { "al ice", 6 }, { "al/ice", 6 }, { "al:ice", 6 },
		{ "", 0 }, { "al\tice", 6 }, { "al\x7fice", 6 },
		{ "al\0ice", 6 }, { "alice\0", 6 }, { "\xc3\xa9lise", 6 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "a"
		  "aaaa",
		    65 } };
	static const char punct[] = "a!\"#$%&'()*+,-.;<=>?@[\\]^_`{|}~z";
	char long64[65], user[CERTLOGIN_USER_MAX + 1];
	struct certlogin_client c;
	struct certlogin_server s;
	X509_NAME *subject;
	const char *why;
	size_t i;
	X509 *x;

	for (i = 0; i < 2 + sizeof bad / sizeof bad[0]; i++) {
		if (i == 0) { /* two common names */
			subject = cn_name("alice");
			X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
			    (const unsigned char *)"bob", -1, -1, 0);
		} else if (i == 1) { /* none */
			subject = X509_NAME_new();
			X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
			    (const unsigned char *)"dynpass", -1, -1, 0);
		} else
			subject = raw_cn(V_ASN1_UTF8STRING, bad[i - 2].bytes,
			    bad[i - 2].len);
		x = user_cert(subject, ec_key, "critical,digitalSignature",
		    "clientAuth");
		CHECK(certlogin_client_start(&c, x, m1, sizeof m1, &n1, &why) ==
		    0);
		CHECK(certlogin_peek_user(m1, n1, user, sizeof user) == -1);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  sizeof user, m2, sizeof m2, &n2, &why) == -1);
		CHECK_STR_CONTAINS(why, "common name is not a user name");
		certlogin_client_clear(&c);
		X509_free(x);
	}

	/*
	 * 64 characters is the longest name; every allowed punctuation; a
	 * BMPString is read as text.
	 */
	memset(long64, 'a', 64);
	long64[64] = '\0';
	for (i = 0; i < 3; i++) {
		subject = i == 0 ? cn_name(long64)
		    : i == 1     ? cn_name(punct)
			     : raw_cn(V_ASN1_BMPSTRING, "\0a\0l\0i\0c\0e", 10);
		x = user_cert(subject, ec_key, "critical,digitalSignature",
		    "clientAuth");
		CHECK(certlogin_client_start(&c, x, m1, sizeof m1, &n1, &why) ==
		    0);
		CHECK(certlogin_peek_user(m1, n1, user, sizeof user) == 0);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  sizeof user, m2, sizeof m2, &n2, &why) == 0);
		CHECK_STR_EQ(user, i == 0 ? long64 : i == 1 ? punct : "alice");
		certlogin_server_clear(&s);
		/* A buffer one too short for the name. */
		CHECK(certlogin_peek_user(m1, n1, user, strlen(user)) == -1);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  strlen(user), m2, sizeof m2, &n2, &why) == -1);
		CHECK_STR_EQ(why, "user name buffer too small");
		certlogin_client_clear(&c);
		certlogin_server_clear(&s);
		X509_free(x);
	}
}

/* The right certificate with another key, in the agent or by hand. */
static void
test_wrong_key(void)
{
	struct certlogin_client c;
	struct certlogin_server s;
	unsigned char t[CERTLOGIN_T_LEN], sk[32];
	char user[CERTLOGIN_USER_MAX + 1];
	EVP_PKEY *wrong = keygen("EC");
	const char *why;

	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	CHECK(certlogin_client_sign(&c, wrong, m2, n2, m3, sizeof m3, &n3,
		  &why) == -1);
	CHECK_STR_EQ(why, "the private key does not match the certificate");
	CHECK(n3 == 0);
	/* The agent's check aside: a signature by the wrong key over the
	 * right T. */
	hand_transcript(m1, n1, m2, t);
	n3 = hand_sign(wrong, t, sizeof t, m3, sizeof m3);
	memset(sk, 7, sizeof sk);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == -1);
	CHECK_STR_EQ(why, "signature does not match the certificate");
	CHECK(n4 == 0 && sk[0] == 7 && sk[31] == 7);
	/* The right key over a T for another certificate hash. */
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	hand_transcript(m1, n1, m2, t);
	t[27 + 64] ^= 1;
	n3 = hand_sign(ec_key, t, sizeof t, m3, sizeof m3);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == -1);
	/* An Ed25519 signature for an ECDSA certificate. */
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	hand_transcript(m1, n1, m2, t);
	n3 = hand_sign(ed_key, t, sizeof t, m3, sizeof m3);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == -1);
	certlogin_client_clear(&c);
	EVP_PKEY_free(wrong);
}

/*
 * A relay that puts its own X25519 key in message 2: the isp refuses the
 * signature, and the relay's K is not the isp's. It can still answer the
 * agent itself, since nothing authenticates the isp to the agent.
 */
static void
test_mitm(void)
{
	struct certlogin_client c;
	struct certlogin_server s;
	unsigned char t[CERTLOGIN_T_LEN], ss[32], rk[32], sk[32], ck[32];
	unsigned char skept[32], conf[32];
	char user[CERTLOGIN_USER_MAX + 1];
	EVP_PKEY *relay = keygen("X25519");
	size_t publen = 32;
	const char *why;

	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	memcpy(skept, s.sv_key, sizeof skept);
	CHECK(EVP_PKEY_get_raw_public_key(relay, m2, &publen) == 1);
	CHECK(certlogin_client_sign(&c, ec_key, m2, n2, m3, sizeof m3, &n3,
		  &why) == 0);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == -1);
	CHECK_STR_EQ(why, "signature does not match the certificate");
	/* The relay's key, from its X25519 key and the agent's. */
	hand_x25519(relay, m1, ss);
	hand_transcript(m1, n1, m2, t);
	hand_hkdf(ss, t, rk);
	CHECK(memcmp(rk, skept, 32) != 0);
	/* The limit of message 4: the relay can confirm to the agent. */
	hand_confirm(rk, t, conf);
	CHECK(certlogin_client_verify(&c, conf, 32, ck, &why) == 0);
	CHECK(memcmp(ck, rk, 32) == 0);

	/* A relay that swaps the agent's key in message 1 instead. */
	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(EVP_PKEY_get_raw_public_key(relay, m3, &publen) == 1);
	memcpy(m4, m1, n1);
	memcpy(m4, m3, 32);
	CHECK(certlogin_server_start(&s, m4, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	CHECK(certlogin_client_sign(&c, ec_key, m2, n2, m3, sizeof m3, &n3,
		  &why) == 0);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == -1);
	certlogin_client_clear(&c);
	EVP_PKEY_free(relay);
}

/* Message 3 kept by a relay cannot be used again. */
static void
test_replay(void)
{
	struct certlogin_client c;
	struct certlogin_server s;
	unsigned char sk[32], ck[32];
	uint8_t first2[64];
	char user[CERTLOGIN_USER_MAX + 1];
	const char *why;

	CHECK(exchange(ec_cert, ec_key, ck, sk, &why) == 0);
	memcpy(first2, m2, 64);
	/* A second exchange with the same message 1. */
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	CHECK(memcmp(first2, m2, 64) != 0);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == -1);
	CHECK_STR_EQ(why, "signature does not match the certificate");
	/* The same exchange answered twice. */
	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	CHECK(certlogin_client_sign(&c, ec_key, m2, n2, m3, sizeof m3, &n3,
		  &why) == 0);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == 0);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == -1);
	CHECK_STR_EQ(why, "the exchange is not waiting for message 3");
	/* ... and the agent's side. */
	CHECK(certlogin_client_sign(&c, ec_key, m2, n2, m3, sizeof m3, &n3,
		  &why) == -1);
	CHECK_STR_EQ(why, "the exchange is not waiting for message 2");
	certlogin_client_clear(&c);
}

/* A message 4 not from the isp. */
static void
test_confirm(void)
{
	struct certlogin_client c;
	struct certlogin_server s;
	unsigned char sk[32], ck[32];
	char user[CERTLOGIN_USER_MAX + 1];
	const char *why;
	size_t bit;

	for (bit = 0; bit < 256; bit += 85) {
		CHECK(certlogin_client_start(&c, ed_cert, m1, sizeof m1, &n1,
			  &why) == 0);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  sizeof user, m2, sizeof m2, &n2, &why) == 0);
		CHECK(certlogin_client_sign(&c, ed_key, m2, n2, m3, sizeof m3,
			  &n3, &why) == 0);
		CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4,
			  sk, &why) == 0);
		m4[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		memset(ck, 9, sizeof ck);
		CHECK(certlogin_client_verify(&c, m4, n4, ck, &why) == -1);
		CHECK_STR_EQ(why, "message 4 does not confirm our transcript");
		CHECK(ck[0] == 9 && ck[31] == 9);
		/* The exchange is over: the right message 4 is too late. */
		m4[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		CHECK(certlogin_client_verify(&c, m4, n4, ck, &why) == -1);
	}
}

/* Keys that give X25519 an all-zero secret (low-order points). */
static void
test_low_order(void)
{
	static const uint8_t points[2][32] = { { 0 }, { 1 } };
	struct certlogin_client c;
	struct certlogin_server s;
	char user[CERTLOGIN_USER_MAX + 1];
	const char *why;
	int i;

	for (i = 0; i < 2; i++) {
		CHECK(certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1,
			  &why) == 0);
		memcpy(m1, points[i], 32);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  sizeof user, m2, sizeof m2, &n2, &why) == -1);
		CHECK_STR_EQ(why,
		    "message 1: the agent's ephemeral key is unusable");
		memcpy(m2, points[i], 32);
		memset(m2 + 32, 0, 32);
		CHECK(certlogin_client_sign(&c, ec_key, m2, 64, m3, sizeof m3,
			  &n3, &why) == -1);
		CHECK_STR_EQ(why,
		    "message 2: the isp's ephemeral key is unusable");
		CHECK(n3 == 0);
	}
}

/* Every message cut at every length, one byte too long, or huge. */
static void
test_lengths(void)
{
	struct {
		X509 *cert;
		EVP_PKEY *key;
	} users[] = { { ec_cert, ec_key }, { ed_cert, ed_key },
		{ rsa_cert, rsa_key } };
	struct certlogin_client c;
	struct certlogin_server s;
	unsigned char sk[32], ck[32];
	char user[CERTLOGIN_USER_MAX + 1];
	uint8_t full1[CERTLOGIN_MSG_MAX + 2];
	size_t len, u, full, fails, cut, ran;
	const char *why;
	int rc;

	/* Message 1, to the esp's peek and to the isp. */
	CHECK(certlogin_client_start(&c, ec_cert, full1, sizeof full1, &full,
		  &why) == 0);
	certlogin_client_clear(&c);
	full1[full] = 0x30;
	for (len = 0, fails = 0; len <= full + 1; len++) {
		rc = certlogin_peek_user(full1, len, user, sizeof user);
		CHECK(rc == (len == full ? 0 : -1));
		rc = certlogin_server_start(&s, full1, len, store, user,
		    sizeof user, m2, sizeof m2, &n2, &why);
		CHECK(rc == (len == full ? 0 : -1));
		fails += rc != 0;
		certlogin_server_clear(&s);
	}
	CHECK(fails == full + 1);
	CHECK(certlogin_server_start(&s, full1, 10, store, user, sizeof user,
		  m2, sizeof m2, &n2, &why) == -1);
	CHECK_STR_EQ(why, "message 1 is too short");
	CHECK(certlogin_server_start(&s, full1, full - 1, store, user,
		  sizeof user, m2, sizeof m2, &n2, &why) == -1);
	CHECK_STR_EQ(why, "message 1: the certificate is not valid DER");
	CHECK(certlogin_server_start(&s, full1, full + 1, store, user,
		  sizeof user, m2, sizeof m2, &n2, &why) == -1);
	CHECK_STR_EQ(why, "message 1: bytes after the certificate");
	memset(m1, 0x30, sizeof m1);
	CHECK(certlogin_server_start(&s, m1, CERTLOGIN_MSG_MAX + 1, store, user,
		  sizeof user, m2, sizeof m2, &n2, &why) == -1);
	CHECK_STR_EQ(why, "message 1 is too long");
	CHECK(certlogin_peek_user(m1, CERTLOGIN_MSG_MAX + 1, user,
		  sizeof user) == -1);
	CHECK(certlogin_peek_user(m1, sizeof m1, user, sizeof user) == -1);

	/* Message 2, to a fresh agent each time. */
	for (len = 0; len <= 65; len++) {
		CHECK(certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1,
			  &why) == 0);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  sizeof user, m2, sizeof m2, &n2, &why) == 0);
		rc = certlogin_client_sign(&c, ec_key, m2, len, m3, sizeof m3,
		    &n3, &why);
		CHECK(rc == (len == 64 ? 0 : -1));
		if (len != 64)
			CHECK_STR_EQ(why, "message 2 is not 64 bytes");
		certlogin_client_clear(&c);
		certlogin_server_clear(&s);
	}

	/* Message 3 and message 4, in fresh exchanges, every key type. */
	for (u = 0; u < sizeof users / sizeof users[0]; u++) {
		CHECK(exchange(users[u].cert, users[u].key, ck, sk, &why) == 0);
		full = n3;
		for (len = 0, fails = ran = 0; len <= full + 1; len++) {
			CHECK(certlogin_client_start(&c, users[u].cert, m1,
				  sizeof m1, &n1, &why) == 0);
			CHECK(certlogin_server_start(&s, m1, n1, store, user,
				  sizeof user, m2, sizeof m2, &n2, &why) == 0);
			CHECK(certlogin_client_sign(&c, users[u].key, m2, n2,
				  m3, sizeof m3, &n3, &why) == 0);
			m3[n3] = 0;
			/*
			 * ECDSA signatures vary by a byte or two: full and
			 * full + 1 stand for this one's length and one more.
			 */
			cut = len == full ? n3 : len == full + 1 ? n3 + 1 : len;
			if (len < full && cut >= n3) {
				certlogin_client_clear(&c);
				certlogin_server_clear(&s);
				continue;
			}
			rc = certlogin_server_finish(&s, m3, cut, m4, sizeof m4,
			    &n4, sk, &why);
			CHECK(rc == (cut == n3 ? 0 : -1));
			fails += rc != 0;
			ran++;
			if (rc == 0)
				CHECK(certlogin_client_verify(&c, m4, n4, ck,
					  &why) == 0);
			certlogin_client_clear(&c);
		}
		/* One good length; ECDSA may skip a length or two. */
		CHECK(fails == ran - 1 && ran + 3 >= full + 2);
	}
	for (len = 0; len <= 33; len++) {
		CHECK(certlogin_client_start(&c, ed_cert, m1, sizeof m1, &n1,
			  &why) == 0);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  sizeof user, m2, sizeof m2, &n2, &why) == 0);
		CHECK(certlogin_client_sign(&c, ed_key, m2, n2, m3, sizeof m3,
			  &n3, &why) == 0);
		CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4,
			  sk, &why) == 0);
		rc = certlogin_client_verify(&c, m4, len, ck, &why);
		CHECK(rc == (len == 32 ? 0 : -1));
	}
	/* Huge and empty message 3. */
	for (len = 0; len < 2; len++) {
		CHECK(certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1,
			  &why) == 0);
		CHECK(certlogin_server_start(&s, m1, n1, store, user,
			  sizeof user, m2, sizeof m2, &n2, &why) == 0);
		memset(m3, 0x30, sizeof m3);
		CHECK(certlogin_server_finish(&s, m3,
			  len == 0 ? 0 : CERTLOGIN_MSG_MAX + 1, m4, sizeof m4,
			  &n4, sk, &why) == -1);
		CHECK_STR_EQ(why,
		    len == 0 ? "message 3 is empty" : "message 3 is too long");
		certlogin_client_clear(&c);
	}
}

/* Garbage to the esp's peek; small buffers; states used out of turn. */
static void
test_misuse(void)
{
	struct certlogin_client c;
	struct certlogin_server s;
	unsigned char sk[32], ck[32];
	char user[CERTLOGIN_USER_MAX + 1];
	const char *why;
	size_t i;

	/* The esp's peek needs no CA. */
	CHECK(certlogin_client_start(&c, rsa_cert, m1, sizeof m1, &n1, &why) ==
	    0);
	CHECK(certlogin_peek_user(m1, n1, user, sizeof user) == 0);
	CHECK_STR_EQ(user, "alice");
	CHECK(certlogin_peek_user(m1, n1, user, 5) == -1);
	CHECK(certlogin_peek_user(m1, n1, user, 0) == -1);
	certlogin_client_clear(&c);
	for (i = 0; i < 4096; i++)
		m1[i] = (uint8_t)(i * 7 + 3);
	CHECK(certlogin_peek_user(m1, 4096, user, sizeof user) == -1);
	CHECK(certlogin_peek_user(m1, 0, user, sizeof user) == -1);
	CHECK(certlogin_peek_user((const uint8_t *)"", 0, user, sizeof user) ==
	    -1);

	/* Output buffers too small. */
	CHECK(certlogin_client_start(&c, ec_cert, m1, 100, &n1, &why) == -1);
	CHECK_STR_EQ(why, "output buffer too small");
	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  63, &n2, &why) == -1);
	CHECK_STR_EQ(why, "output buffer too small");
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  64, &n2, &why) == 0);
	certlogin_server_clear(&s);
	CHECK(
	    certlogin_client_sign(&c, ec_key, m2, n2, m3, 8, &n3, &why) == -1);
	CHECK_STR_EQ(why, "output buffer too small");
	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  64, &n2, &why) == 0);
	CHECK(certlogin_client_sign(&c, ec_key, m2, n2, m3, sizeof m3, &n3,
		  &why) == 0);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, 31, &n4, sk, &why) == -1);
	CHECK_STR_EQ(why, "output buffer too small");
	certlogin_client_clear(&c);

	/* Zeroed states: every step out of turn, clear twice. */
	memset(&c, 0, sizeof c);
	memset(&s, 0, sizeof s);
	CHECK(certlogin_client_sign(&c, ec_key, m2, 64, m3, sizeof m3, &n3,
		  &why) == -1);
	CHECK(certlogin_client_verify(&c, m4, 32, ck, &why) == -1);
	CHECK_STR_EQ(why, "the exchange is not waiting for message 4");
	CHECK(certlogin_server_finish(&s, m3, 64, m4, sizeof m4, &n4, sk,
		  &why) == -1);
	certlogin_client_clear(&c);
	certlogin_client_clear(&c);
	certlogin_server_clear(&s);
	certlogin_server_clear(&s);
	/* A started exchange cleared twice (its keys are freed once). */
	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(&s, m1, n1, store, user, sizeof user, m2,
		  64, &n2, &why) == 0);
	certlogin_client_clear(&c);
	certlogin_client_clear(&c);
	certlogin_server_clear(&s);
	certlogin_server_clear(&s);
	CHECK(c.cl_eph == NULL && s.sv_peer == NULL);
}

/* Write certificates to a temporary PEM file; its name in path. */
static void
write_pem(char *path, X509 **certs, int n, const char *tail)
{
	FILE *f;
	int fd, i;

	strcpy(path, "/tmp/test_certlogin.XXXXXX");
	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		abort();
	for (i = 0; i < n; i++)
		PEM_write_X509(f, certs[i]);
	fputs(tail, f);
	fclose(f);
}

/* certlogin_ca_load: one or more CAs; errors name the file. */
static void
test_ca_load(void)
{
	X509 *both[2] = { other_ca, ca }, *leaf[2] = { ca, ec_cert };
	unsigned char ck[32], sk[32];
	char path[64], *cause;
	X509_STORE *st, *keep = store;
	const char *why;

	write_pem(path, both, 2, "# a comment\n");
	st = certlogin_ca_load(path, &cause);
	CHECK(st != NULL && cause == NULL);
	store = st;
	CHECK(exchange(ec_cert, ec_key, ck, sk, &why) == 0);
	CHECK(exchange(other_cert, ec_key, ck, sk, &why) == 0);
	store = keep;
	X509_STORE_free(st);
	unlink(path);

	write_pem(path, leaf, 2, "");
	CHECK(certlogin_ca_load(path, &cause) == NULL);
	CHECK_STR_CONTAINS(cause, "certificate 2 is not a CA");
	CHECK_STR_CONTAINS(cause, path);
	free(cause);
	unlink(path);

	write_pem(path, both, 0, "not a certificate\n");
	CHECK(certlogin_ca_load(path, &cause) == NULL);
	CHECK_STR_CONTAINS(cause, "no PEM certificate in it");
	free(cause);
	unlink(path);

	write_pem(path, both, 1,
	    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	CHECK(certlogin_ca_load(path, &cause) == NULL);
	CHECK_STR_CONTAINS(cause, "malformed PEM after certificate 1");
	free(cause);
	unlink(path);

	CHECK(certlogin_ca_load("/nonexistent/ca.pem", &cause) == NULL);
	CHECK_STR_EQ(cause, "/nonexistent/ca.pem: No such file or directory");
	free(cause);
}

/*
 * Messages 1 and 2 of a fresh exchange, message 2 signed by cert's key
 * (none when cert is NULL), in m1 and m2.
 */
static void
isp_share(struct certlogin_client *c, struct certlogin_server *s, X509 *cert,
    EVP_PKEY *key)
{
	char user[CERTLOGIN_USER_MAX + 1];
	const char *why;

	memset(c, 0, sizeof *c);
	CHECK(
	    certlogin_client_start(c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_server_start(s, m1, n1, store, user, sizeof user, m2,
		  sizeof m2, &n2, &why) == 0);
	if (cert != NULL)
		CHECK(certlogin_server_sign(s, cert, key, m2, sizeof m2, &n2,
			  &why) == 0);
}

/*
 * An isp's signature on message 2, against an agent that names the isps'
 * CA: the isp's own is taken; none, one from another CA, an esp's
 * (serverAuth), one over another share, and a relay's own message 2
 * signed with the esp's key are refused, each with its reason. Without
 * isp_ca, message 2 is taken unproven.
 */
static void
test_isp_signature(void)
{
	struct certlogin_client c;
	struct certlogin_server s;
	char isp[CERTLOGIN_USER_MAX + 1];
	unsigned char ck[CERTLOGIN_KEY_LEN], sk[CERTLOGIN_KEY_LEN];
	EVP_PKEY *isp_key = keygen("EC"), *esp_key = keygen("RSA");
	X509 *isp_cert = user_cert(cn_name("isp.test"), isp_key,
	    "critical,digitalSignature", "clientAuth");
	X509 *esp_cert = user_cert(cn_name("esp.test"), esp_key,
	    "critical,digitalSignature,keyEncipherment", "serverAuth");
	X509 *rogue_isp =
	    mkcert(cn_name("isp.test"), isp_key, other_ca, other_key, -1, 365,
		"critical,CA:FALSE", "critical,digitalSignature", "clientAuth");
	const char *why;
	uint8_t saved[CERTLOGIN_MSG_MAX + 2];
	size_t nsaved;
	struct {
		X509 *cert;
		EVP_PKEY *key;
		const char *why;
	} bad[] = {
		{ NULL, NULL,
		    "message 2 is not signed by an isp (does the isp have "
		    "a certificate: [tls] cert, or [isp] login_cert?)" },
		{ rogue_isp, isp_key,
		    "certificate verify failed: unable to get local issuer "
		    "certificate" },
		{ esp_cert, esp_key,
		    "certificate verify failed: unsuitable certificate "
		    "purpose" },
	};
	size_t i;

	/* The isp signs; the agent checks it, signs, and both finish. */
	isp_share(&c, &s, isp_cert, isp_key);
	CHECK(n2 > CERTLOGIN_MSG2_LEN + 2);
	CHECK(certlogin_client_isp(&c, m2, n2, store, NULL, isp, sizeof isp,
		  &why) == 0);
	CHECK(c.cl_isp_signed == 1);
	CHECK_STR_EQ(isp, "isp.test");
	CHECK(certlogin_client_sign(&c, ec_key, m2, CERTLOGIN_MSG2_LEN, m3,
		  sizeof m3, &n3, &why) == 0);
	CHECK(certlogin_server_finish(&s, m3, n3, m4, sizeof m4, &n4, sk,
		  &why) == 0);
	CHECK(certlogin_client_verify(&c, m4, n4, ck, &why) == 0);
	CHECK(memcmp(ck, sk, sizeof ck) == 0);
	memcpy(saved, m2, n2);
	nsaved = n2;

	/* Unsigned, or signed by the wrong party: refused. */
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		isp_share(&c, &s, bad[i].cert, bad[i].key);
		CHECK(certlogin_client_isp(&c, m2, n2, store, NULL, isp,
			  sizeof isp, &why) == -1);
		CHECK_STR_EQ(why, bad[i].why);
		CHECK(c.cl_state == 0); /* the exchange is over */
		certlogin_server_clear(&s);
	}

	/*
	 * A relay answers message 1 itself, signing its own share with the
	 * esp's key, whose certificate allows client use as well.
	 */
	X509 *both = user_cert(cn_name("esp.test"), esp_key,
	    "critical,digitalSignature,keyEncipherment",
	    "serverAuth,clientAuth");
	isp_share(&c, &s, both, esp_key);
	CHECK(certlogin_client_isp(&c, m2, n2, store, NULL, isp, sizeof isp,
		  &why) == -1);
	CHECK_STR_EQ(why,
	    "message 2: the signing certificate is an esp's (serverAuth)");
	certlogin_server_clear(&s);

	/* The isp's signed message 2 of another exchange: not this share. */
	memset(&c, 0, sizeof c);
	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	CHECK(certlogin_client_isp(&c, saved, nsaved, store, NULL, isp,
		  sizeof isp, &why) == -1);
	CHECK_STR_EQ(why, "message 2: the isp's signature does not verify");

	/* A flipped signature byte. */
	isp_share(&c, &s, isp_cert, isp_key);
	m2[n2 - 1] ^= 1;
	CHECK(certlogin_client_isp(&c, m2, n2, store, NULL, isp, sizeof isp,
		  &why) == -1);
	CHECK_STR_EQ(why, "message 2: the isp's signature does not verify");
	/* A certificate length running past the end. */
	memset(&c, 0, sizeof c);
	CHECK(
	    certlogin_client_start(&c, ec_cert, m1, sizeof m1, &n1, &why) == 0);
	m2[CERTLOGIN_MSG2_LEN] = 0xff;
	CHECK(certlogin_client_isp(&c, m2, n2, store, NULL, isp, sizeof isp,
		  &why) == -1);
	CHECK_STR_EQ(why, "message 2: the isp's certificate is not valid DER");
	certlogin_server_clear(&s);

	/*
	 * isp_name: the isp's certificate must carry one of the names. A
	 * user's certificate under the same CA (client use too) passes
	 * without names, and is refused with them.
	 */
	EVP_PKEY *user_key = keygen("EC");
	X509 *carol = user_cert(cn_name("carol"), user_key,
	    "critical,digitalSignature", "clientAuth");
	const char *names[][2] = {
		{ "isp.test", NULL },
		{ "other.test, isp.test", NULL },
		{ "\tother.test,,isp.test ", NULL },
		{ "*.test",
		    "certificate verify failed: the certificate carries "
		    "none of the names isp_name allows" },
		{ "other.test",
		    "certificate verify failed: the certificate carries none "
		    "of the names isp_name allows" },
		{ "isp",
		    "certificate verify failed: the certificate carries "
		    "none of the names isp_name allows" },
	};
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		isp_share(&c, &s, isp_cert, isp_key);
		CHECK(certlogin_client_isp(&c, m2, n2, store, names[i][0], isp,
			  sizeof isp, &why) == (names[i][1] == NULL ? 0 : -1));
		CHECK(c.cl_isp_signed == (names[i][1] == NULL));
		if (names[i][1] != NULL)
			CHECK_STR_EQ(why, names[i][1]);
		certlogin_client_clear(&c);
		certlogin_server_clear(&s);
	}
	isp_share(&c, &s, carol, user_key);
	CHECK(certlogin_client_isp(&c, m2, n2, store, NULL, isp, sizeof isp,
		  &why) == 0);
	CHECK(c.cl_isp_signed == 1);
	CHECK_STR_EQ(isp, "carol");
	certlogin_client_clear(&c);
	certlogin_server_clear(&s);
	isp_share(&c, &s, carol, user_key);
	CHECK(certlogin_client_isp(&c, m2, n2, store, "isp.test", isp,
		  sizeof isp, &why) == -1);
	CHECK_STR_EQ(why,
	    "certificate verify failed: the certificate carries none of the "
	    "names isp_name allows");
	CHECK(c.cl_isp_signed == 0);
	certlogin_server_clear(&s);
	X509_free(carol);
	EVP_PKEY_free(user_key);

	/* Without isp_ca the share is taken, unproven. */
	isp_share(&c, &s, NULL, NULL);
	CHECK(certlogin_client_isp(&c, m2, n2, NULL, NULL, isp, sizeof isp,
		  &why) == 0);
	CHECK(c.cl_isp_signed == 0);
	CHECK(certlogin_client_sign(&c, ec_key, m2, n2, m3, sizeof m3, &n3,
		  &why) == 0);
	certlogin_client_clear(&c);
	certlogin_server_clear(&s);

	X509_free(isp_cert);
	X509_free(esp_cert);
	X509_free(rogue_isp);
	X509_free(both);
	EVP_PKEY_free(isp_key);
	EVP_PKEY_free(esp_key);
}

int
main(void)
{
	make_pki();
	test_exchange();
	test_by_hand();
	test_refused();
	test_names();
	test_wrong_key();
	test_mitm();
	test_replay();
	test_confirm();
	test_low_order();
	test_lengths();
	test_misuse();
	test_ca_load();
	test_isp_signature();

	X509_STORE_free(store);
	X509 *certs[] = { ca, other_ca, ec_cert, ed_cert, rsa_cert, other_cert,
		expired, server_only, future, ka_only, x25519_cert, weak_cert,
		self_signed };
	EVP_PKEY *keys[] = { ca_key, other_key, ec_key, ed_key, rsa_key, x_key,
		weak_key };
	for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++)
		X509_free(certs[i]);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		EVP_PKEY_free(keys[i]);
	return unit_done("test_certlogin");
}
