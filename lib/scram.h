/*
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) with scrypt in place of PBKDF2: the
 * agent proves its user's password to the isp through the esp, which only
 * relays the messages and learns nothing it could replay.
 */
#ifndef DP_SCRAM_H
#define DP_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN  32 /* SHA-256 */
#define SCRAM_SALT_MAX 64
#define SCRAM_MSG_MAX  512 /* any one message, NUL included */
#define SCRAM_USER_MAX 64

/* What the isp stores for a user: "scram$N$r$p$SALT$STOREDKEY$SERVERKEY". */
struct scram_secret {
	uint64_t ss_n; /* scrypt cost */
	uint32_t ss_r, ss_p;
	unsigned char ss_salt[SCRAM_SALT_MAX];
	size_t ss_saltlen;
	unsigned char
	    ss_stored[SCRAM_KEY_LEN]; /* H(HMAC(salted, "Client Key")) */
	unsigned char ss_server[SCRAM_KEY_LEN]; /* HMAC(salted, "Server Key") */
};

/* The client's state across one exchange. */
struct scram_client {
	char sc_first_bare[SCRAM_MSG_MAX];
	char sc_nonce[64];
	unsigned char sc_pw[256];
	size_t sc_pwlen;
	unsigned char sc_server_sig[SCRAM_KEY_LEN];
	unsigned char sc_key[SCRAM_KEY_LEN];
};

/* The server's state across one exchange. */
struct scram_server {
	char sv_first_bare[SCRAM_MSG_MAX];
	char sv_first[SCRAM_MSG_MAX];
	char sv_nonce[128];
	struct scram_secret sv_secret;
};

int scram_secret_parse(const char *, struct scram_secret *, int *old);
char *scram_secret_format(const struct scram_secret *);
int scram_secret_make(const void *pw, size_t len, struct scram_secret *);
void scram_secret_dummy(const char *user, const unsigned char *key,
    size_t keylen, struct scram_secret *);
int scram_secret_check(const struct scram_secret *, const void *pw, size_t len);

int scram_client_start(struct scram_client *, const char *user, const void *pw,
    size_t len, char *out, size_t outlen);
int scram_client_cost_ok(uint64_t n, unsigned r, unsigned p);
int scram_client_final(struct scram_client *, const char *server_first,
    char *out, size_t outlen, const char **why);
int scram_client_verify(struct scram_client *, const char *server_final,
    unsigned char key[SCRAM_KEY_LEN], const char **why);
void scram_client_clear(struct scram_client *);

int scram_server_user(const char *client_first, char *user, size_t len);
int scram_server_first(struct scram_server *, const char *client_first,
    const struct scram_secret *, char *out, size_t outlen);
int scram_server_final(struct scram_server *, const char *client_final,
    char *out, size_t outlen, unsigned char key[SCRAM_KEY_LEN]);
void scram_server_clear(struct scram_server *);

#endif
