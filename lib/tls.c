/*
 * TLS 1.3 contexts with mutual authentication, failing closed:
 *
 * - Pre-shared keys. The isp offers its identity and key; the esp holds
 *   one key per isp identity ([isp NAME] psk_file) and finds the key by
 *   the identity, so the identity is what the binder proves. A peer that
 *   answers with a certificate instead of the PSK is refused: the isp
 *   refuses every certificate in PSK mode, and both sides check after the
 *   handshake that the PSK was used.
 * - Certificates. Each side's extended key usage names its role: an esp
 *   certificate is serverAuth only, an isp certificate clientAuth only,
 *   so one cannot stand in for the other. The isp always checks the esp's
 *   name; an isp's id is its certificate's common name.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <iniparser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "escape.h"
#include "log.h"
#include "xmalloc.h"

#define TLS_EXPIRY_WARN_DAYS 30

static const unsigned char tls_aes128gcmsha256[] = { 0x13, 0x01 };
static int tls_exidx = -1;     /* the struct tls_psk an esp matched */
static int tls_ctx_owned = -1; /* a retired context's own tls_conf */

/* An id: 1 to 64 of a-z 0-9 . _ - (iniparser lower-cases section names). */
int
tls_id_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= TLS_ID_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* Refuse a secret file that group or others can read or that is not a file. */
int
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
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return conf_error(cause, c, key,
		    "%s is accessible to group or others (mode %03o); run "
		    "chmod 600 %s",
		    path, (unsigned)(st.st_mode & 0777), path);
	return 0;
}

/* Read a hex PSK file into p. */
static int
tls_read_psk(const struct conf *c, const char *key, const char *path,
    struct tls_psk *p, char **cause)
{
	char buf[512];
	ssize_t n;
	int fd, hi = -1;
	size_t i;

