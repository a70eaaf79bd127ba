/*
 * The client agent (sockhook agent): it keeps one TLS 1.3 session to the
 * esp's client door, logs the user in end to end with the isps, and
 * carries the connections of the user's programs on this host (the
 * local door, agent_local.c). It dials again with backoff when the
 * session ends, and opens a new session at once when the esp asks
 * (GOAWAY); channels on the old one finish there.
 *
 * Run by hand or by systemd it stays in the foreground. Started by
 * sockhook for a command, it tells the launcher when it is ready, logs
 * to a file next to its state, and exits once no command has held the
 * lease lock for [sockhook] linger.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "agent.h"
#include "daemon.h"
#include "dialer.h"
#include "log.h"
#include "monotime.h"
#include "tls.h"
#include "tlswire.h"
#include "xmalloc.h"

#define AGENT_BACKOFF_MAX_MS 30000
#define AGENT_CONNECT_MS     10000
#define AGENT_GOOD_MS        10000 /* a session logged in this long was good */
#define AGENT_LEASE_CHECK_MS 500

static void agent_dial(struct agent *);
static void agent_free(struct agent *);
static int agent_handshake(struct session *, SSL *, char *, size_t, void *);
static void agent_up(struct session *, void *);
static void agent_closed(struct session *, const char *, void *);
static void agent_message(struct session *, uint8_t, const uint8_t *, size_t,
    void *);
static void agent_goaway(struct session *, void *);
static void agent_drained(struct session *, void *);

static const struct session_cb agent_cb = {
	.sc_handshake = agent_handshake,
	.sc_up = agent_up,
	.sc_closed = agent_closed,
	.sc_message = agent_message,
	.sc_outside_open = local_outside_open,
	.sc_goaway = agent_goaway,
	.sc_drained = agent_drained,
};

static int agent_exit_code;

/*
 * Tell the launcher how the start went, once: NULL is ready. An error
 * ends the agent: what it reports (a refused login, a bad certificate)
 * does not mend itself by trying again. Channels on older sessions (a
 * login the isp ended) finish first; nothing new is taken meanwhile.
 */
void
agent_ready(struct agent *a, const char *error)
{
	char buf[600];
	int n;

	if (error != NULL) {
		agent_exit_code = 1;
		a->a_draining = 1;
		a->a_login = AGENT_LOGIN_REFUSED; /* no new connections */
		if (a->a_old > 0) {
			log_warnx("stopping once the channels of %u older "
				  "session(s) finish: %s",
			    a->a_old, error);
			a->a_stopping = 1;
		} else {
			log_warnx("stopping: %s", error);
			event_base_loopexit(a->a_base, NULL);
		}
	}
	if (a->a_ready_fd < 0)
		return;
	n = snprintf(buf, sizeof buf, "%s%s\n", error ? "error: " : "ok",
	    error ? error : "");
	if (write(a->a_ready_fd, buf, (size_t)n) < 0)
		log_debug("the launcher is gone");
	close(a->a_ready_fd);
	a->a_ready_fd = -1;
}

/* May programs' connections go now? */
int
agent_usable(const struct agent *a)
{
	return !a->a_draining && a->a_sess != NULL &&
	    session_is_up(a->a_sess) && a->a_login == AGENT_LOGIN_DONE;
}

/*
 * Did the session that ends serve? Logged in, and up long enough: then
 * the next one is dialled at once. Otherwise (the esp refuses logins,
 * answers busy, or ends sessions at once) the delay keeps growing.
 */
static int
agent_session_served(struct agent *a)
{
	return a->a_login == AGENT_LOGIN_DONE &&
	    monotime_ms() - a->a_up_ms >= AGENT_GOOD_MS;
}

/* The redial timer. */
static void
agent_redialcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent_dial(arg);
}

/* Try again after a delay that grows with each failure. */
static void
agent_schedule(struct agent *a)
{
	struct timeval tv;
	int ms;

	if (a->a_draining)
		return;
	ms = dialer_backoff_ms(a->a_attempts++, AGENT_BACKOFF_MAX_MS);
	log_info("connecting to esp %s:%s again in %d.%01d s",
	    a->a_conf.esp_host, a->a_conf.esp_port, ms / 1000,
	    (ms % 1000) / 100);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(a->a_redial, &tv);
}

