/* TLS 1.3 contexts with mutual authentication: external PSK or certificates. */
#include "tls.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

#include "conf.h"
#include "xmalloc.h"

static const unsigned char tls_aes128gcmsha256[] = { 0x13, 0x01 };

/* Refuse a secret file anyone else can read or that is not a plain file. */
static int
tls_check_secret_file(const struct conf *c, const char *key, const char *path,
    char **cause)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return conf_error(cause, c, key, "%s: %s", path,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return conf_error(cause, c, key, "%s: not a regular file",
		    path);
	if (st.st_mode & (S_IROTH | S_IWOTH))
		return conf_error(cause, c, key,
		    "%s is world-accessible; run chmod 600 %s", path, path);
	return 0;
}

/* Read a hex PSK file into tc_psk. */
static int
tls_read_psk(const struct conf *c, struct tls_conf *tc, char **cause)
{
	char buf[512];
	ssize_t n;
	int fd, hi = -1;
	size_t i;

	if (tls_check_secret_file(c, "tls:psk_file", tc->tc_psk_file, cause) !=
	    0)
		return -1;
	if ((fd = open(tc->tc_psk_file, O_RDONLY)) == -1)
		return conf_error(cause, c, "tls:psk_file", "%s: %s",
		    tc->tc_psk_file, strerror(errno));
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return conf_error(cause, c, "tls:psk_file", "%s: %s",
		    tc->tc_psk_file, strerror(errno));
	tc->tc_psk_len = 0;
	for (i = 0; i < (size_t)n; i++) {
		int v;

		if (isspace((unsigned char)buf[i]))
			continue;
		if (!isxdigit((unsigned char)buf[i]))
			goto bad;
		v = isdigit((unsigned char)buf[i])
		    ? buf[i] - '0'
		    : tolower((unsigned char)buf[i]) - 'a' + 10;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (tc->tc_psk_len >= sizeof tc->tc_psk)
			goto bad;
		tc->tc_psk[tc->tc_psk_len++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	OPENSSL_cleanse(buf, sizeof buf);
	if (hi >= 0 || tc->tc_psk_len < 16)
		goto bad;
	return 0;
bad:
	OPENSSL_cleanse(buf, sizeof buf);
	return conf_error(cause, c, "tls:psk_file",
	    "%s must hold 32 to 128 hex digits (make one with "
	    "`openssl rand -hex 32`)",
	    tc->tc_psk_file);
}

/* Read the [tls] section and check the files it names. */
int
tls_conf_load(const struct conf *c, struct tls_conf *tc, char **cause)
{
	memset(tc, 0, sizeof *tc);
	conf_path_key(c, "tls:psk_file", &tc->tc_psk_file, cause);
	conf_path_key(c, "tls:cert", &tc->tc_cert, cause);
	conf_path_key(c, "tls:key", &tc->tc_key, cause);
	conf_path_key(c, "tls:ca", &tc->tc_ca, cause);
	tc->tc_psk_identity =
	    xstrdup(conf_str(c, "tls:psk_identity", "dynpass"));
	if (conf_str(c, "tls:peer_name", NULL) != NULL)
		tc->tc_peer_name = xstrdup(conf_str(c, "tls:peer_name", NULL));
	if (tc->tc_psk_file != NULL) {
		if (tc->tc_cert != NULL || tc->tc_key != NULL)
			return conf_error(cause, c, "tls:psk_file",
			    "use either psk_file or cert/key, not both");
		return tls_read_psk(c, tc, cause);
	}
	if (tc->tc_cert == NULL && tc->tc_key == NULL && tc->tc_ca == NULL)
		return conf_error(cause, c, "tls:psk_file",
		    "missing: set psk_file (or cert, key and ca)");
	if (tc->tc_cert == NULL)
		return conf_error(cause, c, "tls:cert", "missing");
	if (tc->tc_key == NULL)
		return conf_error(cause, c, "tls:key", "missing");
	if (tc->tc_ca == NULL)
		return conf_error(cause, c, "tls:ca",
		    "missing: the peer's certificate is checked against it");
	if (access(tc->tc_cert, R_OK) != 0)
		return conf_error(cause, c, "tls:cert", "%s: %s", tc->tc_cert,
		    strerror(errno));
	if (access(tc->tc_ca, R_OK) != 0)
		return conf_error(cause, c, "tls:ca", "%s: %s", tc->tc_ca,
		    strerror(errno));
	return tls_check_secret_file(c, "tls:key", tc->tc_key, cause);
}

/* Forget secrets and paths. */
void
tls_conf_clear(struct tls_conf *tc)
{
	OPENSSL_cleanse(tc->tc_psk, sizeof tc->tc_psk);
	free(tc->tc_psk_file);
	free(tc->tc_psk_identity);
	free(tc->tc_cert);
	free(tc->tc_key);
	free(tc->tc_ca);
	free(tc->tc_peer_name);
	memset(tc, 0, sizeof *tc);
}

/* The most recent OpenSSL error as text, clearing the queue. */
const char *
tls_error_string(char *buf, size_t len)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		snprintf(buf, len, "connection closed during handshake");
	else
		ERR_error_string_n(last, buf, len);
	return buf;
}

/* Build the resumption-style session that carries the external PSK. */
static SSL_SESSION *
tls_psk_session(SSL *ssl, const struct tls_conf *tc)
{
	const SSL_CIPHER *cipher;
	SSL_SESSION *sess;

	cipher = SSL_CIPHER_find(ssl, tls_aes128gcmsha256);
	if (cipher == NULL || (sess = SSL_SESSION_new()) == NULL)
		return NULL;
	if (!SSL_SESSION_set1_master_key(sess, tc->tc_psk, tc->tc_psk_len) ||
	    !SSL_SESSION_set_cipher(sess, cipher) ||
	    !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION)) {
		SSL_SESSION_free(sess);
		return NULL;
	}
	return sess;
}

