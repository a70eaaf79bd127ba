/*
 * Password hashes for SOCKS users: scrypt (memory-hard) through OpenSSL's
 * EVP_KDF, stored as "scrypt$N$r$p$SALT$HASH" with base64 salt and hash.
 * Passwords are never stored or logged in clear.
 */
#include "kdf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "xmalloc.h"

#define KDF_N    16384 /* 16 MiB with r = 8 */
#define KDF_R    8
#define KDF_P    1
#define KDF_SALT 16
#define KDF_OUT  32

/* Derive len bytes from a password with scrypt. */
static int
kdf_scrypt(const void *pw, size_t pwlen, const unsigned char *salt,
    size_t saltlen, uint64_t n, uint32_t r, uint32_t p, unsigned char *out,
    size_t len)
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
	ok = EVP_KDF_derive(ctx, out, len, params) == 1;
	EVP_KDF_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* A new hash string for a password (random salt). */
char *
kdf_hash(const char *pw)
{
	unsigned char salt[KDF_SALT], out[KDF_OUT];
	char s64[64], h64[64], *ret;

	if (RAND_bytes(salt, sizeof salt) != 1 ||
	    kdf_scrypt(pw, strlen(pw), salt, sizeof salt, KDF_N, KDF_R, KDF_P,
		out, sizeof out) != 0)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s64, salt, sizeof salt);
	EVP_EncodeBlock((unsigned char *)h64, out, sizeof out);
	xasprintf(&ret, "scrypt$%d$%d$%d$%s$%s", KDF_N, KDF_R, KDF_P, s64, h64);
	OPENSSL_cleanse(out, sizeof out);
	return ret;
}

/*
 * A hash of a random password with the default cost: checking a login
 * for an unknown user against it costs what a known user's costs.
 */
char *
kdf_dummy_hash(void)
{
	unsigned char r[32];
	char pw[65];
	size_t i;

	if (RAND_bytes(r, sizeof r) != 1)
		return NULL;
	for (i = 0; i < sizeof r; i++)
		snprintf(pw + 2 * i, 3, "%02x", r[i]);
	OPENSSL_cleanse(r, sizeof r);
	return kdf_hash(pw);
}

/* Split a hash string; returns 0 and fills the parts, or -1. */
static int
kdf_parse(const char *hash, uint64_t *n, uint32_t *r, uint32_t *p,
    unsigned char *salt, size_t *saltlen, unsigned char *out, size_t *outlen)
{
	char s64[128], h64[128];
	unsigned long long nn;
	unsigned rr, pp;
	int a, b;

	if (sscanf(hash,
		"scrypt$%llu$%u$%u$%127[A-Za-z0-9+/=]$%127[A-Za-z0-9+/=]", &nn,
		&rr, &pp, s64, h64) != 5)
		return -1;
	if (nn < 1024 || nn > (1 << 20) || (nn & (nn - 1)) != 0 || rr < 1 ||
	    rr > 32 || pp < 1 || pp > 16)
		return -1;
	if (strlen(s64) % 4 != 0 || strlen(h64) % 4 != 0 || strlen(s64) > 88 ||
	    strlen(h64) > 88)
		return -1;
	a = EVP_DecodeBlock(salt, (unsigned char *)s64, (int)strlen(s64));
	b = EVP_DecodeBlock(out, (unsigned char *)h64, (int)strlen(h64));
	if (a < 8 || b < 16)
		return -1;
	/* EVP_DecodeBlock counts padding bytes as zeros: drop them. */
	a -= (int)(strchr(s64, '=') ? strlen(strchr(s64, '=')) : 0);
	b -= (int)(strchr(h64, '=') ? strlen(strchr(h64, '=')) : 0);
	*n = nn;
	*r = rr;
	*p = pp;
	*saltlen = (size_t)a;
	*outlen = (size_t)b;
	return 0;
}

/* Is this a hash string we can check? */
int
kdf_valid(const char *hash)
{
	unsigned char salt[96], out[96];
	size_t sl, ol;
	uint64_t n;
	uint32_t r, p;

	return kdf_parse(hash, &n, &r, &p, salt, &sl, out, &ol) == 0;
}

/* Does the password match the hash? Constant-time comparison. */
int
kdf_verify(const char *pw, const char *hash)
{
	return kdf_verify_bytes(pw, strlen(pw), hash);
}

/* The same for a password of len bytes (it may hold any byte). */
int
kdf_verify_bytes(const void *pw, size_t len, const char *hash)
{
	unsigned char salt[96], want[96], got[96];
	size_t sl, ol;
	uint64_t n;
	uint32_t r, p;
	int ok;

	if (kdf_parse(hash, &n, &r, &p, salt, &sl, want, &ol) != 0 ||
	    kdf_scrypt(pw, len, salt, sl, n, r, p, got, ol) != 0)
		return 0;
	ok = CRYPTO_memcmp(got, want, ol) == 0;
	OPENSSL_cleanse(got, sizeof got);
	return ok;
}