/* TCP and TLS are on their way, or failed. */
static void
agent_dialledcb(struct bufferevent *bev, struct tlswire *w, const char *why,
    void *arg)
{
	struct agent *a = arg;

	a->a_dial = NULL;
	if (bev == NULL) {
		log_warnx("%s", why);
		agent_schedule(a);
		return;
	}
	a->a_sess = session_new(a->a_base, bev, FRAME_ROLE_AGENT,
	    FRAME_ROLE_ESP, a->a_conf.esp_host, &a->a_params, &agent_cb, a);
	session_set_wire(a->a_sess, w);
	session_start(a->a_sess);
}

/* Dial the esp's client door; TLS checks its certificate and name. */
static void
agent_dial(struct agent *a)
{
	SSL *ssl;

	if (a->a_draining || a->a_dial != NULL || a->a_sess != NULL)
		return;
	if ((ssl = SSL_new(a->a_ssl)) == NULL ||
	    tls_set_peer_host(ssl,
		a->a_conf.peer_name != NULL ? a->a_conf.peer_name
					    : a->a_conf.esp_host) != 0) {
		SSL_free(ssl);
		log_warnx("cannot set up TLS for the esp");
		agent_schedule(a);
		return;
	}
	log_debug("dialling esp %s:%s", a->a_conf.esp_host, a->a_conf.esp_port);
	a->a_dial = dialer_start(a->a_base, a->a_dns, &a->a_via,
	    a->a_conf.esp_host, a->a_conf.esp_port, AGENT_CONNECT_MS, ssl,
	    a->a_params.sp_dead_ms, agent_dialledcb, a);
}

/* TLS is up: the certificate chain and name were checked by then. */
static int
agent_handshake(struct session *s, SSL *ssl, char *why, size_t len, void *arg)
{
	(void)ssl;
	(void)why;
	(void)len;
	(void)arg;
	session_set_identity(s, "esp");
	return 0;
}

/*
 * The esp did not finish the login in time: this session is no use.
 * (It counts as a failure: the delay before the next grows.)
 */
static void
agent_login_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	char why[128];

	(void)fd;
	(void)what;
	snprintf(why, sizeof why,
	    "the esp did not finish the login in %d.%03d s "
	    "([sockhook] login_timeout)",
	    a->a_conf.login_timeout_ms / 1000,
	    a->a_conf.login_timeout_ms % 1000);
	if (a->a_sess != NULL && a->a_login == AGENT_LOGIN_RUNNING)
		session_fail(a->a_sess, GOAWAY_TIMEOUT, why);
}

/* HELLO done: log in, within [sockhook] login_timeout. */
static void
agent_up(struct session *s, void *arg)
{
	struct agent *a = arg;
	struct timeval tv = { a->a_conf.login_timeout_ms / 1000,
		(a->a_conf.login_timeout_ms % 1000) * 1000 };

	if (s != a->a_sess)
		return;
	a->a_up_ms = monotime_ms();
	agent_login_start(a);
	if (a->a_login == AGENT_LOGIN_RUNNING)
		evtimer_add(a->a_login_timer, &tv);
}

/*
 * A session ended: if it was the current one, dial again. While a
 * launcher waits for the first session, an esp whose certificate does not
 * verify is an answer, not a delay: the launcher says so and stops.
 */
static void
agent_closed(struct session *s, const char *reason, void *arg)
{
	struct agent *a = arg;
	char why[300];
	long v;

	(void)reason;
	if (s == a->a_sess && a->a_ready_fd >= 0 &&
	    (v = session_verify_result(s)) != X509_V_OK) {
		snprintf(why, sizeof why,
		    "the esp's certificate does not verify: %s",
		    tls_verify_error(v));
		a->a_sess = NULL;
		agent_login_reset(a);
		agent_ready(a, why);
		return;
	}
	if (s != a->a_sess) {
		/* An older session: the last one may end a stop. */
		if (a->a_old > 0 && --a->a_old == 0 && a->a_stopping) {
			log_info("older sessions drained: stopping");
			event_base_loopexit(a->a_base, NULL);
		}
		return;
	}
	if (agent_session_served(a))
		a->a_attempts = 0;
	a->a_sess = NULL;
	agent_login_reset(a);
	evtimer_del(a->a_login_timer);
	agent_schedule(a);
}

/* LOGIN_REPLY (CONFIG from the esp carries nothing for an agent). */
static void
agent_message(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	struct agent *a = arg;

	if (s == a->a_sess && type == FRAME_LOGIN_REPLY)
		agent_login_reply(a, p, len);
}

