/* The outside security proxy: session listener, SOCKS5 door, routing. */
#ifndef DP_ESP_H
#define DP_ESP_H

#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "allow.h"
#include "expect.h"
#include "addr.h"
#include "frame.h"
#include "listen.h"
#include "optag.h"
#include "policy.h"
#include "privdrop.h"
#include "ratelimit.h"
#include "rule.h"
#include "session.h"
#include "srccount.h"
#include "tls.h"

struct socks_client;
struct login;
struct login_part;
struct agent_leg;

#define LOGIN_CACHE_MAX 256 /* accepted logins kept per session */

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
	int el_lane;    /* which of its isp's sessions ([isp] sessions) */
	struct event *el_probe_ev;
	struct esp_link *el_probed; /* the older session being probed */
	struct ruleset *el_rules;   /* the isp's rule files, once sent */
	struct policy el_policy;    /* the isp's users and destinations */
	int el_have_policy;
	int el_login_left; /* the isp takes LOGIN step 3 (CONFIG login-left) */
	struct expect_table el_expect;     /* openings servers announced */
	TAILQ_HEAD(, login_part) el_parts; /* logins asked, not answered */
	TAILQ_HEAD(, agent_leg) el_legs;   /* agents' logins asked there */
	unsigned char el_cache[LOGIN_CACHE_MAX][32]; /* logins it accepted */
	size_t el_ncache;
	char el_id[TLS_ID_MAX + 1]; /* as TLS proved it */
	TAILQ_ENTRY(esp_link) el_entry;
};

/* What an agent's login came to at one isp. */
enum agent_leg_state {
	LEG_WAIT1, /* step 1 sent to the isp */
	LEG_ASKED, /* challenge passed to the agent */
	LEG_WAIT2, /* step 2 sent to the isp */
	LEG_OK,    /* accepted: ag_login is the isp's number */
	LEG_DENIED /* refused, or the isp went away */
};

/* An agent's login at one isp. */
struct agent_leg {
	struct esp_agent *ag_agent;
	struct esp_link *ag_link; /* NULL once its session is gone */
	uint32_t ag_ref;          /* our number for it, toward the isp */
	uint32_t ag_login;        /* the isp's number, once accepted */
	enum agent_leg_state ag_state;
	TAILQ_ENTRY(agent_leg) ag_entry; /* on the link, while waiting */
};

/* A client agent's session on the client door. */
struct esp_agent {
	struct esp *a_esp;
	struct session *a_sess;
	uint64_t a_serial; /* unique in this process; owns expectations */
	char a_peer[ADDR_STRLEN];
	struct sockaddr_storage a_sa;
	struct endpoint a_client; /* the agent's address, as we see it */
	int a_up;
	int a_login;                 /* 0 none yet, 1 under way, 2 done */
	int a_limited;               /* holds a login slot of the rate limits */
	unsigned a_refused;          /* logins refused or failed on it */
	struct event *a_login_timer; /* [esp] agent_login_timeout */
	uint8_t a_rlkey[16];         /* its source, as the limits count it */
	uint32_t a_ref;              /* the agent's number for its login */
	uint8_t a_method;
	char a_user[FRAME_USER_MAX + 1]; /* who the isps accepted; "" none */
	struct agent_leg a_legs[OPTAG_MAX_LEGS];
	size_t a_nlegs;
	unsigned a_stalls;      /* its channels that held an isp session up */
	uint64_t a_stall_t0;    /* ... counted since (monotime ms) */
	uint64_t a_stall_last;  /* the last one (monotime ms) */
	struct event *a_end_ev; /* the session ends (door_stalled) */
	TAILQ_ENTRY(esp_agent) a_entry;
};

