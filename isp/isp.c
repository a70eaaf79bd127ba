/*
 * isp: the inside security proxy. It dials out through the firewall's one
 * allowed port to the esp, keeps one TLS session open, and opens the inside
 * connections the esp asks for, as far as the allow list permits.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iniparser.h>

#include "addr.h"
#include "audit.h"
#include "certlogin.h"
#include "conf.h"
#include "daemon.h"
#include "isp.h"
#include "kdf.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "status.h"
#include "xmalloc.h"

/* Load the rule files of [isp] rules and check their test vectors. */
static int
isp_load_rules(struct isp *i, const struct conf *c, char **cause)
{
	char *why = NULL;

	i->i_ruleset = ruleset_new();
	if (ruleset_load_dir(i->i_ruleset, i->i_rules, &why) != 0 ||
	    ruleset_run_vectors(i->i_ruleset, &why) != 0) {
		conf_error(cause, c, "isp:rules", "%s", why);
		free(why);
		return -1;
	}
	return 0;
}

/* Is name one of the loaded rule files ("ftp" for ftp.ini)? */
static int
isp_rule_known(const struct isp *i, const char *name)
{
	size_t k;

	if (strcmp(name, "*") == 0)
		return 1;
	for (k = 0; i->i_ruleset != NULL && k < ruleset_count(i->i_ruleset);
	     k++)
		if (strcmp(rule_app_name(ruleset_app(i->i_ruleset, k)), name) ==
		    0)
			return 1;
	return 0;
}

/*
 * Every rule file that [policy], a [user] or a [group] names must be one
 * [isp] rules loaded: a typo would silently switch announcements off.
 */
static int
isp_check_rule_names(const struct isp *i, const struct conf *c, char **cause)
{
	dictionary *d = conf_dict(c);
	const char *sec, *v;
	char key[300], *copy, *tok, *save = NULL, have[300] = "";
	int n, k, rc = 0;
	size_t j;

	for (j = 0; i->i_ruleset != NULL && j < ruleset_count(i->i_ruleset);
	     j++)
		snprintf(have + strlen(have), sizeof have - strlen(have),
		    "%s%s", j ? ", " : "",
		    rule_app_name(ruleset_app(i->i_ruleset, j)));
	n = iniparser_getnsec(d);
	for (k = 0; k < n && rc == 0; k++) {
		sec = iniparser_getsecname(d, k);
		if (strcmp(sec, "policy") != 0 &&
		    strncmp(sec, "user ", 5) != 0 &&
		    strncmp(sec, "group ", 6) != 0)
			continue;
		snprintf(key, sizeof key, "%s:rules", sec);
		if ((v = iniparser_getstring(d, key, NULL)) == NULL)
			continue;
		copy = xstrdup(v);
		for (tok = strtok_r(copy, " \t,", &save);
		     tok != NULL && rc == 0;
		     tok = strtok_r(NULL, " \t,", &save))
			if (!isp_rule_known(i, tok))
				rc = conf_error(cause, c, key,
				    "\"%s\" is not a rule file %s%s%s%s", tok,
				    i->i_rules ? "in " : "(no [isp] rules)",
				    i->i_rules ? i->i_rules : "",
				    have[0] ? "; there are: " : "", have);
		free(copy);
	}
	return rc;
}

/*
 * [isp] esp: one or more HOST:PORT, each with [isp] sessions uplinks
 * ("lanes"), each uplink with its own session.
 */
static int
isp_load_esps(struct isp *i, const struct conf *c, const char *v, char **cause)
{
	char *copy = xstrdup(v), *tok, *save = NULL;
	unsigned lane;
	int rc = 0;

	for (tok = strtok_r(copy, " \t,", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, " \t,", &save)) {
		if (dial_find(i, tok, 0) != NULL) {
			rc = conf_error(cause, c, "isp:esp",
			    "\"%s\" is listed twice", tok);
			break;
		}
		for (lane = 0; lane < i->i_lanes && rc == 0; lane++)
			if (dial_add(i, tok, (int)lane) != 0)
				rc = conf_error(cause, c, "isp:esp",
				    "\"%s\" is not HOST:PORT (IPv6 as "
				    "[addr]:port)",
				    tok);
	}
	free(copy);
	return rc;
}

