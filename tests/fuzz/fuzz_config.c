/*
 * libFuzzer: config and policy loading. The input is written to a file in
 * a private folder and loaded as the esp and the isp would: conf_load,
 * conf_check_keys, daemon_log_conf, policy_load, tls_conf_load in both
 * roles, session_conf_load, allow_parse on every allow key; policy_parse
 * also gets the raw input (the esp's side of the policy text). The folder
 * holds key and certificate files the input may name (pair.psk, isp.crt,
 * ...), and is $HOME for "~/" paths.
 */
#include <fcntl.h>
#include <iniparser.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "addr.h"
#include "allow.h"
#include "certlogin.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "policy.h"
#include "session.h"
#include "tls.h"
#include "via.h"
#include "xmalloc.h"

/* The daemons' own lists (esp/keys.c, isp/keys.c), linked in. */
extern const char *const esp_known_keys[];
extern const char *const isp_known_keys[];

static char fuzz_dir[256];  /* the private folder */
static char fuzz_path[300]; /* the input, as a file in it */

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const fuzz_files[] = { "pair.psk", "other.psk", "open.psk",
	"short.psk", "isp.crt", "esp.crt", "both.crt", "soon.crt", "old.crt",
	"later.crt", "key.pem", "fuzz.conf", NULL };

/* Write a file of the private folder with a mode. */
static void
fuzz_put(const char *name, const char *text, mode_t mode)
{
	char path[400];
	int fd;

	snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)) == -1 ||
	    write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	fchmod(fd, mode);
	close(fd);
}

/* A self-signed certificate for CN with an extended key usage. */
static void
fuzz_put_cert(EVP_PKEY *k, const char *name, const char *cn, const char *eku,
    long from, long days)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	X509_NAME *subj;
	X509 *x = X509_new();
	char path[400];
	FILE *f;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
	X509_set_pubkey(x, k);
	subj = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, subj);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, eku)) ==
		NULL ||
	    X509_add_ext(x, ext, -1) != 1 || X509_sign(x, k, EVP_sha256()) == 0)
		abort();
	X509_EXTENSION_free(ext);
	snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
}

/* The files an input may name: keys, certificates, a password. */
static void
fuzz_put_files(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char path[400];
	FILE *f;

	fuzz_put("pair.psk",
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	    "\n",
	    0600);
	fuzz_put("other.psk", "ffeeddccbbaa99887766554433221100\n", 0600);
	fuzz_put("open.psk", "00112233445566778899aabbccddeeff\n", 0644);
	fuzz_put("short.psk", "0011\n", 0600);
	if (k == NULL)
		abort();
	fuzz_put_cert(k, "isp.crt", "inside-1", "clientAuth", -3600, 3650);
	fuzz_put_cert(k, "esp.crt", "esp.example.net", "serverAuth", -3600,
	    3650);
	fuzz_put_cert(k, "both.crt", "both", "serverAuth,clientAuth", -3600,
	    3650);
	fuzz_put_cert(k, "soon.crt", "inside-2", "clientAuth", -3600, 10);
	fuzz_put_cert(k, "old.crt", "inside-3", "clientAuth", -86400 * 30, -1);
	fuzz_put_cert(k, "later.crt", "inside-4", "clientAuth", 86400, 3650);
	snprintf(path, sizeof path, "%s/key.pem", fuzz_dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	EVP_PKEY_free(k);
}

/* Remove the private folder at exit. */
static void
fuzz_cleanup(void)
{
	char path[400];
	int i;

	for (i = 0; fuzz_files[i] != NULL; i++) {
		snprintf(path, sizeof path, "%s/%s", fuzz_dir, fuzz_files[i]);
		unlink(path);
	}
	rmdir(fuzz_dir);
}

/* Make the private folder and its files; quiet logs. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	log_init("fuzz_config", 0, 0);
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz-config.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_path, sizeof fuzz_path, "%s/fuzz.conf", fuzz_dir);
	setenv("HOME", fuzz_dir, 1);
	atexit(fuzz_cleanup);
	fuzz_put_files();
	return 0;
}

/* Could a path in the input block the run (a terminal, a FIFO)? */
static int
fuzz_risky(const uint8_t *data, size_t size)
{
	static const char *const bad[] = { "dev/", "proc/", "sys/", "run/",
		"fd/" };
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (memmem(data, size, bad[i], strlen(bad[i])) != NULL)
			return 1;
	return 0;
}

/* An allow list, parsed and matched a little. */
static void
fuzz_allow(const char *text)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct allow al;
	char *cause = NULL, why[256];

	if (allow_parse(&al, text, &cause) != 0) {
		if (cause == NULL)
			abort();
		free(cause);
		return;
	}
	s4.sin_addr.s_addr = htonl(0x0a010203);
	s4.sin_port = htons(80);
	s6.sin6_addr.s6_addr[0] = 0x20;
	s6.sin6_addr.s6_addr[1] = 0x01;
	s6.sin6_port = htons(22);
	(void)allow_match(&al, (struct sockaddr *)&s4);
	(void)allow_match(&al, (struct sockaddr *)&s6);
	(void)allow_match_name(&al, "host.corp.example", 80);
	(void)allow_has_names(&al);
	(void)allow_overlap(&al, &al, why, sizeof why);
	allow_free(&al);
}

