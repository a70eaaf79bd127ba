/*
 * Certificate login for a client agent, relayed by the esp: signed
 * ephemeral Diffie-Hellman.
 *
 *   1 agent -> isp: agent_eph || agent_nonce || certificate DER
 *   2 isp -> agent: isp_eph || isp_nonce
 *   3 agent -> isp: Sign(certificate key, T)
 *   4 isp -> agent: HMAC-SHA256(K, "dynpass isp confirm" || SHA-256(T))
 *
 *   T = "dynpass certificate login 1" || agent_eph || agent_nonce ||
 *       SHA-256(certificate DER) || isp_eph || isp_nonce
 *   K = HKDF-SHA256(ikm X25519(eph, eph'), salt SHA-256(T),
 *       info "dynpass agent key"), 32 bytes
 *
 * The ephemerals are X25519 keys, the nonces 32 random bytes. The isp
 * takes the certificate only if it verifies against the CA its policy
 * names, for SSL client use (an extended key usage must allow
 * clientAuth, a key usage digitalSignature), with keys of at least 112
 * bits of security (OpenSSL's auth level 2: RSA 2048, P-256, Ed25519)
 * and no SHA-1 signatures. The chain is the leaf alone: intermediate CAs
 * go into the store with the root. The user is the subject's only
 * commonName, 1 to 64 printable ASCII characters without space, '/' or
 * ':'.
 *
 * Signatures: RSA (and RSA-PSS keys) sign with RSASSA-PSS, SHA-256,
 * MGF1-SHA-256 and a 32-byte salt (as TLS 1.3's rsa_pss_rsae_sha256);
 * ECDSA with SHA-256 (DER-encoded r, s); Ed25519 and Ed448 as pure
 * EdDSA over T.
 *
 * The esp sees every message but not the X25519 secret, so it cannot
 * compute K, and the signature covers both ephemerals, so it cannot put
 * its own key in either message without the isp refusing message 3.
 * What message 4 does not do is authenticate the isp: a relay that
 * answers message 1 itself (its own message 2) can compute a K and a
 * message 4 that the agent accepts, though the isp would never accept
 * that login. The agent must not take a confirmed K as proof that it
 * talks to the isp, only that nobody else can use its login.
 *
 * That is what the isp's signature on message 2 is for. An isp whose
 * session credential is a certificate appends it and a signature with
 * its key over T2 ("dynpass isp share 1" || T without its label: the
 * label keeps the agent's signature over T and the isp's apart). An
 * agent that names the isps' CA takes message 2 only if the certificate
 * verifies under it, for SSL client use and not for SSL server use (an
 * esp's certificate is for server use), and the signature verifies:
 * a relay cannot sign the ephemeral key it put in.
 *
 * Every failure ends the exchange: the state is cleared and cannot be
 * retried.
 */
#include "certlogin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "xmalloc.h"

#define CL_LABEL   "dynpass certificate login 1"
#define CL_KEYTAG  "dynpass agent key"
#define CL_CONFIRM "dynpass isp confirm"
#define CL_SHARE   "dynpass isp share 1"
#define CL_HASH    32                 /* SHA-256 */
#define CL_HEAD    CERTLOGIN_MSG2_LEN /* eph || nonce, messages 1 and 2 */
#define CL_CERTMAX (CERTLOGIN_MSG_MAX - CL_HEAD)

_Static_assert(sizeof CL_LABEL - 1 + 2 * CL_HEAD + CL_HASH == CERTLOGIN_T_LEN,
    "CERTLOGIN_T_LEN is the transcript's length");

/* Where an exchange is. */
enum {
	CL_IDLE = 0,
	CL_WAIT2, /* client: message 1 sent */
	CL_WAIT3, /* server: message 2 sent */
	CL_WAIT4, /* client: message 3 sent */
};