/*
 * On a reload after dropping privileges, a key file only root may read
 * is not an error: the running credentials stay, and the log says why.
 */
static char *
isp_tls_unreadable(const struct conf *c)
{
	static const char *const keys[] = { "tls:psk_file", "tls:cert",
		"tls:key", "tls:ca", NULL };
	const char *const *k;
	char *path, *why = NULL;

	for (k = keys; *k != NULL && why == NULL; k++) {
		conf_path_key(c, *k, &path, NULL);
		if (path != NULL && access(path, R_OK) != 0 && errno == EACCES)
			xasprintf(&why, "[%.3s] %s: %s: %s as uid %u", *k,
			    *k + 4, path, strerror(EACCES),
			    (unsigned)geteuid());
		free(path);
	}
	return why;
}

/*
 * What the esp is told must fit what it takes: each CONFIG frame at most
 * FRAME_MAX_PAYLOAD bytes, CONFIG_MAX_RULES served rules and
 * CONFIG_MAX_RULE_FILES rule files. Refused here rather than by the esp.
 */
static int
isp_check_config_size(const struct isp *i, const struct conf *c, char **cause)
{
	const struct rule_app *app;
	struct allow al;
	const char *name;
	char *text, *why = NULL;
	size_t len, k;
	int rc = 0;

	text = policy_text(&i->i_policy, &len);
	free(text);
	if (len > FRAME_MAX_PAYLOAD)
		return conf_error(cause, c, NULL,
		    "the policy is too large for the esp: %zu bytes, at most "
		    "%d in one CONFIG frame (fewer users, or shorter allow "
		    "lists)",
		    len, FRAME_MAX_PAYLOAD);
	if (i->i_ruleset != NULL &&
	    ruleset_count(i->i_ruleset) > CONFIG_MAX_RULE_FILES)
		return conf_error(cause, c, "isp:rules",
		    "%zu rule files; the esp takes at most %d",
		    ruleset_count(i->i_ruleset), CONFIG_MAX_RULE_FILES);
	for (k = 0; i->i_ruleset != NULL && k < ruleset_count(i->i_ruleset);
	     k++) {
		/* As dial_send_rules sends it: "rules-file=NAME\n\n" TEXT. */
		app = ruleset_app(i->i_ruleset, k);
		name = rule_app_file(app);
		rule_app_text(app, &len);
		if (strlen(name) > CONFIG_MAX_RULE_NAME)
			return conf_error(cause, c, "isp:rules",
			    "%s: a name longer than %d bytes, which the esp "
			    "refuses",
			    name, CONFIG_MAX_RULE_NAME);
		if (strlen("rules-file=\n\n") + strlen(name) + len >
		    FRAME_MAX_PAYLOAD)
			return conf_error(cause, c, "isp:rules",
			    "%s is too large for the esp: %zu bytes, at most "
			    "%d in one CONFIG frame",
			    name,
			    strlen("rules-file=\n\n") + strlen(name) + len,
			    FRAME_MAX_PAYLOAD);
	}
	text = policy_serves(&i->i_policy);
	/* "id=ID\nlogin-left=1\nallow=LIST\n", room for the longest id. */
	len = strlen("id=\nlogin-left=1\nallow=\n") + sizeof i->i_id +
	    strlen(text);
	if (len > FRAME_MAX_PAYLOAD)
		rc = conf_error(cause, c, NULL,
		    "what the isp serves is too large for the esp: %zu bytes, "
		    "at most %d in one CONFIG frame",
		    len, FRAME_MAX_PAYLOAD);
	else if (allow_parse(&al, text, &why) == 0) {
		if (al.al_n > CONFIG_MAX_RULES)
			rc = conf_error(cause, c, NULL,
			    "the isp serves %zu allow rules; the esp takes at "
			    "most %d",
			    al.al_n, CONFIG_MAX_RULES);
		allow_free(&al);
	} else {
		rc = conf_error(cause, c, NULL,
		    "what the isp serves is not an allow list the esp takes: "
		    "%s",
		    why);
		free(why);
	}
	free(text);
	return rc;
}

