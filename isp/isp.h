/* The inside security proxy: dials the esp, opens inside connections. */
#ifndef DP_ISP_H
#define DP_ISP_H

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "allow.h"
#include "expect.h"
#include "rule.h"
#include "session.h"
#include "tls.h"

struct isp {
	struct event_base *i_base;
	struct evdns_base *i_dns;
	SSL_CTX *i_ssl;
	struct tls_conf i_tls;
	struct session_params i_params;
	char *i_esp;      /* "host:port" as configured */
	char *i_esp_host; /* split */
	char *i_esp_port;
	struct allow i_allow;
	char *i_allow_text;
	char *i_rules;
	struct ruleset *i_ruleset; /* NULL without [isp] rules */
	struct expect_table i_expect;
	struct sockaddr_storage i_data_addr; /* listeners for reverse legs */
	int i_listen_ms;
	size_t i_holdback;
	char i_id[64];
	int i_connect_timeout_ms;
	int i_backoff_max_ms;
	int i_drain_ms;
	struct session *i_sess;
	struct evdns_getaddrinfo_request *i_dial_req;
	struct event *i_redial_ev;
	struct event *i_drain_ev;
	unsigned i_attempts;
	int i_draining;
};

void dial_start(struct isp *);
void dial_schedule(struct isp *);
void dial_stop(struct isp *);
void inside_open(struct isp *, struct channel *, const struct frame_open *);
void reverse_attach(struct isp *, struct channel *, const struct rule_app *,
    evutil_socket_t);

#endif