struct esp {
	struct event_base *e_base;
	struct listen_set e_sess_doors;    /* [esp] session_listen */
	struct listen_set e_socks_doors;   /* socks_listen, maybe none */
	struct listen_set e_client_doors;  /* client_listen, maybe none */
	struct listen_set e_metrics_doors; /* [metrics] listen, maybe none */
	struct metrics_http *e_metrics;
	char *e_metrics_warning;
	char *e_dump; /* -T */
	SSL_CTX *e_ssl;
	SSL_CTX *e_client_ssl; /* [client_tls]: what agents see */
	char *e_client_cert, *e_client_key;
	TAILQ_HEAD(, esp_agent) e_agents;
	uint64_t e_agent_serials;
	unsigned e_max_agent_handshakes;
	unsigned e_max_agents, e_max_agents_per_source;
	unsigned e_max_agent_channels; /* [esp] max_channels_per_agent */
	int e_agent_login_ms;
	time_t e_notice_sec; /* refusals told to the isps this second */
	unsigned e_notices;
	struct tls_conf e_tls;
	struct session_params e_params;
	struct privdrop e_priv; /* [daemon] */
	int e_socks_timeout_ms;
	int e_drain_ms;
	int e_connect_timeout_ms; /* outside connects for reverse legs */
	int e_outside_own;        /* they may go to this host's addresses */
	unsigned e_max_sess_handshakes; /* isp sessions not yet up, at most */
	struct timeval e_open_timeout; /* how long a client waits for the isp */
	unsigned e_max_clients;
	size_t e_nclients; /* SOCKS clients still in their handshake */
	unsigned e_max_conns_per_source; /* SOCKS connections, one address */
	struct srccount *e_conns;        /* SOCKS connections per address */
	TAILQ_HEAD(esp_links, esp_link) e_links;
	TAILQ_HEAD(, socks_client) e_clients;
	struct event *e_drain_ev;
	int e_draining;
	int e_probe_ms; /* how long a session with a taken id may be silent */
	unsigned e_max_lanes; /* sessions one isp may hold here */
	struct ratelimit_conf e_login_limits;
	struct ratelimit *e_logins;
	unsigned char e_login_key[32]; /* for the cache of accepted logins */
	uint32_t e_next_ref;
	uint32_t e_parent; /* esp_route: the control channel of an opening */
};

struct esp_link *esp_route(struct esp *, const struct endpoint *dst,
    const struct endpoint *client, const char *user, const void *password,
    size_t passlen, const struct esp_agent *, uint8_t *code);
void esp_auth_modes(struct esp *, int *users, int *anonymous);
typedef int (*esp_lane_ok)(struct esp_link *, void *);
struct esp_link *esp_lane_pick(struct esp *, struct esp_link *, esp_lane_ok,
    void *);
struct login *login_start(struct esp *, const struct sockaddr *,
    const char *user, const void *, size_t, login_done_cb, void *);
void login_cancel(struct login *);
void login_result(struct esp_link *, uint32_t ref, uint8_t code);
int login_link_ok(struct esp_link *, const char *user, const void *, size_t);
int login_link_askable(struct esp_link *, void *);
void login_link_forget(struct esp_link *, int gone);
void outside_open(struct session *, struct channel *, const struct frame_open *,
    void *);
void outside_scan(struct esp_link *, struct channel *, const struct esp_agent *,
    uint32_t agent_channel);

void door_accept(struct esp *, evutil_socket_t, const struct sockaddr *);
void door_goaway_all(struct esp *, const char *);
void door_close_all(struct esp *, const char *);
struct esp_agent *door_find(struct esp *, uint64_t serial);
void door_link_gone(struct esp *, struct esp_link *);
void door_stalled(struct esp_agent *);
void agentlogin_step(struct esp_agent *, const uint8_t *, size_t);
void agentlogin_reply(struct esp_link *, const uint8_t *, size_t);
void agentlogin_forget(struct esp_agent *);
void agentlogin_link_gone(struct esp_link *);
void agentlogin_relogin(struct esp_link *, uint32_t login, const char *what,
    const char *goaway);
void agentlogin_link_draining(struct esp_link *);
struct agent_leg *agentlogin_leg(const struct esp_agent *,
    const struct esp_link *);
void relay_open(struct session *, struct channel *, const struct frame_open *,
    void *);
int relay_outside(struct esp_link *, struct channel *, struct channel *ctl,
    const struct frame_open *, uint64_t agent, uint32_t agent_channel);

extern const char *const esp_known_keys[]; /* esp/keys.c */

#endif