/* Read and check isp.conf. */
static int
isp_load(struct isp *i, const char *path, const struct daemon_opts *o,
    char **cause)
{
	struct conf *c;
	const char *v;
	char *why = NULL, *ca = NULL;
	struct stat st;
	int rc = -1, ms;
	unsigned nworkers;
	uint64_t hb;
	socklen_t sl;

	if ((c = conf_load(path, cause)) == NULL)
		return -1;
	if (conf_check_keys(c, isp_known_keys, cause) != 0 ||
	    daemon_log_conf(c, o, cause) != 0)
		goto out;
	if ((v = conf_str(c, "isp:esp", NULL)) == NULL) {
		conf_error(cause, c, "isp:esp",
		    "missing: the esp to dial, e.g. esp.example.net:4430");
		goto out;
	}
	i->i_esp = xstrdup(v);
	if (conf_count(c, "isp:sessions", 1, 1, FRAME_LANES_MAX, &i->i_lanes,
		cause) != 0 ||
	    conf_count(c, "isp:workers", 1, 1, WORKERS_MAX, &nworkers, cause) !=
		0 ||
	    isp_load_esps(i, c, v, cause) != 0)
		goto out;
	i->i_nworkers = (int)nworkers;
	if ((v = conf_str(c, "isp:via", NULL)) != NULL &&
	    via_parse(v, &i->i_via, &why) != 0) {
		conf_error(cause, c, "isp:via", "%s", why);
		free(why);
		goto out;
	}
	if (policy_load(&i->i_policy, c, cause) != 0)
		goto out;
	conf_path_key(c, "policy:user_ca", &ca, cause);
	if (ca != NULL &&
	    (i->i_user_ca = certlogin_ca_load(ca, &why)) == NULL) {
		conf_error(cause, c, "policy:user_ca", "%s", why);
		free(why);
		free(ca);
		goto out;
	}
	if (i->i_user_ca != NULL)
		certlogin_ca_digest(i->i_user_ca, i->i_user_ca_sum);
	free(ca);
	if (agentauth_conf_load(i, c, cause) != 0)
		goto out;
	conf_path_key(c, "isp:rules", &i->i_rules, cause);
	errno = 0;
	if (i->i_rules != NULL &&
	    (stat(i->i_rules, &st) != 0 || !S_ISDIR(st.st_mode))) {
		conf_error(cause, c, "isp:rules", "%s: %s", i->i_rules,
		    errno ? strerror(errno) : "not a directory");
		goto out;
	}
	if ((i->i_rules != NULL && isp_load_rules(i, c, cause) != 0) ||
	    isp_check_rule_names(i, c, cause) != 0 ||
	    isp_check_config_size(i, c, cause) != 0)
		goto out;
	if (login_conf_load(i, c, cause) != 0 ||
	    conf_count(c, "isp:reverse_per_channel", 8, 1, 100000,
		&i->i_rev_per_channel, cause) != 0 ||
	    conf_count(c, "isp:reverse_per_user", 64, 1, 1000000,
		&i->i_rev_per_user, cause) != 0 ||
	    conf_count(c, "isp:reverse_per_session", 1024, 1, 1000000,
		&i->i_rev_per_session, cause) != 0 ||
	    conf_count(c, "isp:session_login_rate", 600, 1, 10000000,
		&i->i_session_checks, cause) != 0)
		goto out;
	if (conf_duration(c, "isp:connect_timeout", 10000,
		&i->i_connect_timeout_ms, cause) != 0 ||
	    conf_duration(c, "isp:reconnect_max", 30000, &i->i_backoff_max_ms,
		cause) != 0 ||
	    conf_duration(c, "isp:drain_timeout", 30000, &i->i_drain_ms,
		cause) != 0 ||
	    conf_duration(c, "isp:expect_timeout", 60000, &ms, cause) != 0 ||
	    conf_duration(c, "isp:listen_timeout", 60000, &i->i_listen_ms,
		cause) != 0 ||
	    conf_size(c, "isp:holdback", 4096, 64, 1 << 20, &hb, cause) != 0)
		goto out;
	i->i_holdback = (size_t)hb;
	expect_init(&i->i_expect, ms);
	if ((v = conf_str(c, "isp:data_address", NULL)) != NULL &&
	    addr_parse_numeric(v, "1", &i->i_data_addr, &sl) != 0) {
		conf_error(cause, c, "isp:data_address",
		    "\"%s\" is not a numeric IPv4 or IPv6 address", v);
		goto out;
	}
	if (session_conf_load(c, &i->i_params, cause) != 0 ||
	    privdrop_conf_load(c, &i->i_priv, cause) != 0)
		goto out;
	if (i->i_reloading && (i->i_tls_skipped = isp_tls_unreadable(c)))
		goto tls_done; /* the running credentials stay */
	if (tls_conf_load(c, &i->i_tls, TLS_ROLE_ISP, cause) != 0 ||
	    tls_conf_set_identity(c, &i->i_tls, conf_str(c, "isp:id", NULL),
		cause) != 0)
		goto out;
	/* The esp knows this isp by what TLS proves, never by what it says. */
	snprintf(i->i_id, sizeof i->i_id, "%s",
	    tls_conf_psk_mode(&i->i_tls) ? i->i_tls.tc_psks[0].tp_id
					 : i->i_tls.tc_cert_name);
	audit_set_self(i->i_id);
tls_done:
	if (metrics_http_conf(c, &i->i_metrics_doors, &i->i_metrics_warning,
		cause) != 0)
		goto out;
	if (o->do_dump)
		i->i_dump = conf_dump_text(c);
	rc = 0;
out:
	conf_free(c);
	return rc;
}