/* Every "...:allow" key of the file. */
static void
fuzz_allow_keys(const struct conf *c)
{
	dictionary *d = conf_dict(c);
	const char *sec, **keys, *v;
	int ns, nk, i, j;
	size_t n;

	ns = iniparser_getnsec(d);
	for (i = 0; i < ns; i++) {
		sec = iniparser_getsecname(d, i);
		if ((nk = iniparser_getsecnkeys(d, sec)) <= 0)
			continue;
		keys = xcalloc((size_t)nk, sizeof *keys);
		iniparser_getseckeys(d, sec, keys);
		for (j = 0; j < nk; j++) {
			n = strlen(keys[j]);
			if (n >= 6 && strcmp(keys[j] + n - 6, ":allow") == 0 &&
			    (v = iniparser_getstring(d, keys[j], NULL)) != NULL)
				fuzz_allow(v);
		}
		free(keys);
	}
}

/* The policy as the isp reads it, and as the esp reads what it sends. */
static void
fuzz_policy(const struct conf *c)
{
	struct policy p, q;
	char *cause = NULL, *text, *s;
	size_t len, i;

	if (policy_load(&p, c, &cause) != 0) {
		if (cause == NULL)
			abort();
		free(cause);
		policy_free(&p);
		return;
	}
	text = policy_text(&p, &len);
	/* What the isp accepted, the esp must accept too, user for user. */
	if (policy_parse(&q, text, len, &cause) != 0 ||
	    q.p_nusers != p.p_nusers || q.p_anonymous != p.p_anonymous)
		abort();
	for (i = 0; i < p.p_nusers; i++) {
		(void)policy_allow(&p, p.p_users[i].pu_name);
		(void)policy_rule_ok(&p, p.p_users[i].pu_name, "ftp");
		(void)policy_reverse_ok(&q, q.p_users[i].pu_name);
	}
	s = policy_serves(&p);
	fuzz_allow(s);
	free(s);
	free(text);
	policy_free(&q);
	policy_free(&p);
}

/* [isp] login_cert and login_key, as isp/agentauth.c loads them. */
static void
fuzz_signer(const struct conf *c)
{
	char *cert = NULL, *key = NULL, *cause = NULL;
	X509 *x;
	EVP_PKEY *k;

	conf_path_key(c, "isp:login_cert", &cert, &cause);
	conf_path_key(c, "isp:login_key", &key, &cause);
	free(cause);
	cause = NULL;
	if (cert != NULL && key != NULL &&
	    tls_check_secret_file(c, "isp:login_key", key, &cause) == 0) {
		if (certlogin_signer_load(cert, key, &x, &k, &cause) == 0) {
			X509_free(x);
			EVP_PKEY_free(k);
		} else if (cause == NULL)
			abort(); /* a refusal always says why */
	}
	free(cause);
	free(cert);
	free(key);
}

