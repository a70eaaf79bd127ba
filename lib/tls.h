/* TLS 1.3 contexts with mutual authentication: external PSK or certificates. */
#ifndef DP_TLS_H
#define DP_TLS_H

#include <openssl/ssl.h>

struct conf;

struct tls_conf {
	char *tc_psk_file;
	char *tc_psk_identity;
	char *tc_cert;
	char *tc_key;
	char *tc_ca;
	char *tc_peer_name;
	unsigned char tc_psk[64];
	size_t tc_psk_len;
};

int tls_conf_load(const struct conf *, struct tls_conf *, char **cause);
void tls_conf_clear(struct tls_conf *);
SSL_CTX *tls_ctx_new(int server, struct tls_conf *, char **cause);
const char *tls_error_string(char *, size_t);

#endif