/* Recursive: a callback may call another's code under the lock. */
static pthread_mutex_t isp_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

/* Take the lock over the isp's shared state (isp.h). */
void
isp_lock(void)
{
	pthread_mutex_lock(&isp_mutex);
}

/* Release it. */
void
isp_unlock(void)
{
	pthread_mutex_unlock(&isp_mutex);
}

/* From the main thread: stop the workers between callbacks, and lock. */
void
isp_park(struct isp *i)
{
	workers_park(i->i_workers);
	isp_lock();
}

/* Let the workers go on. */
void
isp_unpark(struct isp *i)
{
	isp_unlock();
	workers_unpark(i->i_workers);
}

/* The resolver of the calling thread. */
struct evdns_base *
isp_dns(struct isp *i)
{
	struct worker *w = worker_self();

	return w != NULL && w->w_dns != NULL ? w->w_dns : i->i_dns;
}

static int isp_reload(struct isp *, char **);
static void isp_free(struct isp *);

/* Close every session now. */
static void
isp_close_all(struct isp *i, const char *why)
{
	struct uplink *u;

	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	if (u->u_sess != NULL)
		session_close(u->u_sess, why);
}

/* Drain timeout: reset what is left and exit. */
static void
isp_drain_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct isp *i = arg;

	(void)fd;
	(void)what;
	log_info("drain timeout: resetting remaining channels");
	isp_park(i);
	isp_close_all(i, "shutting down");
	isp_unpark(i);
	event_base_loopexit(i->i_base, NULL);
}

static void isp_signal_parked(int, struct isp *);

/* A signal: handled with the workers parked. */
static void
isp_signal(int sig, void *arg)
{
	struct isp *i = arg;

	isp_park(i);
	isp_signal_parked(sig, i);
	isp_unpark(i);
}

/* SIGHUP: reload. SIGTERM/SIGINT: stop dialling, GOAWAY, exit when
 * drained. */
