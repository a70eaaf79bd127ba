/*
 * TLS 1.3 contexts with mutual authentication: external PSKs (one per
 * isp identity) or certificates whose extended key usage names the role.
 */
#ifndef DP_TLS_H
#define DP_TLS_H

#include <openssl/ssl.h>

struct conf;

#define TLS_ID_MAX 64

/* Roles, as in HELLO. */
enum tls_role { TLS_ROLE_ISP = 1, TLS_ROLE_ESP = 2 };

/* One pre-shared key and the identity it proves. */
struct tls_psk {
	char tp_id[TLS_ID_MAX + 1];
	unsigned char tp_key[64];
	size_t tp_len;
};

struct tls_conf {
	int tc_role;
	char *tc_psk_file;
	char *tc_psk_identity; /* as configured, or NULL */
	char *tc_cert;
	char *tc_key;
	char *tc_ca;
	char *tc_peer_name;
	char tc_cert_name[TLS_ID_MAX + 1]; /* the own certificate's CN */
	struct tls_psk *tc_psks; /* isp: its own; esp: the isps it accepts */
	size_t tc_npsks;
	char *tc_warning; /* e.g. a certificate that expires soon */
};

int tls_conf_load(const struct conf *, struct tls_conf *, int role,
    char **cause);
int tls_conf_set_identity(const struct conf *, struct tls_conf *,
    const char *id, char **cause);
int tls_conf_psk_mode(const struct tls_conf *);
void tls_conf_clear(struct tls_conf *);
int tls_id_valid(const char *);
SSL_CTX *tls_ctx_new(struct tls_conf *, char **cause);
int tls_ctx_retire(SSL_CTX *, struct tls_conf *);
SSL_CTX *tls_door_ctx_new(const char *cert, const char *key, char **cause);
SSL_CTX *tls_agent_ctx_new(const char *ca, char **cause);
int tls_set_peer_host(SSL *, const char *host);
int tls_peer_check(SSL *, const struct tls_conf *, char *id, size_t idlen,
    char *why, size_t whylen);
int tls_check_secret_file(const struct conf *, const char *key,
    const char *path, char **cause);
const char *tls_error_string(char *, size_t);
const char *tls_verify_error(long);

#endif
