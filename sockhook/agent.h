/*
 * The client agent: one TLS session to the esp's client door, carrying
 * every routed connection of the user's programs on this host, and the
 * reverse connections the isp approves back to them.
 */
#ifndef SOCKHOOK_AGENT_H
#define SOCKHOOK_AGENT_H

#include <sys/queue.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "certlogin.h"
#include "optag.h"
#include "scram.h"
#include "session.h"
#include "sockhook.h"
#include "via.h"

struct dialer;
struct local;

/* What the login came to. */
enum agent_login_state {
	AGENT_LOGIN_NONE,    /* no session, or not started */
	AGENT_LOGIN_RUNNING, /* LOGIN sent */
	AGENT_LOGIN_DONE,    /* logged in (or anonymous): connects may go */
	AGENT_LOGIN_REFUSED  /* the isps said no */
};

/* The login at one isp. */
struct agent_leg {
	int al_state; /* LOGIN_CONTINUE..LOGIN_BUSY, or -1 waiting */
	uint32_t al_login;
	unsigned char al_key[OPTAG_KEY_LEN];
	int al_proven; /* the isp proved itself: SCRAM, or a signed share */
	struct scram_client al_scram;
	struct certlogin_client al_cert;
};

struct agent {
	struct event_base *a_base;
	struct evdns_base *a_dns;
	struct config a_conf;
	struct agentstate_paths a_paths;
	struct agentstate a_state;
	SSL_CTX *a_ssl;
	struct via_conf a_via;
	struct session_params a_params;
	int a_lease;    /* started by sockhook for its commands */
	int a_ready_fd; /* to the launcher, until it is told */
	int a_lock_fd;  /* the lease lock */
	int a_idle_ms;  /* without lease holders so far */
	struct event *a_lease_ev;
	int a_draining;

	/* The session to the esp. */
	struct dialer *a_dial;
	struct event *a_redial;
	unsigned a_attempts;         /* failed sessions since the last login */
	struct event *a_login_timer; /* the esp must answer the login */
	uint64_t a_up_ms;            /* when the session came up */
	struct session *a_sess; /* current; older ones drain on their own */
	unsigned a_old;         /* older ones still draining */
	int a_stopping;         /* exit once they have drained */

	/* The login. */
	enum agent_login_state a_login;
	char a_user[FRAME_USER_MAX + 1]; /* the login's, for OPEN */
	X509 *a_cert;
	EVP_PKEY *a_key;
	X509_STORE *a_isp_ca; /* [sockhook] isp_ca, or NULL */
	struct scram_client a_scram;
	struct certlogin_client a_certbase;
	size_t a_nlegs;
	struct agent_leg a_legs[OPTAG_MAX_LEGS];
	uint64_t a_counter; /* of the last OPEN */

	/* The local door. */
	struct evconnlistener *a_lis;
	TAILQ_HEAD(, local) a_locals;
	size_t a_nlocals;
};

int agent_main(const char *conf, int lease, int ready_fd, int verbose);
int agent_check(const char *conf, char **cause);
void agent_ready(struct agent *, const char *error);
int agent_usable(const struct agent *);

void agent_login_start(struct agent *);
void agent_login_reply(struct agent *, const uint8_t *, size_t);
void agent_login_reset(struct agent *);
int agent_login_load(struct agent *, char **cause);
int agent_login_tags(struct agent *, const struct endpoint *dst,
    const struct endpoint *client, uint8_t *secret, size_t *len,
    uint64_t *counter);
int agent_login_proven(const struct agent *);
int agent_login_outside_ok(struct agent *, uint64_t counter,
    const struct endpoint *dst, const uint8_t *tag);

int local_listen(struct agent *, char **cause);
void local_free_all(struct agent *);
void local_outside_open(struct session *, struct channel *,
    const struct frame_open *, void *);

#endif