static void
isp_signal_parked(int sig, struct isp *i)
{
	struct uplink *u;
	struct timeval tv;

	if (sig == SIGHUP) {
		static int failed; /* the last reload failed: status says so */
		char *why = NULL, *state;

		notify_systemd("RELOADING=1");
		if (isp_reload(i, &why) != 0) {
			/* systemctl status shows it: the reload did not take. */
			xasprintf(&state,
			    "READY=1\nSTATUS=reload failed, running the "
			    "configuration before: %s",
			    why);
			notify_systemd(state);
			free(state);
			free(why);
			failed = 1;
		} else {
			notify_systemd(
			    failed ? "READY=1\nSTATUS=reloaded" : "READY=1");
			failed = 0;
		}
		return;
	}
	if (i->i_draining) {
		log_info("second signal: exiting now");
		isp_drain_timeoutcb(-1, 0, i);
		return;
	}
	log_info("signal %d: draining (up to %d ms)", sig, i->i_drain_ms);
	i->i_draining = 1;
	dial_stop(i);
	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	{
		if (u->u_sess == NULL)
			continue;
		if (session_is_up(u->u_sess))
			session_goaway(u->u_sess, GOAWAY_NORMAL,
			    "isp shutting down");
		else
			session_close(u->u_sess, "shutting down");
	}
	if (dial_sessions(i) == 0) {
		event_base_loopexit(i->i_base, NULL);
		return;
	}
	tv.tv_sec = i->i_drain_ms / 1000;
	tv.tv_usec = (i->i_drain_ms % 1000) * 1000;
	i->i_drain_ev = evtimer_new(i->i_base, isp_drain_timeoutcb, i);
	evtimer_add(i->i_drain_ev, &tv);
}

/* isp -P: read a password, print the line for [user NAME]. */
static int
isp_passwd(void)
{
	char line[512], *pw, *hash;
	size_t n;

	if (isatty(STDIN_FILENO)) {
		if ((pw = getpass("password: ")) == NULL)
			return 1;
		snprintf(line, sizeof line, "%s", pw);
		explicit_bzero(pw, strlen(pw));
	} else if (fgets(line, sizeof line, stdin) == NULL) {
		fprintf(stderr, "isp: no password on standard input\n");
		return 1;
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n == 0) {
		fprintf(stderr, "isp: empty password\n");
		return 1;
	}
	hash = kdf_hash(line);
	explicit_bzero(line, sizeof line);
	if (hash == NULL) {
		fprintf(stderr, "isp: cannot hash the password\n");
		return 1;
	}
	printf("password = %s\n", hash);
	free(hash);
	return 0;
}

/*
 * Reload, the esp list: new esps are dialled; removed ones get GOAWAY and
 * go once their channels have finished.
 */
static void
isp_reload_esps(struct isp *i, struct isp *n)
{
	struct uplink *u, *next;

	for (u = TAILQ_FIRST(&i->i_uplinks); u != NULL; u = next) {
		next = TAILQ_NEXT(u, u_entry);
		if (u->u_removed || dial_find(n, u->u_esp, u->u_lane) != NULL)
			continue;
		log_info("reload: esp %s removed: draining its session",
		    u->u_name);
		dial_remove(u);
	}
	for (u = TAILQ_FIRST(&n->i_uplinks); u != NULL; u = next) {
		next = TAILQ_NEXT(u, u_entry);
		if (dial_find(i, u->u_esp, u->u_lane) != NULL)
			continue;
		log_info("reload: esp %s added: dialling", u->u_name);
		dial_adopt(i, n, u);
	}
	free(i->i_esp);
	i->i_esp = n->i_esp;
	n->i_esp = NULL;
}

/*
 * Reload, TLS: the new credentials and context serve new handshakes. The
 * old ones stay for the sessions that still use them, and go with the
 * last of them.
 */
static void
isp_reload_tls(struct isp *i, struct isp *n)
{
	if (tls_ctx_retire(i->i_ssl, &i->i_tls) != 0)
		log_warnx("reload: the replaced TLS context stays until exit");
	i->i_tls = n->i_tls;
	memset(&n->i_tls, 0, sizeof n->i_tls);
	i->i_ssl = n->i_ssl;
	n->i_ssl = NULL;
	SSL_CTX_set_app_data(i->i_ssl, &i->i_tls);
	snprintf(i->i_id, sizeof i->i_id, "%s", n->i_id);
	audit_set_self(i->i_id);
}