/* The esp asks for a new session: open one; this one drains. */
static void
agent_goaway(struct session *s, void *arg)
{
	struct agent *a = arg;
	int served;

	if (s != a->a_sess)
		return;
	log_info("the esp asks for a new session; channels here finish");
	served = agent_session_served(a);
	a->a_sess = NULL;
	a->a_old++;
	agent_login_reset(a);
	evtimer_del(a->a_login_timer);
	/* An esp that asks again and again is waited for, as on failure. */
	if (served) {
		a->a_attempts = 0;
		agent_dial(a);
	} else
		agent_schedule(a);
}

/* An old session has no channels left. */
static void
agent_drained(struct session *s, void *arg)
{
	(void)arg;
	session_close(s, "drained");
}

/* SIGTERM, SIGINT: close and exit. SIGHUP: nothing to reload. */
static void
agent_signal(int sig, void *arg)
{
	struct agent *a = arg;

	if (sig == SIGHUP)
		return;
	log_info("signal %d: stopping", sig);
	a->a_draining = 1;
	event_base_loopexit(a->a_base, NULL);
}

/*
 * Every half second: does any command still hold the lease? After
 * [sockhook] linger with none, take the lock, remove the state, exit.
 */
static void
agent_leasecb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	if (flock(a->a_lock_fd, LOCK_EX | LOCK_NB) != 0) {
		a->a_idle_ms = 0;
		return;
	}
	a->a_idle_ms += AGENT_LEASE_CHECK_MS;
	if (a->a_idle_ms < a->a_conf.linger_ms) {
		flock(a->a_lock_fd, LOCK_UN);
		return;
	}
	log_info("no command uses this agent: stopping");
	unlink(a->a_paths.ap_state);
	a->a_draining = 1;
	event_base_loopexit(a->a_base, NULL); /* the lock goes at exit */
}

/* A random token for the local door, as hex. */
static int
agent_token(struct agent *a)
{
	unsigned char r[AGENTSTATE_TOKEN_LEN / 2];
	size_t i;

	if (RAND_bytes(r, sizeof r) != 1)
		return -1;
	for (i = 0; i < sizeof r; i++)
		snprintf(a->a_state.as_token + 2 * i, 3, "%02x", r[i]);
	OPENSSL_cleanse(r, sizeof r);
	return 0;
}

/* The user a certificate logs in as: its common name. */
static void
agent_cert_user(struct agent *a)
{
	X509_NAME *n = X509_get_subject_name(a->a_cert);

	if (X509_NAME_get_text_by_NID(n, NID_commonName, a->a_user,
		sizeof a->a_user) < 0)
		a->a_user[0] = '\0';
}

/* Read the config, the login material and the TLS settings. */
static int
agent_setup(struct agent *a, const char *conf, char **cause)
{
	char why[400], *why2 = NULL;

	if (config_load(&a->a_conf, conf, CONFIG_AGENT, cause) != 0)
		return -1;
	if (!a->a_conf.agent) {
		xasprintf(cause,
		    "%s: [sockhook] agent is not set (this file "
		    "is for the SOCKS door, esp =)",
		    conf);
		return -1;
	}
	if (agentstate_paths(conf, &a->a_paths, why, sizeof why) != 0) {
		xasprintf(cause, "%s", why);
		return -1;
	}
	if (a->a_conf.via != NULL &&
	    via_parse(a->a_conf.via, &a->a_via, &why2) != 0) {
		xasprintf(cause, "%s: [sockhook] via: %s", conf, why2);
		free(why2);
		return -1;
	}
	if ((a->a_ssl = tls_agent_ctx_new(a->a_conf.ca, &why2)) == NULL) {
		xasprintf(cause, "%s: [sockhook] ca: %s", conf, why2);
		free(why2);
		return -1;
	}
	if (agent_login_load(a, cause) != 0)
		return -1;
	if (a->a_cert != NULL)
		agent_cert_user(a);
	else if (a->a_conf.user != NULL)
		snprintf(a->a_user, sizeof a->a_user, "%s", a->a_conf.user);
	session_params_default(&a->a_params);
	return 0;
}

/* Check what the agent would read (sockhook -t). */
int
agent_check(const char *conf, char **cause)
{
	struct agent a;
	int rc;

	memset(&a, 0, sizeof a);
	TAILQ_INIT(&a.a_locals);
	rc = agent_setup(&a, conf, cause);
	agent_free(&a);
	return rc;
}

/* Is another agent already serving this config? */
static int
agent_running(const struct agent *a, pid_t *pid)
{
	struct agentstate as;

	if (agentstate_read(a->a_paths.ap_state, &as) != 0)
		return 0;
	*pid = as.as_pid;
	return kill(as.as_pid, 0) == 0 || errno == EPERM;
}