/* What the X509_verify_cert errors a login meets most say, for *why. */
static const struct {
	int code;
	const char *why;
} certlogin_verify_whys[] = {
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
	    "certificate verify failed: unable to get issuer certificate" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
	    "certificate verify failed: unable to get local issuer "
	    "certificate" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
	    "certificate verify failed: unable to verify the first "
	    "certificate" },
	{ X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY,
	    "certificate verify failed: unable to decode issuer public key" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE,
	    "certificate verify failed: certificate signature failure" },
	{ X509_V_ERR_CERT_NOT_YET_VALID,
	    "certificate verify failed: certificate is not yet valid" },
	{ X509_V_ERR_CERT_HAS_EXPIRED,
	    "certificate verify failed: certificate has expired" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD,
	    "certificate verify failed: format error in certificate's "
	    "notBefore field" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD,
	    "certificate verify failed: format error in certificate's "
	    "notAfter field" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
	    "certificate verify failed: self-signed certificate" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
	    "certificate verify failed: self-signed certificate in "
	    "certificate chain" },
	{ X509_V_ERR_CERT_CHAIN_TOO_LONG,
	    "certificate verify failed: certificate chain too long" },
	{ X509_V_ERR_INVALID_CA,
	    "certificate verify failed: invalid CA certificate" },
	{ X509_V_ERR_PATH_LENGTH_EXCEEDED,
	    "certificate verify failed: path length constraint exceeded" },
	{ X509_V_ERR_INVALID_PURPOSE,
	    "certificate verify failed: unsuitable certificate purpose" },
	{ X509_V_ERR_HOSTNAME_MISMATCH,
	    "certificate verify failed: the certificate carries none of the "
	    "names isp_name allows" },
	{ X509_V_ERR_CERT_UNTRUSTED,
	    "certificate verify failed: certificate not trusted" },
	{ X509_V_ERR_CERT_REJECTED,
	    "certificate verify failed: certificate rejected" },
	{ X509_V_ERR_KEYUSAGE_NO_CERTSIGN,
	    "certificate verify failed: key usage does not include "
	    "certificate signing" },
	{ X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION,
	    "certificate verify failed: unhandled critical extension" },
	{ X509_V_ERR_INVALID_EXTENSION,
	    "certificate verify failed: invalid or inconsistent certificate "
	    "extension" },
	{ X509_V_ERR_INVALID_NON_CA,
	    "certificate verify failed: invalid non-CA certificate (has CA "
	    "markings)" },
	{ X509_V_ERR_EE_KEY_TOO_SMALL,
	    "certificate verify failed: EE certificate key too weak" },
	{ X509_V_ERR_CA_KEY_TOO_SMALL,
	    "certificate verify failed: CA certificate key too weak" },
	{ X509_V_ERR_CA_MD_TOO_WEAK,
	    "certificate verify failed: CA signature digest algorithm too "
	    "weak" },
	{ X509_V_ERR_CERT_REVOKED,
	    "certificate verify failed: certificate revoked" },
};

/* SHA-256 of a buffer. */
static void
certlogin_sha256(const void *p, size_t n, unsigned char out[CL_HASH])
{
	SHA256(p, n, out);
}

/* Is this a key type we sign and verify with? */
static int
certlogin_key_ok(EVP_PKEY *k)
{
	return k != NULL &&
	    (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS") ||
		EVP_PKEY_is_a(k, "EC") || EVP_PKEY_is_a(k, "ED25519") ||
		EVP_PKEY_is_a(k, "ED448"));
}

/* A new X25519 key and its public half; 0 or -1. */
static int
certlogin_eph(EVP_PKEY **k, unsigned char pub[CERTLOGIN_EPH_LEN])
{
	size_t n = CERTLOGIN_EPH_LEN;

	if ((*k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519")) == NULL)
		return -1;
	if (EVP_PKEY_get_raw_public_key(*k, pub, &n) != 1 ||
	    n != CERTLOGIN_EPH_LEN) {
		EVP_PKEY_free(*k);
		*k = NULL;
		return -1;
	}
	return 0;
}

/*
 * The X25519 secret between our key and the peer's public bytes; -1 if
 * it fails or is all zero (a low-order point).
 */
static int
certlogin_x25519(EVP_PKEY *mine, const unsigned char peer[CERTLOGIN_EPH_LEN],
    unsigned char ss[CERTLOGIN_EPH_LEN])
{
	static const unsigned char zero[CERTLOGIN_EPH_LEN];
	EVP_PKEY *pk;
	EVP_PKEY_CTX *ctx = NULL;
	size_t n = CERTLOGIN_EPH_LEN;
	int ok = 0;

	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer,
	    CERTLOGIN_EPH_LEN);
	if (pk != NULL && (ctx = EVP_PKEY_CTX_new(mine, NULL)) != NULL)
		ok = EVP_PKEY_derive_init(ctx) == 1 &&
		    EVP_PKEY_derive_set_peer(ctx, pk) == 1 &&
		    EVP_PKEY_derive(ctx, ss, &n) == 1 &&
		    n == CERTLOGIN_EPH_LEN &&
		    CRYPTO_memcmp(ss, zero, CERTLOGIN_EPH_LEN) != 0;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	if (!ok)
		OPENSSL_cleanse(ss, CERTLOGIN_EPH_LEN);
	return ok ? 0 : -1;
}

/* T from the heads of messages 1 and 2 and the certificate's hash. */
static void
certlogin_transcript(const unsigned char m1[CL_HEAD],
    const unsigned char certhash[CL_HASH], const unsigned char m2[CL_HEAD],
    unsigned char t[CERTLOGIN_T_LEN])
{
	size_t o = 0;

	memcpy(t, CL_LABEL, strlen(CL_LABEL));
	o += strlen(CL_LABEL);
	memcpy(t + o, m1, CL_HEAD);
	o += CL_HEAD;
	memcpy(t + o, certhash, CL_HASH);
	o += CL_HASH;
	memcpy(t + o, m2, CL_HEAD);
}

/* K from the X25519 secret and T; 0 or -1. */
static int
certlogin_derive(const unsigned char ss[CERTLOGIN_EPH_LEN],
    const unsigned char t[CERTLOGIN_T_LEN],
    unsigned char key[CERTLOGIN_KEY_LEN])
{
	unsigned char th[CL_HASH];
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[5], *q = params;
	int ok;

	certlogin_sha256(t, CERTLOGIN_T_LEN, th);
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL)
		return -1;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return -1;
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ss,
	    CERTLOGIN_EPH_LEN);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, th,
	    sizeof th);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)CL_KEYTAG, strlen(CL_KEYTAG));
	*q = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, key, CERTLOGIN_KEY_LEN, params) == 1;
	EVP_KDF_CTX_free(ctx);
	if (!ok)
		OPENSSL_cleanse(key, CERTLOGIN_KEY_LEN);
	return ok ? 0 : -1;
}