/* Do two strings differ (either may be NULL)? */
static int
isp_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* What a reload cannot change while running, as "[sec] key, ..." in buf. */
static void
isp_reload_fixed(const struct isp *i, const struct isp *n, char *buf,
    size_t len)
{
	const char *what[9];
	size_t k = 0, j;

	if (isp_differ(i->i_priv.pd_user, n->i_priv.pd_user))
		what[k++] = "[daemon] user";
	if (i->i_priv.pd_gid != n->i_priv.pd_gid)
		what[k++] = "[daemon] group";
	if (isp_differ(i->i_priv.pd_chroot, n->i_priv.pd_chroot))
		what[k++] = "[daemon] chroot";
	if (i->i_priv.pd_allow_root != n->i_priv.pd_allow_root)
		what[k++] = "[daemon] allow_root";
	if (i->i_login_threads != n->i_login_threads)
		what[k++] = "[isp] login_threads";
	if (i->i_login_queue != n->i_login_queue)
		what[k++] = "[isp] login_queue";
	if (i->i_nworkers != n->i_nworkers)
		what[k++] = "[isp] workers";
	if (isp_differ(i->i_metrics_doors.ls_text, n->i_metrics_doors.ls_text))
		what[k++] = "[metrics] listen";
	buf[0] = '\0';
	for (j = 0; j < k; j++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
		    j ? ", " : "", what[j]);
}

/*
 * SIGHUP: read the config again and apply what can change live. The
 * policy, allow list and rules are replaced and sent to every esp; the
 * esp list, TLS, [isp] via and [session] serve new sessions; open
 * channels go on. What needs a restart is named. A config that does not
 * load leaves the running one in place: -1 with *why.
 */
static int
isp_reload(struct isp *i, char **why)
{
	struct isp n;
	struct uplink *u;
	char *cause = NULL, fixed[256];
	int sess_changed, tls_kept;

	memset(&n, 0, sizeof n);
	TAILQ_INIT(&n.i_uplinks);
	n.i_opts = i->i_opts;
	n.i_reloading = 1;
	if (isp_load(&n, i->i_opts->do_conf, i->i_opts, &cause) != 0 ||
	    (n.i_tls_skipped == NULL &&
		(n.i_ssl = tls_ctx_new(&n.i_tls, &cause)) == NULL)) {
		log_warnx("reload failed: %s; keeping the running "
			  "configuration",
		    cause);
		*why = cause;
		isp_free(&n);
		audit_set_self(i->i_id);
		return -1;
	}
	if (login_carry(&i->i_policy, &n.i_policy))
		i->i_logins_gen++; /* the esps forget what they accepted */
	policy_free(&i->i_policy);
	i->i_policy = n.i_policy;
	memset(&n.i_policy, 0, sizeof n.i_policy);
	X509_STORE_free(i->i_user_ca);
	i->i_user_ca = n.i_user_ca;
	n.i_user_ca = NULL;
	memcpy(i->i_user_ca_sum, n.i_user_ca_sum, sizeof i->i_user_ca_sum);
	X509_free(i->i_sign_cert);
	EVP_PKEY_free(i->i_sign_key);
	i->i_sign_cert = n.i_sign_cert;
	i->i_sign_key = n.i_sign_key;
	n.i_sign_cert = NULL;
	n.i_sign_key = NULL;
	/* Channels scanning with the old rules hold them until they end. */
	ruleset_free(i->i_ruleset);
	i->i_ruleset = n.i_ruleset;
	n.i_ruleset = NULL;
	free(i->i_rules);
	i->i_rules = n.i_rules;
	n.i_rules = NULL;
	i->i_expect.et_ttl_ms = n.i_expect.et_ttl_ms;
	i->i_listen_ms = n.i_listen_ms;
	i->i_holdback = n.i_holdback;
	i->i_rev_per_channel = n.i_rev_per_channel;
	i->i_rev_per_user = n.i_rev_per_user;
	i->i_rev_per_session = n.i_rev_per_session;
	i->i_data_addr = n.i_data_addr;
	i->i_connect_timeout_ms = n.i_connect_timeout_ms;
	i->i_backoff_max_ms = n.i_backoff_max_ms;
	i->i_drain_ms = n.i_drain_ms;
	i->i_login_fail_max = n.i_login_fail_max;
	i->i_session_checks = n.i_session_checks;
	i->i_login_fail_ms = n.i_login_fail_ms;
	via_conf_clear(&i->i_via);
	i->i_via = n.i_via;
	memset(&n.i_via, 0, sizeof n.i_via);
	sess_changed = memcmp(&i->i_params, &n.i_params, sizeof n.i_params);
	i->i_params = n.i_params;
	tls_kept = n.i_tls_skipped != NULL;
	if (!tls_kept)
		isp_reload_tls(i, &n);
	else
		log_warnx("reload: TLS credentials not applied, the running "
			  "ones stay: %s",
		    n.i_tls_skipped);
	isp_reload_fixed(i, &n, fixed, sizeof fixed);
	isp_reload_esps(i, &n);
	isp_free(&n);
	log_info("reloaded %s: %zu users, anonymous %s, %zu rule files; "
		 "%s%s for new sessions",
	    i->i_opts->do_conf, i->i_policy.p_nusers,
	    i->i_policy.p_anonymous ? "allowed" : "refused",
	    i->i_ruleset != NULL ? ruleset_count(i->i_ruleset) : 0,
	    tls_kept ? "the esp list" : "TLS credentials",
	    sess_changed ? " and [session] settings" : "");
	if (fixed[0] != '\0')
		log_warnx("reload: not applied until a restart: %s", fixed);
	agentauth_reload(i);
	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	if (u->u_sess != NULL && session_is_up(u->u_sess) && !u->u_removed)
		dial_post_config(u);
	return 0;
}