/* Client side: offer the PSK under its identity. */
static int
tls_psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
    size_t *idlen, SSL_SESSION **sessp)
{
	struct tls_conf *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	SSL_SESSION *sess;

	*sessp = NULL;
	if ((sess = tls_psk_session(ssl, tc)) == NULL)
		return 0;
	if (md != NULL &&
	    md !=
		SSL_CIPHER_get_handshake_digest(
		    SSL_SESSION_get0_cipher(sess))) {
		SSL_SESSION_free(sess);
		return 1;
	}
	*id = (const unsigned char *)tc->tc_psk_identity;
	*idlen = strlen(tc->tc_psk_identity);
	*sessp = sess;
	return 1;
}

/* Server side: accept only our identity; the binder proves the key. */
static int
tls_psk_find_cb(SSL *ssl, const unsigned char *id, size_t idlen,
    SSL_SESSION **sessp)
{
	struct tls_conf *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	*sessp = NULL;
	if (idlen != strlen(tc->tc_psk_identity) ||
	    memcmp(id, tc->tc_psk_identity, idlen) != 0)
		return 1; /* unknown identity: the handshake fails */
	*sessp = tls_psk_session(ssl, tc);
	return *sessp != NULL;
}

/* A TLS 1.3-only context for the session, server or client side. */
SSL_CTX *
tls_ctx_new(int server, struct tls_conf *tc, char **cause)
{
	SSL_CTX *ctx;
	char err[256];

	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL)
		goto fail;
	SSL_CTX_set_app_data(ctx, tc);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (tc->tc_psk_len > 0) {
		if (!SSL_CTX_set_ciphersuites(ctx,
			"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"))
			goto fail;
		if (server)
			SSL_CTX_set_psk_find_session_callback(ctx,
			    tls_psk_find_cb);
		else
			SSL_CTX_set_psk_use_session_callback(ctx,
			    tls_psk_use_cb);
		return ctx;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, tc->tc_cert) != 1) {
		xasprintf(cause, "%s: cannot load certificate: %s", tc->tc_cert,
		    tls_error_string(err, sizeof err));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, tc->tc_key, SSL_FILETYPE_PEM) !=
		1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		xasprintf(cause,
		    "%s: cannot load key or it does not match %s: %s",
		    tc->tc_key, tc->tc_cert, tls_error_string(err, sizeof err));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_load_verify_locations(ctx, tc->tc_ca, NULL) != 1) {
		xasprintf(cause, "%s: cannot load CA: %s", tc->tc_ca,
		    tls_error_string(err, sizeof err));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
fail:
	xasprintf(cause, "cannot set up TLS: %s",
	    tls_error_string(err, sizeof err));
	SSL_CTX_free(ctx);
	return NULL;
}