	if (tls_check_secret_file(c, key, path, cause) != 0)
		return -1;
	if ((fd = open(path, O_RDONLY)) == -1)
		return conf_error(cause, c, key, "%s: %s", path,
		    strerror(errno));
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return conf_error(cause, c, key, "%s: %s", path,
		    strerror(errno));
	p->tp_len = 0;
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
		if (p->tp_len >= sizeof p->tp_key)
			goto bad;
		p->tp_key[p->tp_len++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	OPENSSL_cleanse(buf, sizeof buf);
	if (hi >= 0 || p->tp_len < 16)
		goto bad;
	return 0;
bad:
	OPENSSL_cleanse(buf, sizeof buf);
	return conf_error(cause, c, key,
	    "%s must hold 32 to 128 hex digits (make one with "
	    "`openssl rand -hex 32`)",
	    path);
}

/* Add an accepted identity with the key in path; no duplicates. */
static int
tls_add_psk(const struct conf *c, struct tls_conf *tc, const char *key,
    const char *id, const char *path, char **cause)
{
	struct tls_psk p;
	size_t i;

	memset(&p, 0, sizeof p);
	if (!tls_id_valid(id))
		return conf_error(cause, c, key,
		    "identity \"%s\" is not 1 to 64 of a-z 0-9 . _ -", id);
	snprintf(p.tp_id, sizeof p.tp_id, "%s", id);
	if (tls_read_psk(c, key, path, &p, cause) != 0)
		return -1;
	for (i = 0; i < tc->tc_npsks; i++) {
		if (strcmp(tc->tc_psks[i].tp_id, id) == 0) {
			OPENSSL_cleanse(&p, sizeof p);
			return conf_error(cause, c, key,
			    "isp \"%s\" is listed twice", id);
		}
		if (tc->tc_psks[i].tp_len == p.tp_len &&
		    CRYPTO_memcmp(tc->tc_psks[i].tp_key, p.tp_key, p.tp_len) ==
			0) {
			OPENSSL_cleanse(&p, sizeof p);
			return conf_error(cause, c, key,
			    "%s holds the same key as isp \"%s\": each isp "
			    "needs its own key, or either could act as the "
			    "other",
			    path, tc->tc_psks[i].tp_id);
		}
	}
	tc->tc_psks =
	    xrealloc(tc->tc_psks, (tc->tc_npsks + 1) * sizeof *tc->tc_psks);
	tc->tc_psks[tc->tc_npsks++] = p;
	OPENSSL_cleanse(&p, sizeof p);
	return 0;
}

/* An esp's [isp NAME] psk_file sections. */
static int
tls_load_isp_sections(const struct conf *c, struct tls_conf *tc, char **cause)
{
	dictionary *d = conf_dict(c);
	char key[300], *path = NULL;
	const char *sec;
	int i, n = iniparser_getnsec(d), rc;

	for (i = 0; i < n; i++) {
		sec = iniparser_getsecname(d, i);
		if (strncmp(sec, "isp ", 4) != 0)
			continue;
		snprintf(key, sizeof key, "%s:psk_file", sec);
		conf_path_key(c, key, &path, cause);
		if (path == NULL)
			return conf_error(cause, c, key,
			    "missing: the key that isp \"%s\" proves itself "
			    "with",
			    sec + 4);
		if (tc->tc_cert != NULL) {
			free(path);
			return conf_error(cause, c, key,
			    "use pre-shared keys or certificates, not both (in "
			    "certificate mode an isp's certificate names it)");
		}
		rc = tls_add_psk(c, tc, key, sec + 4, path, cause);
		free(path);
		path = NULL;
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* The first certificate in a PEM file, or NULL. */
static X509 *
tls_read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

/* Days (rounded down) from now until t; negative once it has passed. */
static int
tls_days_left(const ASN1_TIME *t)
{
	int days = 0, secs = 0;

	if (ASN1_TIME_diff(&days, &secs, NULL, t) != 1)
		return -1;
	if (days == 0 && secs < 0)
		return -1;
	return days;
}

/* Refuse an expired or not yet valid certificate; warn when it ends soon. */
static int
tls_check_dates(const struct conf *c, struct tls_conf *tc, const char *key,
    const char *path, X509 *x, char **cause)
{
	char when[64];
	int left;
	BIO *b;
	char *w;

	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		return conf_error(cause, c, key,
		    "%s is not valid yet (check the clock)", path);
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return conf_error(cause, c, key, "out of memory");
	ASN1_TIME_print(b, X509_get0_notAfter(x));
	memset(when, 0, sizeof when);
	BIO_read(b, when, sizeof when - 1);
	BIO_free(b);
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
		return conf_error(cause, c, key, "%s expired on %s; renew it",
		    path, when);
	left = tls_days_left(X509_get0_notAfter(x));
	if (left >= 0 && left < TLS_EXPIRY_WARN_DAYS) {
		xasprintf(&w, "%s%s%s expires in %d days (%s); renew it",
		    tc->tc_warning ? tc->tc_warning : "",
		    tc->tc_warning ? "; " : "", path, left, when);
		free(tc->tc_warning);
		tc->tc_warning = w;
	}
	return 0;
}

/* The role a certificate's extended key usage names, or 0 if none or both. */
static int
tls_cert_role(X509 *x)
{
	uint32_t xku;

	if ((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) == 0)
		return 0;
	xku =
	    X509_get_extended_key_usage(x) & (XKU_SSL_SERVER | XKU_SSL_CLIENT);
	if (xku == XKU_SSL_SERVER)
		return TLS_ROLE_ESP;
	if (xku == XKU_SSL_CLIENT)
		return TLS_ROLE_ISP;
	return 0;
}

/*
 * A certificate's subject common name into buf: exactly one, as UTF-8,
 * whole (never cut to fit), with no NUL byte inside; -1 otherwise.
 */
static int
tls_cert_cn(X509 *x, char *buf, size_t len)
{
	X509_NAME *name = X509_get_subject_name(x);
	unsigned char *u = NULL;
	int i, n;

	if ((i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return -1;
	n = ASN1_STRING_to_UTF8(&u,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n <= 0 || (size_t)n >= len || memchr(u, '\0', (size_t)n) != NULL) {
		OPENSSL_free(u);
		return -1;
	}
	memcpy(buf, u, (size_t)n);
	buf[n] = '\0';
	OPENSSL_free(u);
	return 0;
}

/*
 * Is id one of the names in list (space- or comma-separated)? At the
 * esp in certificate mode, [tls] peer_name lists the isps it accepts.
 */
static int
tls_name_listed(const char *list, const char *id)
{
	size_t n = strlen(id), m;
	const char *p = list;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		m = strcspn(p, " \t,");
		if (m == n && m > 0 && strncmp(p, id, n) == 0)
			return 1;
		p += m;
	}
	return 0;
}

/* What a role's certificate must say, for messages. */
static const char *
tls_role_eku(int role)
{
	return role == TLS_ROLE_ESP
	    ? "an esp certificate's extended key usage is serverAuth only"
	    : "an isp certificate's extended key usage is clientAuth only";
}

/* Check our own certificate and the CA: dates, role, name. */
static int
tls_check_certs(const struct conf *c, struct tls_conf *tc, char **cause)
{
	X509 *x;
	int rc;

	if ((x = tls_read_cert(tc->tc_cert)) == NULL)
		return conf_error(cause, c, "tls:cert",
		    "%s: no PEM certificate in it", tc->tc_cert);
	rc = tls_check_dates(c, tc, "tls:cert", tc->tc_cert, x, cause);
	if (rc == 0 && tls_cert_role(x) != tc->tc_role)
		rc = conf_error(cause, c, "tls:cert",
		    "%s is not an %s certificate: %s (create it with "
		    "-addext extendedKeyUsage=%s)",
		    tc->tc_cert, tc->tc_role == TLS_ROLE_ESP ? "esp" : "isp",
		    tls_role_eku(tc->tc_role),
		    tc->tc_role == TLS_ROLE_ESP ? "serverAuth" : "clientAuth");
	if (rc == 0 && tc->tc_role == TLS_ROLE_ISP &&
	    (tls_cert_cn(x, tc->tc_cert_name, sizeof tc->tc_cert_name) != 0 ||
		!tls_id_valid(tc->tc_cert_name)))
		rc = conf_error(cause, c, "tls:cert",
		    "%s: an isp certificate's common name is its id, 1 to 64 "
		    "of a-z 0-9 . _ -",
		    tc->tc_cert);
	X509_free(x);
	if (rc != 0)
		return -1;
	if ((x = tls_read_cert(tc->tc_ca)) == NULL)
		return conf_error(cause, c, "tls:ca",
		    "%s: no PEM certificate in it", tc->tc_ca);
	rc = tls_check_dates(c, tc, "tls:ca", tc->tc_ca, x, cause);
	X509_free(x);
	return rc;
}

/*
 * The esp in certificate mode: [tls] peer_name must list the isps it
 * accepts, by the common names of their certificates, so that another
 * client certificate under the same CA (an agent's user's, a device's)
 * is not taken for an isp.
 */
static int
tls_check_peer_names(const struct conf *c, struct tls_conf *tc, char **cause)
{
	char id[TLS_ID_MAX + 2];
	const char *p;
	size_t m;

	if (tc->tc_peer_name == NULL)
		return conf_error(cause, c, "tls:peer_name",
		    "missing: in certificate mode, the isps this esp accepts, "
		    "by their certificates' common names (e.g. peer_name = "
		    "isp-a isp-b)");
	for (p = tc->tc_peer_name; *p != '\0'; p += m) {
		p += strspn(p, " \t,");
		if ((m = strcspn(p, " \t,")) == 0)
			continue;
		snprintf(id, sizeof id, "%.*s",
		    (int)(m < sizeof id - 1 ? m : sizeof id - 1), p);
		if (m > TLS_ID_MAX || !tls_id_valid(id))
			return conf_error(cause, c, "tls:peer_name",
			    "\"%.*s\" is not an isp id (1 to 64 of a-z 0-9 . _ "
			    "-)",
			    (int)(m > 80 ? 80 : m), p);
	}
	if (strspn(tc->tc_peer_name, " \t,") == strlen(tc->tc_peer_name))
		return conf_error(cause, c, "tls:peer_name",
		    "empty: name the isps this esp accepts");
	return 0;
}

/* Read the [tls] section (and an esp's [isp NAME] keys); check the files. */
int
tls_conf_load(const struct conf *c, struct tls_conf *tc, int role, char **cause)
{
	const char *v;

	memset(tc, 0, sizeof *tc);
	tc->tc_role = role;
	conf_path_key(c, "tls:psk_file", &tc->tc_psk_file, cause);
	conf_path_key(c, "tls:cert", &tc->tc_cert, cause);
	conf_path_key(c, "tls:key", &tc->tc_key, cause);
	conf_path_key(c, "tls:ca", &tc->tc_ca, cause);
	if ((v = conf_str(c, "tls:psk_identity", NULL)) != NULL)
		tc->tc_psk_identity = xstrdup(v);
	if ((v = conf_str(c, "tls:peer_name", NULL)) != NULL)
		tc->tc_peer_name = xstrdup(v);
	if (role == TLS_ROLE_ESP && tls_load_isp_sections(c, tc, cause) != 0)
		return -1;
	if (tc->tc_psk_file != NULL || tc->tc_npsks > 0) {
		if (tc->tc_cert != NULL || tc->tc_key != NULL)
			return conf_error(cause, c, "tls:psk_file",
			    "use either pre-shared keys or cert/key, not both");
		if (tc->tc_peer_name != NULL)
			return conf_error(cause, c, "tls:peer_name",
			    "only with certificates: with a pre-shared key "
			    "the key itself proves the esp; remove it");
		if (tc->tc_psk_file != NULL && role == TLS_ROLE_ESP)
			/* One isp, known by [tls] psk_identity. */
			return tls_add_psk(c, tc, "tls:psk_file",
			    tc->tc_psk_identity ? tc->tc_psk_identity
						: "dynpass",
			    tc->tc_psk_file, cause);
		if (tc->tc_psk_file != NULL)
			/* The identity is set by tls_conf_set_identity. */
			return tls_add_psk(c, tc, "tls:psk_file", "dynpass",
			    tc->tc_psk_file, cause);
		return 0;
	}
	if (tc->tc_cert == NULL && tc->tc_key == NULL && tc->tc_ca == NULL)
		return conf_error(cause, c, "tls:psk_file",
		    role == TLS_ROLE_ESP
			? "missing: set psk_file, or [isp NAME] psk_file for "
			  "each isp, or cert, key and ca"
			: "missing: set psk_file (or cert, key and ca)");
	if (tc->tc_cert == NULL)
		return conf_error(cause, c, "tls:cert", "missing");
	if (tc->tc_key == NULL)
		return conf_error(cause, c, "tls:key", "missing");
	if (tc->tc_ca == NULL)
		return conf_error(cause, c, "tls:ca",
		    "missing: the peer's certificate is checked against it");
	if (tc->tc_psk_identity != NULL)
		return conf_error(cause, c, "tls:psk_identity",
		    "only with a pre-shared key; remove it");
	if (role == TLS_ROLE_ESP && tls_check_peer_names(c, tc, cause) != 0)
		return -1;
	if (access(tc->tc_cert, R_OK) != 0)
		return conf_error(cause, c, "tls:cert", "%s: %s", tc->tc_cert,
		    strerror(errno));
	if (access(tc->tc_ca, R_OK) != 0)
		return conf_error(cause, c, "tls:ca", "%s: %s", tc->tc_ca,
		    strerror(errno));
	if (tls_check_secret_file(c, "tls:key", tc->tc_key, cause) != 0)
		return -1;
	return tls_check_certs(c, tc, cause);
}

/*
 * The isp's identity: in PSK mode [tls] psk_identity, else [isp] id, else
 * "dynpass"; in certificate mode the certificate's common name. An [isp]
 * id that says otherwise is an error, with what to write instead.
 */
int
tls_conf_set_identity(const struct conf *c, struct tls_conf *tc, const char *id,
    char **cause)
{
	const char *want;

	if (!tls_conf_psk_mode(tc)) {
		if (id != NULL && strcmp(id, tc->tc_cert_name) != 0)
			return conf_error(cause, c, "isp:id",
			    "\"%s\", but the certificate %s names this isp "
			    "\"%s\" (its common name is the id): remove id, "
			    "or use a certificate for \"%s\"",
			    id, tc->tc_cert, tc->tc_cert_name, id);
		return 0;
	}
	if (tc->tc_psk_identity != NULL && id != NULL &&
	    strcmp(tc->tc_psk_identity, id) != 0)
		return conf_error(cause, c, "isp:id",
		    "\"%s\", but [tls] psk_identity is \"%s\": the esp knows "
		    "an isp by its key's identity; remove id, or set "
		    "psk_identity = %s",
		    id, tc->tc_psk_identity, id);
	want = tc->tc_psk_identity ? tc->tc_psk_identity : id ? id : "dynpass";
	if (!tls_id_valid(want))
		return conf_error(cause, c,
		    tc->tc_psk_identity ? "tls:psk_identity" : "isp:id",
		    "\"%s\" is not 1 to 64 of a-z 0-9 . _ -", want);
	snprintf(tc->tc_psks[0].tp_id, sizeof tc->tc_psks[0].tp_id, "%s", want);
	return 0;
}

/* Pre-shared keys (else certificates)? */
int
tls_conf_psk_mode(const struct tls_conf *tc)
{
	return tc->tc_npsks > 0;
}

/* Forget secrets and paths. */
void
tls_conf_clear(struct tls_conf *tc)
{
	if (tc->tc_psks != NULL)
		OPENSSL_cleanse(tc->tc_psks,
		    tc->tc_npsks * sizeof *tc->tc_psks);
	free(tc->tc_psks);
	free(tc->tc_psk_file);
	free(tc->tc_psk_identity);
	free(tc->tc_cert);
	free(tc->tc_key);
	free(tc->tc_ca);
	free(tc->tc_peer_name);
	free(tc->tc_warning);
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

/* Build the resumption-style session that carries an external PSK. */
static SSL_SESSION *
tls_psk_session(SSL *ssl, const struct tls_psk *p)
{
	const SSL_CIPHER *cipher;
	SSL_SESSION *sess;

	cipher = SSL_CIPHER_find(ssl, tls_aes128gcmsha256);
	if (cipher == NULL || (sess = SSL_SESSION_new()) == NULL)
		return NULL;
	if (!SSL_SESSION_set1_master_key(sess, p->tp_key, p->tp_len) ||
	    !SSL_SESSION_set_cipher(sess, cipher) ||
	    !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION)) {
		SSL_SESSION_free(sess);
		return NULL;
	}
	return sess;
}

/* Client side: offer the PSK under our identity. */
static int
tls_psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
    size_t *idlen, SSL_SESSION **sessp)
{
	struct tls_conf *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	SSL_SESSION *sess;

	*sessp = NULL;
	if ((sess = tls_psk_session(ssl, &tc->tc_psks[0])) == NULL)
		return 0;
	if (md != NULL &&
	    md !=
		SSL_CIPHER_get_handshake_digest(
		    SSL_SESSION_get0_cipher(sess))) {
		SSL_SESSION_free(sess);
		return 1;
	}
	*id = (const unsigned char *)tc->tc_psks[0].tp_id;
	*idlen = strlen(tc->tc_psks[0].tp_id);
	*sessp = sess;
	return 1;
}

/* Say which identity a peer offered that is not configured (a line a second). */
static void
tls_psk_unknown(const unsigned char *id, size_t idlen)
{
	static struct log_limit unknown;
	char shown[4 * 64 + 4];

	esc_bytes(shown, sizeof shown, id, idlen > 64 ? 64 : idlen, 0);
	log_warnx_limited(&unknown,
	    "tls: a peer offered the pre-shared key identity \"%s\", which is "
	    "not configured here",
	    shown);
}

/* Server side: the key of the offered identity; the binder proves it. */
static int
tls_psk_find_cb(SSL *ssl, const unsigned char *id, size_t idlen,
    SSL_SESSION **sessp)
{
	struct tls_conf *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	size_t i;

	*sessp = NULL;
	for (i = 0; i < tc->tc_npsks; i++) {
		if (idlen != strlen(tc->tc_psks[i].tp_id) ||
		    memcmp(id, tc->tc_psks[i].tp_id, idlen) != 0)
			continue;
		if ((*sessp = tls_psk_session(ssl, &tc->tc_psks[i])) == NULL)
			return 0;
		SSL_set_ex_data(ssl, tls_exidx, &tc->tc_psks[i]);
		return 1;
	}
	tls_psk_unknown(id, idlen);
	return 1; /* unknown identity: no PSK, so the handshake fails */
}

/* Why a certificate check failed, for logs. */
const char *
tls_verify_error(long v)
{
	if (v == X509_V_ERR_APPLICATION_VERIFICATION)
		return "the peer sent a certificate where the pre-shared key "
		       "was expected";
	return X509_verify_cert_error_string(v);
}

/* In PSK mode a certificate from the peer is never enough. */
static int
tls_refuse_cert_cb(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* A TLS 1.3-only context for our role. */
/* A retired context is gone: so is the configuration it owned. */
static void
tls_ctx_owned_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL) {
		tls_conf_clear(ptr);
		free(ptr);
	}
}

/*
 * A context that new handshakes no longer use (a reload replaced it):
 * it takes over its configuration and goes, with it, once the last
 * session that uses it is freed (each SSL holds a reference). -1 if it
 * could not: then both stay until exit.
 */
int
tls_ctx_retire(SSL_CTX *ctx, struct tls_conf *tc)
{
	struct tls_conf *own = xmalloc(sizeof *own);

	*own = *tc;
	memset(tc, 0, sizeof *tc);
	if (tls_ctx_owned == -1)
		tls_ctx_owned = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    tls_ctx_owned_free);
	SSL_CTX_set_app_data(ctx, own);
	if (tls_ctx_owned == -1 ||
	    !SSL_CTX_set_ex_data(ctx, tls_ctx_owned, own))
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

SSL_CTX *
tls_ctx_new(struct tls_conf *tc, char **cause)
{
	int server = tc->tc_role == TLS_ROLE_ESP;
	SSL_CTX *ctx;
	char err[256];

	if (tls_exidx == -1)
		tls_exidx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL)
		goto fail;
	SSL_CTX_set_app_data(ctx, tc);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (tls_conf_psk_mode(tc)) {
		if (!SSL_CTX_set_ciphersuites(ctx,
			"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"))
			goto fail;
		if (server)
			SSL_CTX_set_psk_find_session_callback(ctx,
			    tls_psk_find_cb);
		else {
			SSL_CTX_set_psk_use_session_callback(ctx,
			    tls_psk_use_cb);
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER,
			    tls_refuse_cert_cb);
		}
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
	/* The chain is checked for the peer's role (EKU) below as well. */
	SSL_CTX_set_purpose(ctx,
	    server ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
fail:
	xasprintf(cause, "cannot set up TLS: %s",
	    tls_error_string(err, sizeof err));
	SSL_CTX_free(ctx);
	return NULL;
}

/* The isp checks the esp's certificate for this name or address. */
int
tls_set_peer_host(SSL *ssl, const char *host)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			   host) == 1
		    ? 0
		    : -1;
	return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

/*
 * After the handshake: is the peer who it must be? An esp learns the
 * isp's id (its PSK identity or certificate name) into id; an isp gets
 * the esp's certificate name, or "psk". -1 with why if not.
 */
int
tls_peer_check(SSL *ssl, const struct tls_conf *tc, char *id, size_t idlen,
    char *why, size_t whylen)
{
	int peer_role =
	    tc->tc_role == TLS_ROLE_ESP ? TLS_ROLE_ISP : TLS_ROLE_ESP;
	const struct tls_psk *p;
	X509 *x;
	char cn[256];

	if (tls_conf_psk_mode(tc)) {
		if (!SSL_session_reused(ssl)) {
			snprintf(why, whylen,
			    "the peer did not prove the pre-shared key");
			return -1;
		}
		if (tc->tc_role == TLS_ROLE_ISP) {
			snprintf(id, idlen, "psk");
			return 0;
		}
		if ((p = SSL_get_ex_data(ssl, tls_exidx)) == NULL) {
			snprintf(why, whylen, "no PSK identity was matched");
			return -1;
		}
		snprintf(id, idlen, "%s", p->tp_id);
		return 0;
	}
	if ((x = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK) {
		snprintf(why, whylen,
		    "the peer's certificate was not verified");
		return -1;
	}
	if (X509_check_ca(x) != 0) {
		snprintf(why, whylen,
		    "the peer's certificate is a CA's, not an %s's",
		    peer_role == TLS_ROLE_ESP ? "esp" : "isp");
		return -1;
	}
	if (tls_cert_role(x) != peer_role) {
		snprintf(why, whylen,
		    "the peer's certificate is not for an %s: %s",
		    peer_role == TLS_ROLE_ESP ? "esp" : "isp",
		    tls_role_eku(peer_role));
		return -1;
	}
	if (tls_cert_cn(x, cn, sizeof cn) != 0 ||
	    (peer_role == TLS_ROLE_ISP && !tls_id_valid(cn))) {
		snprintf(why, whylen,
		    "the peer's certificate has no usable common name (an "
		    "isp's is its id: 1 to 64 of a-z 0-9 . _ -)");
		return -1;
	}
	if (peer_role == TLS_ROLE_ISP && tc->tc_role == TLS_ROLE_ESP &&
	    (tc->tc_peer_name == NULL ||
		!tls_name_listed(tc->tc_peer_name, cn))) {
		snprintf(why, whylen,
		    "isp \"%s\" is not one this esp accepts ([tls] peer_name)",
		    cn);
		return -1;
	}
	snprintf(id, idlen, "%s", cn);
	return 0;
}

/* TLS 1.3 only, no tickets, no renegotiation: what every context has. */
static SSL_CTX *
tls_ctx_base(int server)
{
	SSL_CTX *ctx =
	    SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}

/*
 * The esp's client door: it shows [client_tls] cert and asks agents for
 * nothing at this layer (users log in end to end, through LOGIN).
 */
SSL_CTX *
tls_door_ctx_new(const char *cert, const char *key, char **cause)
{
	SSL_CTX *ctx = tls_ctx_base(1);
	char err[256];

	if (ctx == NULL) {
		xasprintf(cause, "cannot set up TLS: %s",
		    tls_error_string(err, sizeof err));
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		xasprintf(cause, "%s: cannot load certificate: %s", cert,
		    tls_error_string(err, sizeof err));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		xasprintf(cause,
		    "%s: cannot load key or it does not match %s: %s", key,
		    cert, tls_error_string(err, sizeof err));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/*
 * An agent's context: the esp's certificate must chain to ca, be for a
 * server (EKU), and name the host dialled (tls_set_peer_host).
 */
SSL_CTX *
tls_agent_ctx_new(const char *ca, char **cause)
{
	SSL_CTX *ctx = tls_ctx_base(0);
	char err[256];

	if (ctx == NULL) {
		xasprintf(cause, "cannot set up TLS: %s",
		    tls_error_string(err, sizeof err));
		return NULL;
	}
	if (access(ca, R_OK) != 0) {
		xasprintf(cause, "%s: %s", ca, strerror(errno));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		xasprintf(cause, "%s: cannot load CA: %s", ca,
		    tls_error_string(err, sizeof err));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}
