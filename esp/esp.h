/* The outside security proxy: session listener, SOCKS5 door, routing. */
#ifndef DP_ESP_H
#define DP_ESP_H

#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "allow.h"
#include "expect.h"
#include "frame.h"
#include "policy.h"
#include "ratelimit.h"
#include "rule.h"
#include "session.h"
#include "tls.h"

struct socks_client;
struct login;
struct login_part;

#define LOGIN_CACHE_MAX       256  /* accepted logins kept per session */
#define CONFIG_MAX_RULES      4096 /* allow rules an isp may announce */
#define CONFIG_MAX_RULE_FILES 64

/* What a login came to. */
enum login_result { LOGIN_OK, LOGIN_REFUSED, LOGIN_LIMITED };
typedef void (*login_done_cb)(enum login_result, const char *why, void *arg);

/* One ISP's session, with what it told us in CONFIG. */
struct esp_link {
	struct esp *el_esp;
	struct session *el_sess;
	struct allow el_serves; /* the isp's allow list, checked first here */
	int el_have_serves;
	int el_up;      /* HELLO done */
	int el_pending; /* another session has this id: probing it first */
	struct event *el_probe_ev;
	struct esp_link *el_probed;    /* the older session being probed */
	struct ruleset *el_rules;      /* the isp's rule files, once sent */
	struct ruleset **el_old_rules; /* replaced; live scanners use them */
	size_t el_nold_rules;
	struct policy el_policy; /* the isp's users and destinations */
	int el_have_policy;
	struct expect_table el_expect;     /* openings servers announced */
	TAILQ_HEAD(, login_part) el_parts; /* logins asked, not answered */
	unsigned char el_cache[LOGIN_CACHE_MAX][32]; /* logins it accepted */
	size_t el_ncache;
	char el_id[TLS_ID_MAX + 1]; /* as TLS proved it */
	TAILQ_ENTRY(esp_link) el_entry;
};

struct esp {
	struct event_base *e_base;
	struct evconnlistener *e_session_lis;
	struct evconnlistener *e_socks_lis;
	SSL_CTX *e_ssl;
	struct tls_conf e_tls;
	struct session_params e_params;
	char *e_session_listen;
	char *e_socks_listen;
	int e_socks_timeout_ms;
	int e_drain_ms;
	int e_connect_timeout_ms; /* outside connects for reverse legs */
	int e_outside_own;        /* they may go to this host's addresses */
	unsigned e_max_sess_handshakes; /* isp sessions not yet up, at most */
	struct timeval e_open_timeout; /* how long a client waits for the isp */
	uint64_t e_max_clients;
	size_t e_nclients; /* SOCKS clients still in their handshake */
	TAILQ_HEAD(esp_links, esp_link) e_links;
	TAILQ_HEAD(, socks_client) e_clients;
	struct event *e_drain_ev;
	int e_draining;
	int e_probe_ms; /* how long a session with a taken id may be silent */
	struct ratelimit_conf e_login_limits;
	struct ratelimit *e_logins;
	unsigned char e_login_key[32]; /* for the cache of accepted logins */
	uint32_t e_next_ref;
};

struct esp_link *esp_route(struct esp *, const struct endpoint *dst,
    const struct endpoint *client, const char *user, const void *password,
    size_t passlen, uint8_t *code);
void esp_auth_modes(struct esp *, int *users, int *anonymous);
struct login *login_start(struct esp *, const struct sockaddr *,
    const char *user, const void *, size_t, login_done_cb, void *);
void login_cancel(struct login *);
void login_result(struct esp_link *, uint32_t ref, uint8_t code);
int login_link_ok(struct esp_link *, const char *user, const void *, size_t);
void login_link_forget(struct esp_link *, int gone);
void outside_open(struct session *, struct channel *, const struct frame_open *,
    void *);
void outside_scan(struct esp_link *, struct channel *);

#endif