/* Message 4: HMAC-SHA256(K, "dynpass isp confirm" || SHA-256(T)); 0 or -1. */
static int
certlogin_confirm(const unsigned char key[CERTLOGIN_KEY_LEN],
    const unsigned char t[CERTLOGIN_T_LEN],
    unsigned char out[CERTLOGIN_MSG4_LEN])
{
	unsigned char m[sizeof CL_CONFIRM - 1 + CL_HASH];
	unsigned int mlen = CERTLOGIN_MSG4_LEN;

	memcpy(m, CL_CONFIRM, sizeof CL_CONFIRM - 1);
	certlogin_sha256(t, CERTLOGIN_T_LEN, m + sizeof CL_CONFIRM - 1);
	if (HMAC(EVP_sha256(), key, CERTLOGIN_KEY_LEN, m, sizeof m, out,
		&mlen) == NULL ||
	    mlen != CERTLOGIN_MSG4_LEN)
		return -1;
	return 0;
}

/*
 * A signing or verifying context for a certificate key: SHA-256 (PSS for
 * RSA), or none for EdDSA. NULL on failure.
 */
static EVP_MD_CTX *
certlogin_sigctx(EVP_PKEY *k, int sign)
{
	EVP_MD_CTX *md;
	EVP_PKEY_CTX *pctx = NULL;
	const char *dgst = "SHA256";
	int rsa, ok;

	if (!certlogin_key_ok(k) || (md = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (EVP_PKEY_is_a(k, "ED25519") || EVP_PKEY_is_a(k, "ED448"))
		dgst = NULL;
	rsa = EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS");
	if (sign)
		ok = EVP_DigestSignInit_ex(md, &pctx, dgst, NULL, NULL, k,
			 NULL) == 1;
	else
		ok = EVP_DigestVerifyInit_ex(md, &pctx, dgst, NULL, NULL, k,
			 NULL) == 1;
	if (ok && rsa)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx,
			 RSA_PKCS1_PSS_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
			RSA_PSS_SALTLEN_DIGEST) == 1;
	if (!ok) {
		EVP_MD_CTX_free(md);
		return NULL;
	}
	return md;
}

/*
 * The certificate of message 1: the DER after the two heads, exactly.
 * NULL with *why if it is not one.
 */
static X509 *
certlogin_parse(const uint8_t *m1, size_t len, const char **why)
{
	const unsigned char *p;
	X509 *x;

	*why = "message 1 is too short";
	if (len <= CL_HEAD)
		return NULL;
	*why = "message 1 is too long";
	if (len > CERTLOGIN_MSG_MAX)
		return NULL;
	p = m1 + CL_HEAD;
	*why = "message 1: the certificate is not valid DER";
	x = d2i_X509(NULL, &p, (long)(len - CL_HEAD));
	ERR_clear_error();
	if (x == NULL)
		return NULL;
	if (p != m1 + len) {
		*why = "message 1: bytes after the certificate";
		X509_free(x);
		return NULL;
	}
	return x;
}

/*
 * The user a certificate names: its subject's only commonName, 1 to 64
 * printable ASCII characters but space, '/' and ':'. 0, or -1.
 */
static int
certlogin_cn(X509 *x, char *user, size_t userlen)
{
	const X509_NAME *name = X509_get_subject_name(x);
	unsigned char *s = NULL;
	int i, n, j, ok;

	if (name == NULL ||
	    (i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return -1;
	n = ASN1_STRING_to_UTF8(&s,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	ERR_clear_error();
	ok = s != NULL && n >= 1 && n <= CERTLOGIN_USER_MAX &&
	    (size_t)n < userlen;
	for (j = 0; ok && j < n; j++)
		if (s[j] < 0x21 || s[j] > 0x7e || s[j] == '/' || s[j] == ':')
			ok = 0;
	if (ok) {
		memcpy(user, s, (size_t)n);
		user[n] = '\0';
	}
	OPENSSL_free(s);
	return ok ? 0 : -1;
}

/*
 * Verify a certificate against the CA for SSL client use and, with names
 * (a list separated by commas or blanks), for one of those host names in
 * its subjectAltName, or its common name when it has no DNS name; 0, or
 * -1.
 */
static int
certlogin_verify(X509 *x, X509_STORE *ca, const char *names, const char **why)
{
	X509_VERIFY_PARAM *vp;
	X509_STORE_CTX *ctx;
	size_t i, len;
	int ok, err;

	*why = "certificate verify failed: no CA to verify it against";
	if (ca == NULL)
		return -1;
	*why = "certificate verify failed: out of memory";
	if ((ctx = X509_STORE_CTX_new()) == NULL)
		return -1;
	ok = X509_STORE_CTX_init(ctx, ca, x, NULL) == 1 &&
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1;
	if (ok) {
		vp = X509_STORE_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_auth_level(vp, 2);
		for (; ok && names != NULL && *names != '\0'; names += len) {
			names += strspn(names, CERTLOGIN_NAME_SEP);
			if ((len = strcspn(names, CERTLOGIN_NAME_SEP)) > 0 &&
			    X509_VERIFY_PARAM_add1_host(vp, names, len) != 1) {
				*why = "isp_name: not a host name";
				ok = 0;
			}
		}
		if (ok && (ok = X509_verify_cert(ctx) == 1) == 0) {
			err = X509_STORE_CTX_get_error(ctx);
			*why = "certificate verify failed";
			for (i = 0; i < sizeof certlogin_verify_whys /
				 sizeof certlogin_verify_whys[0];
			     i++)
				if (certlogin_verify_whys[i].code == err)
					*why = certlogin_verify_whys[i].why;
		}
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/*
 * Message 1 for a certificate: a fresh X25519 key and nonce, then the
 * certificate's DER. 0, or -1 with *why.
 */
int
certlogin_client_start(struct certlogin_client *c, X509 *cert, uint8_t *out,
    size_t outlen, size_t *n, const char **why)
{
	unsigned char *p;
	int der;

	memset(c, 0, sizeof *c);
	*n = 0;
	*why = "the certificate cannot be encoded";
	if (cert == NULL || (der = i2d_X509(cert, NULL)) <= 0)
		goto fail;
	*why = "the certificate is too large for message 1";
	if ((size_t)der > CL_CERTMAX)
		goto fail;
	*why = "output buffer too small";
	if (outlen < CL_HEAD + (size_t)der)
		goto fail;
	*why = "the certificate's key type is not supported (RSA, ECDSA, "
	       "Ed25519 or Ed448)";
	if (!certlogin_key_ok(c->cl_cert = X509_get_pubkey(cert)))
		goto fail;
	*why = "cannot make an ephemeral key";
	if (certlogin_eph(&c->cl_eph, c->cl_msg1) != 0 ||
	    RAND_bytes(c->cl_msg1 + CERTLOGIN_EPH_LEN, CERTLOGIN_NONCE_LEN) !=
		1)
		goto fail;
	memcpy(out, c->cl_msg1, CL_HEAD);
	p = out + CL_HEAD;
	if (i2d_X509(cert, &p) != der)
		goto fail;
	certlogin_sha256(out + CL_HEAD, (size_t)der, c->cl_certhash);
	*n = CL_HEAD + (size_t)der;
	c->cl_state = CL_WAIT2;
	return 0;
fail:
	ERR_clear_error();
	certlogin_client_clear(c);
	return -1;
}

/*
 * Answer message 2: sign T with the certificate's private key (message
 * 3) and derive K and the message 4 to expect. 0, or -1 with *why.
 */
int
certlogin_client_sign(struct certlogin_client *c, EVP_PKEY *key,
    const uint8_t *m2, size_t len, uint8_t *out, size_t outlen, size_t *n,
    const char **why)
{
	unsigned char ss[CERTLOGIN_EPH_LEN], t[CERTLOGIN_T_LEN];
	EVP_MD_CTX *md = NULL;
	size_t siglen = 0;

	*n = 0;
	*why = "the exchange is not waiting for message 2";
	if (c->cl_state != CL_WAIT2)
		goto fail;
	*why = "message 2 is not 64 bytes";
	if (len != CERTLOGIN_MSG2_LEN)
		goto fail;
	*why = "the private key does not match the certificate";
	if (key == NULL || EVP_PKEY_eq(c->cl_cert, key) != 1)
		goto fail;
	*why = "message 2: the isp's ephemeral key is unusable";
	if (certlogin_x25519(c->cl_eph, m2, ss) != 0)
		goto fail;
	certlogin_transcript(c->cl_msg1, c->cl_certhash, m2, t);
	*why = "cannot derive the key";
	if (certlogin_derive(ss, t, c->cl_key) != 0 ||
	    certlogin_confirm(c->cl_key, t, c->cl_confirm) != 0)
		goto fail;
	*why = "signing failed";
	if ((md = certlogin_sigctx(key, 1)) == NULL ||
	    EVP_DigestSign(md, NULL, &siglen, t, sizeof t) != 1)
		goto fail;
	*why = "output buffer too small";
	if (siglen > outlen || siglen > CERTLOGIN_MSG_MAX)
		goto fail;
	*why = "signing failed";
	if (EVP_DigestSign(md, out, &siglen, t, sizeof t) != 1 || siglen == 0)
		goto fail;
	EVP_MD_CTX_free(md);
	OPENSSL_cleanse(ss, sizeof ss);
	/* Forward secrecy: the ephemeral is not needed any more. */
	EVP_PKEY_free(c->cl_eph);
	c->cl_eph = NULL;
	*n = siglen;
	c->cl_state = CL_WAIT4;
	return 0;
fail:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	OPENSSL_cleanse(ss, sizeof ss);
	certlogin_client_clear(c);
	return -1;
}

/*
 * Check message 4, the isp's confirmation of T under K; only then is K
 * given out. 0, or -1 with *why. Either way the exchange is over.
 */
int
certlogin_client_verify(struct certlogin_client *c, const uint8_t *m4,
    size_t len, unsigned char key[CERTLOGIN_KEY_LEN], const char **why)
{
	int ok;

	*why = "the exchange is not waiting for message 4";
	if (c->cl_state != CL_WAIT4) {
		certlogin_client_clear(c);
		return -1;
	}
	*why = "message 4 does not confirm our transcript";
	ok = len == CERTLOGIN_MSG4_LEN &&
	    CRYPTO_memcmp(m4, c->cl_confirm, CERTLOGIN_MSG4_LEN) == 0;
	if (ok)
		memcpy(key, c->cl_key, CERTLOGIN_KEY_LEN);
	certlogin_client_clear(c);
	return ok ? 0 : -1;
}

/* Forget the client's keys and secrets; safe twice and on zeroes. */
void
certlogin_client_clear(struct certlogin_client *c)
{
	EVP_PKEY_free(c->cl_eph);
	EVP_PKEY_free(c->cl_cert);
	OPENSSL_cleanse(c, sizeof *c);
}

/*
 * The user message 1 names (its certificate's common name), verifying
 * nothing: for routing the login only. 0, or -1 if malformed.
 */
int
certlogin_peek_user(const uint8_t *m1, size_t len, char *user, size_t userlen)
{
	const char *why;
	X509 *x;
	int rc;

	if ((x = certlogin_parse(m1, len, &why)) == NULL)
		return -1;
	rc = certlogin_cn(x, user, userlen);
	X509_free(x);
	return rc;
}

/*
 * Take message 1: verify its certificate against ca, name the user, and
 * answer message 2 (our X25519 key and nonce). K is derived now and kept
 * until message 3 proves the certificate's key. 0, or -1 with *why.
 */
int
certlogin_server_start(struct certlogin_server *sv, const uint8_t *m1,
    size_t len, X509_STORE *ca, char *user, size_t userlen, uint8_t *out,
    size_t outlen, size_t *n, const char **why)
{
	unsigned char m2[CL_HEAD], ss[CERTLOGIN_EPH_LEN], h[CL_HASH];
	char name[CERTLOGIN_USER_MAX + 1];
	EVP_PKEY *eph = NULL;
	uint32_t ku;
	X509 *x;

	memset(sv, 0, sizeof *sv);
	*n = 0;
	if ((x = certlogin_parse(m1, len, why)) == NULL)
		return -1;
	if (certlogin_verify(x, ca, NULL, why) != 0)
		goto fail;
	*why = "the certificate's key usage does not allow digital "
	       "signatures";
	ku = X509_get_key_usage(x);
	if ((ku & KU_DIGITAL_SIGNATURE) == 0)
		goto fail;
	*why = "the certificate's common name is not a user name (exactly "
	       "one, 1 to 64 printable characters without space, '/' or "
	       "':')";
	if (certlogin_cn(x, name, sizeof name) != 0)
		goto fail;
	*why = "user name buffer too small";
	if (strlen(name) >= userlen)
		goto fail;
	*why = "the certificate's key type is not supported (RSA, ECDSA, "
	       "Ed25519 or Ed448)";
	if (!certlogin_key_ok(sv->sv_peer = X509_get_pubkey(x)))
		goto fail;
	*why = "output buffer too small";
	if (outlen < CL_HEAD)
		goto fail;
	*why = "cannot make an ephemeral key";
	if (certlogin_eph(&eph, m2) != 0 ||
	    RAND_bytes(m2 + CERTLOGIN_EPH_LEN, CERTLOGIN_NONCE_LEN) != 1)
		goto fail;
	*why = "message 1: the agent's ephemeral key is unusable";
	if (certlogin_x25519(eph, m1, ss) != 0)
		goto fail;
	certlogin_sha256(m1 + CL_HEAD, len - CL_HEAD, h);
	certlogin_transcript(m1, h, m2, sv->sv_t);
	*why = "cannot derive the key";
	if (certlogin_derive(ss, sv->sv_t, sv->sv_key) != 0)
		goto fail;
	OPENSSL_cleanse(ss, sizeof ss);
	EVP_PKEY_free(eph);
	X509_free(x);
	memcpy(out, m2, CL_HEAD);
	*n = CL_HEAD;
	memcpy(user, name, strlen(name) + 1);
	sv->sv_state = CL_WAIT3;
	return 0;
fail:
	OPENSSL_cleanse(ss, sizeof ss);
	EVP_PKEY_free(eph);
	X509_free(x);
	ERR_clear_error();
	certlogin_server_clear(sv);
	return -1;
}

/*
 * Take message 3: the signature over T must verify with the
 * certificate's key. Then message 4 goes to out and K to key. 0, or -1
 * with *why. Either way the exchange is over.
 */
int
certlogin_server_finish(struct certlogin_server *sv, const uint8_t *m3,
    size_t len, uint8_t *out, size_t outlen, size_t *n,
    unsigned char key[CERTLOGIN_KEY_LEN], const char **why)
{
	EVP_MD_CTX *md = NULL;
	int ok = 0;

	*n = 0;
	*why = "the exchange is not waiting for message 3";
	if (sv->sv_state != CL_WAIT3)
		goto done;
	*why = "message 3 is empty";
	if (len == 0)
		goto done;
	*why = "message 3 is too long";
	if (len > CERTLOGIN_MSG_MAX)
		goto done;
	*why = "output buffer too small";
	if (outlen < CERTLOGIN_MSG4_LEN)
		goto done;
	*why = "signature does not match the certificate";
	if ((md = certlogin_sigctx(sv->sv_peer, 0)) == NULL ||
	    EVP_DigestVerify(md, m3, len, sv->sv_t, sizeof sv->sv_t) != 1)
		goto done;
	*why = "cannot derive the key";
	if (certlogin_confirm(sv->sv_key, sv->sv_t, out) != 0)
		goto done;
	memcpy(key, sv->sv_key, CERTLOGIN_KEY_LEN);
	*n = CERTLOGIN_MSG4_LEN;
	ok = 1;
done:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	certlogin_server_clear(sv);
	return ok ? 0 : -1;
}

/* Forget the server's key and state; safe twice and on zeroes. */
void
certlogin_server_clear(struct certlogin_server *sv)
{
	EVP_PKEY_free(sv->sv_peer);
	OPENSSL_cleanse(sv, sizeof *sv);
}

/* T2, what the isp signs: CL_SHARE || T without its label. */
static size_t
certlogin_share(const unsigned char t[CERTLOGIN_T_LEN], unsigned char *out)
{
	size_t body = CERTLOGIN_T_LEN - (sizeof CL_LABEL - 1);

	memcpy(out, CL_SHARE, sizeof CL_SHARE - 1);
	memcpy(out + sizeof CL_SHARE - 1, t + sizeof CL_LABEL - 1, body);
	return sizeof CL_SHARE - 1 + body;
}

/*
 * Sign message 2 as the isp: after the 64 bytes certlogin_server_start
 * put in out (*n), append the isp's certificate and a signature with its
 * key over T2. 0, or -1 with *why (out and *n are left as they were).
 */
int
certlogin_server_sign(struct certlogin_server *sv, X509 *cert, EVP_PKEY *key,
    uint8_t *out, size_t outlen, size_t *n, const char **why)
{
	unsigned char t2[sizeof CL_SHARE - 1 + CERTLOGIN_T_LEN];
	EVP_MD_CTX *md = NULL;
	size_t t2len, siglen = 0, o = *n;
	unsigned char *p;
	int der, rc = -1;

	*why = "the exchange is not waiting for message 3";
	if (sv->sv_state != CL_WAIT3 || o != CL_HEAD)
		goto done;
	*why = "the isp's certificate cannot be encoded";
	if (cert == NULL || (der = i2d_X509(cert, NULL)) <= 0 || der > 0xffff)
		goto done;
	*why = "the isp's key cannot sign (RSA, ECDSA, Ed25519 or Ed448)";
	t2len = certlogin_share(sv->sv_t, t2);
	if (key == NULL || (md = certlogin_sigctx(key, 1)) == NULL ||
	    EVP_DigestSign(md, NULL, &siglen, t2, t2len) != 1)
		goto done;
	*why = "message 2 does not fit";
	if (o + 2 + (size_t)der + siglen > outlen ||
	    o + 2 + (size_t)der + siglen > CERTLOGIN_MSG_MAX)
		goto done;
	out[o] = (uint8_t)(der >> 8);
	out[o + 1] = (uint8_t)der;
	p = out + o + 2;
	if (i2d_X509(cert, &p) != der)
		goto done;
	*why = "signing failed";
	if (EVP_DigestSign(md, out + o + 2 + der, &siglen, t2, t2len) != 1 ||
	    siglen == 0)
		goto done;
	*n = o + 2 + (size_t)der + siglen;
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return rc;
}

/*
 * The isp's part of message 2, before certlogin_client_sign (which takes
 * the first 64 bytes). With isp_ca, the certificate must verify under it
 * for SSL client use and not server use, carry one of isp_names when they
 * are given (certlogin_verify), and its key must have signed
 * T2: then cl_isp_signed is set and isp names the certificate's subject.
 * Without isp_ca the part is not looked at. 0, or -1 with *why; on -1
 * the exchange is over.
 */
int
certlogin_client_isp(struct certlogin_client *c, const uint8_t *m2, size_t len,
    X509_STORE *isp_ca, const char *isp_names, char *isp, size_t isplen,
    const char **why)
{
	unsigned char t[CERTLOGIN_T_LEN];
	unsigned char t2[sizeof CL_SHARE - 1 + CERTLOGIN_T_LEN];
	const unsigned char *p;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	size_t der, t2len;
	int ok = 0;

	*why = "the exchange is not waiting for message 2";
	if (c->cl_state != CL_WAIT2)
		goto done;
	*why = "message 2 is too short";
	if (len < CERTLOGIN_MSG2_LEN)
		goto done;
	if (isp_ca == NULL) {
		ok = 1;
		goto done;
	}
	*why = "message 2 is not signed by an isp (does the isp have a "
	       "certificate: [tls] cert, or [isp] login_cert?)";
	if (len < CL_HEAD + 2)
		goto done;
	der = (size_t)m2[CL_HEAD] << 8 | m2[CL_HEAD + 1];
	*why = "message 2: the isp's certificate is not valid DER";
	if (der == 0 || CL_HEAD + 2 + der >= len)
		goto done;
	p = m2 + CL_HEAD + 2;
	x = d2i_X509(NULL, &p, (long)der);
	if (x == NULL || p != m2 + CL_HEAD + 2 + der)
		goto done;
	if (certlogin_verify(x, isp_ca, isp_names, why) != 0)
		goto done;
	*why = "message 2: the signing certificate is an esp's (serverAuth)";
	if ((X509_get_extended_key_usage(x) & XKU_SSL_SERVER) != 0)
		goto done;
	*why = "message 2: the isp's key type is not supported";
	if ((pk = X509_get_pubkey(x)) == NULL ||
	    (md = certlogin_sigctx(pk, 0)) == NULL)
		goto done;
	certlogin_transcript(c->cl_msg1, c->cl_certhash, m2, t);
	t2len = certlogin_share(t, t2);
	*why = "message 2: the isp's signature does not verify";
	if (EVP_DigestVerify(md, m2 + CL_HEAD + 2 + der,
		len - CL_HEAD - 2 - der, t2, t2len) != 1)
		goto done;
	if (isp != NULL && isplen > 0) {
		isp[0] = '\0';
		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, isp, (int)isplen);
	}
	c->cl_isp_signed = 1;
	ok = 1;
done:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	X509_free(x);
	ERR_clear_error();
	if (!ok)
		certlogin_client_clear(c);
	return ok ? 0 : -1;
}

/*
 * A store of the CA certificates in a PEM file (root and intermediates),
 * for certlogin_server_start. NULL with *cause (allocated) on error.
 */
X509_STORE *
certlogin_ca_load(const char *path, char **cause)
{
	X509_STORE *st = NULL;
	X509 *x;
	BIO *b;
	int count = 0;
	unsigned long e;

	*cause = NULL;
	if ((b = BIO_new_file(path, "r")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		ERR_clear_error();
		return NULL;
	}
	if ((st = X509_STORE_new()) == NULL) {
		xasprintf(cause, "%s: out of memory", path);
		goto fail;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		count++;
		if (X509_check_ca(x) == 0) {
			xasprintf(cause, "%s: certificate %d is not a CA", path,
			    count);
			X509_free(x);
			goto fail;
		}
		if (X509_STORE_add_cert(st, x) != 1) {
			xasprintf(cause, "%s: certificate %d cannot be added",
			    path, count);
			X509_free(x);
			goto fail;
		}
		X509_free(x);
	}
	e = ERR_peek_last_error();
	if (count == 0 || ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		if (count == 0)
			xasprintf(cause, "%s: no PEM certificate in it", path);
		else
			xasprintf(cause,
			    "%s: malformed PEM after certificate %d", path,
			    count);
		goto fail;
	}
	ERR_clear_error();
	BIO_free(b);
	return st;
fail:
	ERR_clear_error();
	X509_STORE_free(st);
	BIO_free(b);
	return NULL;
}

/* Sort SHA-256 digests. */
static int
certlogin_digest_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/*
 * A SHA-256 over the store's certificates, in any order: equal for the
 * same set of CAs, so a reload can tell whether it changed.
 */
void
certlogin_ca_digest(X509_STORE *st, unsigned char out[32])
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	unsigned char *d;
	unsigned int dl;
	int i, n = 0, k = objs != NULL ? sk_X509_OBJECT_num(objs) : 0;
	X509 *x;

	d = xcalloc((size_t)k + 1, 32);
	for (i = 0; i < k; i++)
		if ((x = X509_OBJECT_get0_X509(
			 sk_X509_OBJECT_value(objs, i))) != NULL &&
		    X509_digest(x, EVP_sha256(), d + 32 * n, &dl) == 1)
			n++;
	qsort(d, (size_t)n, 32, certlogin_digest_cmp);
	if (EVP_Digest(d, 32 * (size_t)n, out, NULL, EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
	free(d);
}

/*
 * The certificate and key an isp signs message 2 with: a PEM certificate
 * for client use and not server use (agents refuse an esp's), and its
 * private key. 0, or -1 with *cause (allocated).
 */
int
certlogin_signer_load(const char *certfile, const char *keyfile, X509 **cert,
    EVP_PKEY **key, char **cause)
{
	BIO *b;

	*cert = NULL;
	*key = NULL;
	*cause = NULL;
	if ((b = BIO_new_file(certfile, "r")) == NULL) {
		xasprintf(cause, "%s: %s", certfile, strerror(errno));
		goto fail;
	}
	*cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (*cert == NULL) {
		xasprintf(cause, "%s: no PEM certificate in it", certfile);
		goto fail;
	}
	if (X509_check_purpose(*cert, X509_PURPOSE_SSL_CLIENT, 0) != 1 ||
	    (X509_get_extended_key_usage(*cert) & XKU_SSL_SERVER) != 0) {
		xasprintf(cause,
		    "%s: not a certificate for client use only (agents "
		    "refuse one for server use, as an esp's)",
		    certfile);
		goto fail;
	}
	if ((b = BIO_new_file(keyfile, "r")) == NULL) {
		xasprintf(cause, "%s: %s", keyfile, strerror(errno));
		goto fail;
	}
	*key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (*key == NULL) {
		xasprintf(cause, "%s: no PEM private key in it", keyfile);
		goto fail;
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		xasprintf(cause, "%s: not the key of %s", keyfile, certfile);
		goto fail;
	}
	ERR_clear_error();
	return 0;
fail:
	X509_free(*cert);
	EVP_PKEY_free(*key);
	*cert = NULL;
	*key = NULL;
	ERR_clear_error();
	return -1;
}