/* Before each scrape: the sessions up, and their round trips. */
static void
isp_collect(void *arg)
{
	struct isp *i = arg;
	struct uplink *u;
	int up = 0;
	int64_t rtt;

	isp_park(i);
	metrics_clear(M_SESSIONS);
	metrics_clear(M_SESSION_RTT);
	TAILQ_FOREACH(u, &i->i_uplinks, u_entry)
	{
		if (u->u_sess == NULL || !session_is_up(u->u_sess))
			continue;
		up++;
		if ((rtt = session_rtt_us(u->u_sess)) >= 0)
			metrics_set(M_SESSION_RTT, u->u_name,
			    (double)rtt / 1e6);
	}
	metrics_set(M_SESSIONS, "esp", up);
	isp_unpark(i);
}

/* Free what main set up; the one teardown path for the daemon. */
static void
isp_free(struct isp *i)
{
	if (i->i_drain_ev != NULL)
		event_free(i->i_drain_ev);
	dial_free_all(i);
	agentauth_free_all(i);
	X509_STORE_free(i->i_user_ca);
	X509_free(i->i_sign_cert);
	EVP_PKEY_free(i->i_sign_key);
	login_free(i);
	workers_free(i->i_workers);
	i->i_workers = NULL;
	via_conf_clear(&i->i_via);
	if (i->i_dns != NULL)
		evdns_base_free(i->i_dns, 0);
	SSL_CTX_free(i->i_ssl);
	tls_conf_clear(&i->i_tls);
	policy_free(&i->i_policy);
	privdrop_clear(&i->i_priv);
	free(i->i_rules);
	if (i->i_ruleset != NULL)
		ruleset_free(i->i_ruleset);
	free(i->i_tls_skipped);
	expect_clear(&i->i_expect);
	free(i->i_esp);
	metrics_http_free(i->i_metrics);
	listen_clear(&i->i_metrics_doors);
	free(i->i_metrics_warning);
	free(i->i_dump);
	if (i->i_base != NULL) {
		daemon_signals_free();
		event_base_free(i->i_base);
	}
}

