/* The inside security proxy: dials the esp, opens inside connections. */
#ifndef DP_ISP_H
#define DP_ISP_H

#include <sys/queue.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "allow.h"
#include "conf.h"
#include "expect.h"
#include "listen.h"
#include "policy.h"
#include "privdrop.h"
#include "rule.h"
#include "session.h"
#include "tls.h"
#include "via.h"
#include "worker.h"

struct isp;
struct daemon_opts;
struct kdfpool;
struct login_req;
struct isp_auth;
struct agentauth_exchange;
struct agentauth_login;

/* A login's answer: AUTH_OK, AUTH_REFUSED or AUTH_BUSY. */
typedef void (*login_cb)(uint8_t code, void *arg);

/* One esp this isp keeps a session to. */
struct uplink {
	struct isp *u_isp;
	char *u_esp;  /* "host:port" as configured */
	int u_lane;   /* which of [isp] sessions to this esp, from 0 */
	char *u_name; /* u_esp, with "#lane" after the first: for logs */
	char *u_host;
	char *u_port;
	struct session *u_sess;
	struct worker *u_worker; /* the thread the session runs on */
	struct evdns_getaddrinfo_request *u_req;
	struct connector *u_conn;
	struct via_req *u_via;
	struct event *u_redial;
	struct event *u_config; /* a reload's CONFIG, on the worker */
	unsigned u_logins_gen;  /* i_logins_gen the esp was last told */
	int u_sent_config;      /* this session had its first CONFIG */
	unsigned u_attempts;
	TAILQ_HEAD(, isp_auth) u_auths; /* logins the esp is waiting for */
	uint64_t u_checks_since;        /* this minute of password checks */
	unsigned u_checks;              /* ... started in it (scrypt) */
	int u_removed; /* gone from [isp] esp: draining, then freed */
	TAILQ_ENTRY(uplink) u_entry;
};

struct isp {
	struct event_base *i_base;
	struct evdns_base *i_dns;
	SSL_CTX *i_ssl;
	struct tls_conf i_tls;
	struct session_params i_params;
	struct privdrop i_priv; /* [daemon] */
	char *i_esp;            /* as configured: one or more "host:port" */
	TAILQ_HEAD(, uplink) i_uplinks;
	struct via_conf i_via;  /* vc_kind 0: direct */
	struct policy i_policy; /* [isp] allow, [policy], users, groups */
	char *i_rules;
	struct ruleset *i_ruleset; /* NULL without [isp] rules */
	const struct daemon_opts *i_opts;
	struct expect_table i_expect;
	struct sockaddr_storage i_data_addr; /* listeners for reverse legs */
	int i_listen_ms;
	size_t i_holdback;
	unsigned i_rev_per_channel; /* reverse openings pending at most */
	unsigned i_rev_per_user;
	unsigned i_rev_per_session;
	char i_id[TLS_ID_MAX + 1]; /* as TLS proves it to the esp */
	int i_connect_timeout_ms;
	int i_backoff_max_ms;
	int i_drain_ms;
	struct event *i_drain_ev;
	int i_draining;
	struct kdfpool *i_kdf; /* password checks, off the loop */
	int i_login_threads;
	unsigned i_lanes; /* [isp] sessions: to each esp */
	int i_nworkers;   /* [isp] workers */
	struct workers *i_workers;
	unsigned i_next_worker; /* the next uplink's, round the workers */
	unsigned i_logins_gen;  /* reloads that changed or removed a password */
	size_t i_login_queue;
	unsigned i_session_checks; /* [isp] session_login_rate, a minute */
	unsigned i_login_fail_max; /* [isp] login_failures per user, */
	int i_login_fail_ms;       /* within login_failure_window */
	char *i_dummy_hash;        /* what unknown users are checked against */
	unsigned char i_login_key[32];
	X509_STORE *i_user_ca; /* [policy] user_ca: certificate logins */
	X509 *i_sign_cert;     /* [isp] login_cert: signs agents' msg 2 */
	EVP_PKEY *i_sign_key;  /* [isp] login_key */
	unsigned char i_user_ca_sum[32];              /* its certificates */
	TAILQ_HEAD(, agentauth_exchange) i_exchanges; /* agent logins */
	TAILQ_HEAD(, agentauth_login) i_logins;
	struct listen_set i_metrics_doors; /* [metrics] listen */
	struct metrics_http *i_metrics;
	char *i_metrics_warning;
	char *i_dump;        /* -T */
	int i_reloading;     /* loading for SIGHUP */
	char *i_tls_skipped; /* why the reload kept the running TLS */
};

/*
 * Threads: each uplink's session, its channels and their sockets run on
 * the uplink's worker. Everything of the isp's own that a worker touches
 * (policy caches, expectations, agent logins, the uplink list) is used
 * under isp_lock, taken by every isp callback that runs on a worker; the
 * main thread parks the workers (isp_park) before it touches any of it.
 */
void isp_lock(void);
void isp_unlock(void);
void isp_park(struct isp *);
void isp_unpark(struct isp *);
struct evdns_base *isp_dns(struct isp *);
int dial_add(struct isp *, const char *, int lane);
void dial_start_all(struct isp *);
void dial_stop(struct isp *);
void dial_free_all(struct isp *);
struct uplink *dial_find(struct isp *, const char *, int lane);
struct session *dial_session(struct isp *, uint64_t serial);
void dial_remove(struct uplink *);
void dial_adopt(struct isp *, struct isp *from, struct uplink *);
int dial_sessions(struct isp *);
void dial_send_config(struct uplink *);
void dial_post_config(struct uplink *);
void inside_open(struct isp *, struct uplink *, struct channel *,
    const struct frame_open *);
int login_conf_load(struct isp *, const struct conf *, char **cause);
int login_init(struct isp *, char **cause);
void login_free(struct isp *);
struct login_req *login_check(struct isp *, struct uplink *, const char *user,
    const void *, size_t, const struct endpoint *, login_cb, void *);
void login_cancel(struct login_req *);
int loginlimit_locked(struct isp *, struct policy_user *);
int loginlimit_room(struct isp *, struct policy_user *);
int loginlimit_session(struct isp *, struct uplink *);
void loginlimit_failed(struct isp *, struct policy_user *, const char *how);
int login_carry(const struct policy *old, struct policy *);
void reverse_attach(struct isp *, struct channel *, const struct rule_app *,
    evutil_socket_t, int honour, uint32_t login, uint64_t counter);
void agentauth_init(struct isp *);
int agentauth_conf_load(struct isp *, const struct conf *, char **cause);
void agentauth_message(struct isp *, struct uplink *, struct session *,
    const uint8_t *, size_t);
int agentauth_open_check(struct isp *, struct session *,
    const struct frame_open *, uint32_t *login, uint64_t *counter,
    const char **why);
int agentauth_outside_tag(struct isp *, uint64_t serial, uint32_t login,
    uint64_t counter, const struct endpoint *dst, uint8_t *tag);
void agentauth_session_gone(struct isp *, uint64_t serial);
void agentauth_reload(struct isp *);
void agentauth_free_all(struct isp *);
int ruletest_main(const char *rulefile, const char *capture);
int query_main(struct isp *, const char *user, const char *hostport);

extern const char *const isp_known_keys[]; /* isp/keys.c */

#endif