/* TLS settings in one role. */
static void
fuzz_tls(const struct conf *c, int role)
{
	struct tls_conf tc;
	char *cause = NULL;

	if (tls_conf_load(c, &tc, role, &cause) == 0 && role == TLS_ROLE_ISP &&
	    tls_conf_set_identity(c, &tc, conf_str(c, "isp:id", NULL),
		&cause) == 0)
		(void)tls_conf_psk_mode(&tc);
	log_info("fuzz: tls as %s: %s", role == TLS_ROLE_ESP ? "esp" : "isp",
	    cause != NULL               ? cause
		: tc.tc_warning != NULL ? tc.tc_warning
					: "ok");
	free(cause);
	tls_conf_clear(&tc);
}

/* Keys that are host:port, a proxy URL, or addresses. */
static void
fuzz_addresses(const struct conf *c)
{
	static const char *const keys[] = { "isp:esp", "esp:session_listen",
		"esp:socks_listen", "isp:data_address" };
	struct sockaddr_storage ss;
	struct via_conf vc;
	char *copy, *tok, *save = NULL, *host, *port, *cause = NULL;
	const char *v;
	uint16_t pn;
	socklen_t sl;
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if ((v = conf_str(c, keys[i], NULL)) == NULL)
			continue;
		copy = xstrdup(v);
		for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
		     tok = strtok_r(NULL, " \t,", &save)) {
			(void)addr_parse_numeric(tok, "1", &ss, &sl);
			/* As its callers do: free what a failure leaves. */
			host = port = NULL;
			if (addr_split_hostport(tok, &host, &port) != 0) {
				free(host);
				free(port);
				continue;
			}
			(void)addr_port_parse(port, &pn);
			(void)addr_parse_numeric(host, port, &ss, &sl);
			free(host);
			free(port);
		}
		free(copy);
	}
	if ((v = conf_str(c, "isp:via", NULL)) != NULL) {
		if (via_parse(v, &vc, &cause) == 0)
			via_conf_clear(&vc);
		free(cause);
	}
}

/* Every value through the duration and size parsers. */
static void
fuzz_values(const struct conf *c)
{
	dictionary *d = conf_dict(c);
	const char *v;
	uint64_t sz;
	int i, ms;

	for (i = 0; i < d->size; i++) {
		if (d->key[i] == NULL || (v = d->val[i]) == NULL)
			continue;
		(void)conf_parse_duration(v, &ms);
		(void)conf_parse_size(v, &sz);
	}
}

/* Load the input as a config file, both ways. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon_opts o = { .do_prog = "fuzz", .do_check = 1 };
	struct session_params sp;
	struct policy p;
	struct conf *c;
	char *cause = NULL;
	int fd;

	if (fuzz_risky(data, size))
		return 0;
	if (policy_parse(&p, (const char *)data, size, &cause) == 0)
		policy_free(&p);
	free(cause);
	cause = NULL;

	if ((fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if ((c = conf_load(fuzz_path, &cause)) == NULL) {
		if (cause == NULL)
			abort();
		free(cause);
		return 0;
	}
	if (conf_check_keys(c, esp_known_keys, &cause) != 0)
		free(cause);
	cause = NULL;
	if (conf_check_keys(c, isp_known_keys, &cause) != 0)
		free(cause);
	cause = NULL;
	if (daemon_log_conf(c, &o, &cause) != 0)
		free(cause);
	cause = NULL;
	if (session_conf_load(c, &sp, &cause) != 0)
		free(cause);
	fuzz_policy(c);
	fuzz_tls(c, TLS_ROLE_ESP);
	fuzz_tls(c, TLS_ROLE_ISP);
	fuzz_signer(c);
	fuzz_allow_keys(c);
	fuzz_addresses(c);
	fuzz_values(c);
	conf_free(c);
	return 0;
}
