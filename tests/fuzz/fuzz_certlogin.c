/*
 * libFuzzer: certificate login messages (lib/certlogin.c) as a hostile
 * esp or agent writes them, to the esp's peek and to the isp.
 *
 * Input: a 2-byte big-endian length L, then message 1 (L bytes, or what
 * is left), then message 3 (the rest). The whole input and message 1 go
 * to certlogin_peek_user; message 1 goes to certlogin_server_start with
 * a fixed CA, and when that accepts it, message 3 to
 * certlogin_server_finish.
 *
 * The CA's key is Ed25519 from a fixed seed, so the seeds in
 * tests/fuzz/corpus/certlogin (user certificates signed with it) verify:
 * the fuzzer reaches the signature check with a certificate the isp
 * takes. Invariants: the isp's user is the one the peek finds, and no
 * message 3 is accepted (the isp's X25519 key is new every time, so no
 * input can hold a signature over T).
 *
 * The whole input is also message 2 to an agent that names the fuzz CA
 * as isp_ca (certlogin_client_isp): it must never count as signed by an
 * isp (the agent's X25519 key is new every time), and without isp_ca it
 * is taken exactly when it holds the 64-byte share.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certlogin.h"

/* The fuzz CA's Ed25519 private key: a test value, public on purpose. */
static const unsigned char ca_seed[32] = "dynpass fuzz CA, not a secret!!";

static X509_STORE *store;
static X509 *agent_cert; /* CN=alice, signed by the fuzz CA */

/* An agent's certificate, CN=alice, Ed25519, signed by the CA's key. */
static X509 *
make_agent_cert(EVP_PKEY *cakey, X509_NAME *ca)
{
	static const unsigned char seed[32] = "dynpass fuzz agent, no secret";
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    sizeof seed);
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	if (k == NULL || x == NULL || n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		(const unsigned char *)"alice", -1, -1, 0) != 1 ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 2) != 1 ||
	    X509_set_subject_name(x, n) != 1 ||
	    X509_set_issuer_name(x, ca) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 36500, 0, NULL) == NULL ||
	    X509_set_pubkey(x, k) != 1 || X509_sign(x, cakey, NULL) <= 0)
		abort();
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	return x;
}

/* The fixed CA, "CN=dynpass fuzz CA", self-signed with ca_seed's key. */
static X509_STORE *
make_store(void)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
	    ca_seed, sizeof ca_seed);
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509_EXTENSION *e;
	X509V3_CTX ctx;
	X509_STORE *st = X509_STORE_new();

	if (k == NULL || x == NULL || n == NULL || st == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		(const unsigned char *)"dynpass fuzz CA", -1, -1, 0) != 1 ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_set_subject_name(x, n) != 1 ||
	    X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 36500, 0, NULL) == NULL ||
	    X509_set_pubkey(x, k) != 1)
		abort();
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
		 "critical,CA:TRUE")) == NULL ||
	    X509_add_ext(x, e, -1) != 1)
		abort();
	X509_EXTENSION_free(e);
	if (X509_sign(x, k, NULL) <= 0 || X509_STORE_add_cert(st, x) != 1)
		abort();
	agent_cert = make_agent_cert(k, n);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
	return st;
}

/* The agent's own message 2 check, with and without isp_ca. */
static void
fuzz_agent(const uint8_t *d, size_t len)
{
	struct certlogin_client c;
	uint8_t m1[CERTLOGIN_MSG_MAX];
	char isp[CERTLOGIN_USER_MAX + 1];
	const char *why;
	size_t n;
	int rc;

	if (certlogin_client_start(&c, agent_cert, m1, sizeof m1, &n, &why) !=
	    0)
		abort();
	if (certlogin_client_isp(&c, d, len, store, NULL, isp, sizeof isp,
		&why) == 0 ||
	    c.cl_isp_signed)
		abort(); /* a signature over a share nobody has seen */
	if (certlogin_client_start(&c, agent_cert, m1, sizeof m1, &n, &why) !=
	    0)
		abort();
	rc =
	    certlogin_client_isp(&c, d, len, NULL, NULL, isp, sizeof isp, &why);
	if ((rc == 0) != (len >= CERTLOGIN_MSG2_LEN) || c.cl_isp_signed)
		abort();
	certlogin_client_clear(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t len)
{
	char user[CERTLOGIN_USER_MAX + 1], peeked[CERTLOGIN_USER_MAX + 1];
	uint8_t out[CERTLOGIN_MSG_MAX];
	unsigned char key[CERTLOGIN_KEY_LEN];
	struct certlogin_server sv;
	const uint8_t *m1, *m3;
	size_t l1, l3, n;
	const char *why;
	int peek;

	if (store == NULL)
		store = make_store();
	fuzz_agent(d, len);
	certlogin_peek_user(d, len, user, sizeof user);
	if (len < 2)
		return 0;
	l1 = (size_t)d[0] << 8 | d[1];
	if (l1 > len - 2)
		l1 = len - 2;
	m1 = d + 2;
	m3 = m1 + l1;
	l3 = len - 2 - l1;

	peek = certlogin_peek_user(m1, l1, peeked, sizeof peeked);
	if (certlogin_server_start(&sv, m1, l1, store, user, sizeof user, out,
		sizeof out, &n, &why) != 0) {
		if (why == NULL || n != 0)
			abort();
		return 0;
	}
	/* What the isp accepts, the esp routes to the same user. */
	if (peek != 0 || strcmp(user, peeked) != 0 || n != CERTLOGIN_MSG2_LEN)
		abort();
	if (certlogin_server_finish(&sv, m3, l3, out, sizeof out, &n, key,
		&why) == 0)
		abort(); /* a signature over a T nobody has seen */
	certlogin_server_clear(&sv);
	return 0;
}