int
main(int argc, char **argv)
{
	struct daemon_opts o;
	struct isp i;
	char *cause = NULL;

	daemon_parse_args(argc, argv, "isp", "/etc/dynpass/isp.conf", &o);
	if (o.do_passwd)
		return isp_passwd();
	if (o.do_status)
		return status_run("isp", o.do_conf);
	if (o.do_ruletest != NULL)
		return ruletest_main(o.do_ruletest,
		    o.do_nargs > 0 ? o.do_args[0] : NULL);
	memset(&i, 0, sizeof i);
	TAILQ_INIT(&i.i_uplinks);
	agentauth_init(&i);
	i.i_opts = &o;
	if (isp_load(&i, o.do_conf, &o, &cause) != 0 ||
	    (i.i_ssl = tls_ctx_new(&i.i_tls, &cause)) == NULL) {
		fprintf(stderr, "isp: %s\n", cause);
		free(cause);
		isp_free(&i);
		return o.do_query != NULL ? 2 : 1; /* -Q: 1 is "refused" */
	}
	if (i.i_tls.tc_warning != NULL)
		fprintf(stderr, "isp: %s: warning: %s\n", o.do_conf,
		    i.i_tls.tc_warning);
	if (i.i_metrics_warning != NULL)
		fprintf(stderr, "isp: %s: warning: %s\n", o.do_conf,
		    i.i_metrics_warning);
	if (o.do_query != NULL) {
		int rc = query_main(&i, o.do_query, o.do_args[0]);

		isp_free(&i);
		return rc;
	}
	if (o.do_dump) {
		fputs(i.i_dump != NULL ? i.i_dump : "", stdout);
		isp_free(&i);
		return 0;
	}
	if (o.do_check) {
		if (i.i_ruleset != NULL)
			printf("isp: %s: %zu rule files, %zu test vectors "
			       "passed\n",
			    i.i_rules, ruleset_count(i.i_ruleset),
			    ruleset_vector_count(i.i_ruleset));
		printf("isp: %s: configuration OK\n", o.do_conf);
		isp_free(&i);
		return 0;
	}
	if (i.i_policy.p_nusers == 0 && i.i_policy.p_anon_allow.al_n == 0)
		log_warnx("%s: [isp] allow is empty and there are no users: "
			  "every open will be refused",
		    o.do_conf);
	/* Before any base: the workers' and the main one are shared. */
	if (workers_threading() != 0)
		fatalx("cannot enable threads in libevent");
	if ((i.i_base = daemon_event_base()) == NULL)
		fatalx("cannot create event base");
	i.i_dns = daemon_dns_base(i.i_base);
	daemon_signals(i.i_base, isp_signal, &i);
	if (privdrop_apply(&i.i_priv, "isp", &cause) != 0) {
		log_warnx("%s", cause);
		free(cause);
		isp_free(&i);
		return 1;
	}
	if ((i.i_workers = workers_new("isp", i.i_nworkers, &cause)) == NULL ||
	    login_init(&i, &cause) != 0)
		fatalx("%s", cause);
	if (i.i_tls.tc_warning != NULL)
		log_warnx("%s", i.i_tls.tc_warning);
	log_info("isp %s started: id %s, esp %s, %zu users, anonymous %s (%s), "
		 "%d worker%s",
	    DYNPASS_VERSION, i.i_id, i.i_esp, i.i_policy.p_nusers,
	    i.i_policy.p_anonymous ? "allowed" : "refused",
	    tls_conf_psk_mode(&i.i_tls) ? "pre-shared key" : "certificates",
	    i.i_nworkers, i.i_nworkers == 1 ? "" : "s");
	metrics_init("isp");
	metrics_set_collector(isp_collect, &i);
	if (i.i_metrics_warning != NULL)
		log_warnx("%s", i.i_metrics_warning);
	if (i.i_metrics_doors.ls_n > 0 &&
	    (i.i_metrics = metrics_http_start(i.i_base, &i.i_metrics_doors,
		 &cause)) == NULL)
		fatalx("%s", cause);
	isp_park(&i);
	dial_start_all(&i);
	isp_unpark(&i);
	notify_systemd("READY=1");
	event_base_dispatch(i.i_base);
	workers_stop(i.i_workers);
	log_info("isp stopped");
	isp_free(&i);
	metrics_free();
	return 0;
}
