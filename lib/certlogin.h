/*
 * Certificate login for a client agent, through the esp (signed ephemeral
 * Diffie-Hellman): the agent proves it holds its certificate's private
 * key to the isp, and both derive a key the relaying esp cannot compute.
 *
 *   1 agent -> isp: agent_eph (32, X25519) || agent_nonce (32) || cert DER
 *   2 isp -> agent: isp_eph (32) || isp_nonce (32)
 *   3 agent -> isp: signature over T with the certificate's key
 *   4 isp -> agent: HMAC-SHA256(K, "dynpass isp confirm" || SHA-256(T))
 *
 *   T = "dynpass certificate login 1" || agent_eph || agent_nonce ||
 *       SHA-256(cert DER) || isp_eph || isp_nonce
 *   K = HKDF-SHA256(X25519 secret, salt SHA-256(T), "dynpass agent key")
 *
 * Message 4 shows the agent only that its peer saw T and knows the
 * X25519 secret: it does not authenticate the isp (see certlogin.c).
 * An isp with a certificate of its own signs message 2 as well:
 *
 *   2 isp -> agent: isp_eph || isp_nonce || u16 len || isp cert DER ||
 *                   signature over T2 with the isp's key
 *   T2 = "dynpass isp share 1" || T without its label
 *
 * and an agent that names the isps' CA (isp_ca) checks it before it
 * signs message 3: then the login proves the isp to the agent too.
 */
#ifndef DP_CERTLOGIN_H
#define DP_CERTLOGIN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CERTLOGIN_KEY_LEN   32    /* K, SHA-256 */
#define CERTLOGIN_MSG_MAX   16384 /* any one message */
#define CERTLOGIN_USER_MAX  64    /* the user name, the certificate's CN */
#define CERTLOGIN_EPH_LEN   32    /* an X25519 public key */
#define CERTLOGIN_NONCE_LEN 32
#define CERTLOGIN_MSG2_LEN  (CERTLOGIN_EPH_LEN + CERTLOGIN_NONCE_LEN)
#define CERTLOGIN_MSG4_LEN  32     /* HMAC-SHA256 */
#define CERTLOGIN_NAME_SEP  ", \t" /* between isp_name's names */
#define CERTLOGIN_T_LEN     (27 + 2 * CERTLOGIN_MSG2_LEN + 32) /* T */

/*
 * The agent's state across one exchange; zeroed is "not started". A start
 * function does not free an earlier exchange's keys: clear that first.
 */
struct certlogin_client {
	int cl_state;
	int cl_isp_signed; /* message 2 was signed by an isp under isp_ca */
	EVP_PKEY *cl_eph;  /* our X25519 key, until message 3 */
	EVP_PKEY *cl_cert; /* the certificate's public key */
	unsigned char cl_msg1[CERTLOGIN_MSG2_LEN]; /* agent_eph, agent_nonce */
	unsigned char cl_certhash[32];
	unsigned char cl_key[CERTLOGIN_KEY_LEN];
	unsigned char cl_confirm[CERTLOGIN_MSG4_LEN]; /* message 4 expected */
};

/* The isp's state across one exchange; zeroed is "not started". */
struct certlogin_server {
	int sv_state;
	EVP_PKEY *sv_peer; /* the certificate's public key */
	unsigned char sv_t[CERTLOGIN_T_LEN];
	unsigned char sv_key[CERTLOGIN_KEY_LEN];
};

int certlogin_client_start(struct certlogin_client *, X509 *cert, uint8_t *out,
    size_t outlen, size_t *n, const char **why);
int certlogin_client_sign(struct certlogin_client *, EVP_PKEY *key,
    const uint8_t *msg2, size_t len, uint8_t *out, size_t outlen, size_t *n,
    const char **why);
int certlogin_client_isp(struct certlogin_client *, const uint8_t *msg2,
    size_t len, X509_STORE *isp_ca, const char *isp_names, char *isp,
    size_t isplen, const char **why);
int certlogin_client_verify(struct certlogin_client *, const uint8_t *msg4,
    size_t len, unsigned char key[CERTLOGIN_KEY_LEN], const char **why);
void certlogin_client_clear(struct certlogin_client *);

int certlogin_peek_user(const uint8_t *msg1, size_t len, char *user,
    size_t userlen);

int certlogin_server_start(struct certlogin_server *, const uint8_t *msg1,
    size_t len, X509_STORE *ca, char *user, size_t userlen, uint8_t *out,
    size_t outlen, size_t *n, const char **why);
int certlogin_server_finish(struct certlogin_server *, const uint8_t *msg3,
    size_t len, uint8_t *out, size_t outlen, size_t *n,
    unsigned char key[CERTLOGIN_KEY_LEN], const char **why);
int certlogin_server_sign(struct certlogin_server *, X509 *cert, EVP_PKEY *key,
    uint8_t *out, size_t outlen, size_t *n, const char **why);
void certlogin_server_clear(struct certlogin_server *);

X509_STORE *certlogin_ca_load(const char *pemfile, char **cause);
int certlogin_signer_load(const char *certfile, const char *keyfile,
    X509 **cert, EVP_PKEY **key, char **cause);
void certlogin_ca_digest(X509_STORE *, unsigned char out[32]);

#endif