/* Free everything; the one teardown path. */
static void
agent_free(struct agent *a)
{
	local_free_all(a);
	if (a->a_lis != NULL)
		evconnlistener_free(a->a_lis);
	if (a->a_dial != NULL)
		dialer_cancel(a->a_dial);
	if (a->a_sess != NULL)
		session_close(a->a_sess, "agent stopping");
	if (a->a_redial != NULL)
		event_free(a->a_redial);
	if (a->a_login_timer != NULL)
		event_free(a->a_login_timer);
	if (a->a_lease_ev != NULL)
		event_free(a->a_lease_ev);
	agent_login_reset(a);
	X509_free(a->a_cert);
	EVP_PKEY_free(a->a_key);
	X509_STORE_free(a->a_isp_ca);
	SSL_CTX_free(a->a_ssl);
	via_conf_clear(&a->a_via);
	config_free(&a->a_conf);
	OPENSSL_cleanse(&a->a_state, sizeof a->a_state);
	if (a->a_dns != NULL)
		evdns_base_free(a->a_dns, 0);
	if (a->a_base != NULL) {
		daemon_signals_free();
		event_base_free(a->a_base);
	}
}

/*
 * Run the agent for a config file (an absolute path). lease: started by
 * sockhook for its commands, which hold the lease lock; ready_fd, if not
 * -1, hears "ok" or "error: ..." once.
 */
int
agent_main(const char *conf, int lease, int ready_fd, int verbose)
{
	struct agent a;
	struct timeval tv = { 0, AGENT_LEASE_CHECK_MS * 1000 };
	char *cause = NULL;
	pid_t pid;

	memset(&a, 0, sizeof a);
	TAILQ_INIT(&a.a_locals);
	a.a_lease = lease;
	a.a_ready_fd = ready_fd;
	a.a_lock_fd = -1;
	log_init("sockhook agent", 0, verbose);
	if (agent_setup(&a, conf, &cause) != 0)
		goto fail;
	if (!lease && agent_running(&a, &pid)) {
		xasprintf(&cause,
		    "an agent for %s is running already (pid %ld)", conf,
		    (long)pid);
		goto fail;
	}
	if ((a.a_base = daemon_event_base()) == NULL ||
	    (a.a_dns = evdns_base_new(a.a_base,
		 EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
		xasprintf(&cause, "cannot set up the event loop");
		goto fail;
	}
	evdns_base_load_hosts(a.a_dns, NULL);
	daemon_signals(a.a_base, agent_signal, &a);
	if (local_listen(&a, &cause) != 0 || agent_token(&a) != 0)
		goto fail;
	a.a_state.as_pid = getpid();
	if (agentstate_write(a.a_paths.ap_state, &a.a_state) != 0) {
		xasprintf(&cause, "%s: %s", a.a_paths.ap_state,
		    strerror(errno));
		goto fail;
	}
	if (lease) {
		a.a_lock_fd =
		    open(a.a_paths.ap_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		a.a_lease_ev =
		    event_new(a.a_base, -1, EV_PERSIST, agent_leasecb, &a);
		event_add(a.a_lease_ev, &tv);
	}
	a.a_redial = evtimer_new(a.a_base, agent_redialcb, &a);
	a.a_login_timer = evtimer_new(a.a_base, agent_login_timeoutcb, &a);
	log_info("agent %s started for %s: esp %s:%s, local door 127.0.0.1:%u",
	    DYNPASS_VERSION, conf, a.a_conf.esp_host, a.a_conf.esp_port,
	    (unsigned)ntohs(a.a_state.as_addr.sin_port));
	agent_dial(&a);
	event_base_dispatch(a.a_base);
	{
		struct agentstate cur;

		/*
		 * Whatever stopped it: a state left behind names a port that
		 * anyone may take. Only our own: another agent may have
		 * taken over.
		 */
		if (agentstate_read(a.a_paths.ap_state, &cur) == 0 &&
		    cur.as_pid == getpid())
			unlink(a.a_paths.ap_state);
		explicit_bzero(&cur, sizeof cur);
	}
	log_info("agent stopped");
	agent_free(&a);
	if (a.a_lock_fd >= 0)
		close(a.a_lock_fd);
	return agent_exit_code;
fail:
	fprintf(stderr, "sockhook agent: %s\n", cause);
	if (ready_fd >= 0) {
		agent_ready(&a, cause);
	}
	free(cause);
	agent_free(&a);
	return 1;
}
