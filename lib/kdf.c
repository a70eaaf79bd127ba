/*
 * Password hashes for users: the SCRAM secrets of lib/scram.c, scrypt
 * (memory-hard) through OpenSSL's EVP_KDF. The stored form lets the isp
 * check a password given in clear (the SOCKS door) and a SCRAM proof
 * (an agent), and lets nobody log in with it. Passwords are never
 * stored or logged in clear.
 */
#include "kdf.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "scram.h"

/* A new hash string for a password (random salt). */
char *
kdf_hash(const char *pw)
{
	struct scram_secret ss;
	char *ret;

	if (scram_secret_make(pw, strlen(pw), &ss) != 0)
		return NULL;
	ret = scram_secret_format(&ss);
	OPENSSL_cleanse(&ss, sizeof ss);
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

/* Is this a hash string we can check? 2 if in the old scrypt$ form. */
int
kdf_valid(const char *hash)
{
	struct scram_secret ss;
	int old;

	if (scram_secret_parse(hash, &ss, &old) != 0)
		return 0;
	return old ? 2 : 1;
}

/* Would a client agent run this hash's cost for a login through the esp? */
int
kdf_agent_cost_ok(const char *hash)
{
	struct scram_secret ss;
	int old;

	return scram_secret_parse(hash, &ss, &old) == 0 &&
	    scram_client_cost_ok(ss.ss_n, ss.ss_r, ss.ss_p);
}

/* The new form of an old hash (allocated), or NULL. */
char *
kdf_convert(const char *hash)
{
	struct scram_secret ss;
	int old;

	if (scram_secret_parse(hash, &ss, &old) != 0)
		return NULL;
	return scram_secret_format(&ss);
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
	struct scram_secret ss;
	int old;

	if (scram_secret_parse(hash, &ss, &old) != 0)
		return 0;
	return scram_secret_check(&ss, pw, len);
}
