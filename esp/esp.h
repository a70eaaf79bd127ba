/* The outside security proxy: session listener, SOCKS5 door, routing. */
#ifndef DP_ESP_H
#define DP_ESP_H

#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "allow.h"
#include "expect.h"
#include "policy.h"
#include "rule.h"
#include "frame.h"
#include "session.h"
#include "tls.h"

struct socks_client;

/* One ISP's session, with what it told us in CONFIG. */
struct esp_link {
	struct esp *el_esp;
	struct session *el_sess;
	struct allow el_serves; /* the isp's allow list, checked first here */
	int el_have_serves;
		struct ruleset *el_rules;      /* the isp's rule files, once sent */
	struct ruleset **el_old_rules; /* replaced; live scanners use them */
	size_t el_nold_rules;
	struct policy el_policy;       /* the isp's users and destinations */
	int el_have_policy;
	struct expect_table el_expect; /* openings servers announced */
	char el_id[64];
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
	int e_connect_timeout_ms;      /* outside connects for reverse legs */
	struct timeval e_open_timeout; /* how long a client waits for the isp */
	uint64_t e_max_clients;
	size_t e_nclients; /* SOCKS clients still in their handshake */
	TAILQ_HEAD(esp_links, esp_link) e_links;
	TAILQ_HEAD(, socks_client) e_clients;
	struct event *e_drain_ev;
	int e_draining;
};

struct esp_link *esp_route(struct esp *, const struct endpoint *dst,
    const struct endpoint *client, const char *user, const char *password,
    uint8_t *code);
void esp_auth_modes(struct esp *, int *users, int *anonymous);
int esp_login(struct esp *, const char *user, const char *password);
void outside_open(struct session *, struct channel *, const struct frame_open *,
    void *);
void outside_scan(struct esp_link *, struct channel *);

#endif
