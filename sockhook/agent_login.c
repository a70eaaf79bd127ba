/*
 * The agent's login, one exchange ("leg") per isp the esp asks: SCRAM
 * with the user's password (lib/scram.c), or a certificate (lib/
 * certlogin.c). The esp only relays. Each accepted leg ends with a key
 * only the agent and that isp hold; every OPEN carries a tag under each
 * leg's key, and a reverse connection is made only with a tag under one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "agent.h"
#include "log.h"
#include "xmalloc.h"

/* SCRAM costs below this would let a relaying esp guess fast offline. */
#define AGENT_SCRAM_MIN_N 16384

/* Read the certificate and key of a certificate login. */
int
agent_login_load(struct agent *a, char **cause)
{
	struct stat st;
	char *why;
	FILE *f;

	if (a->a_conf.cert == NULL)
		return 0;
	if (stat(a->a_conf.key, &st) == 0 && (st.st_mode & 077) != 0) {
		xasprintf(cause,
		    "%s: [sockhook] key: %s is accessible to group or others "
		    "(mode %03o); run chmod 600 %s",
		    a->a_conf.path, a->a_conf.key,
		    (unsigned)(st.st_mode & 0777), a->a_conf.key);
		return -1;
	}
	if ((f = fopen(a->a_conf.cert, "r")) == NULL ||
	    (a->a_cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		xasprintf(cause, "%s: [sockhook] cert: cannot read %s",
		    a->a_conf.path, a->a_conf.cert);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	if ((f = fopen(a->a_conf.key, "r")) == NULL ||
	    (a->a_key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL) {
		xasprintf(cause, "%s: [sockhook] key: cannot read %s",
		    a->a_conf.path, a->a_conf.key);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	if (X509_check_private_key(a->a_cert, a->a_key) != 1) {
		xasprintf(cause,
		    "%s: [sockhook] key: %s does not match the certificate %s",
		    a->a_conf.path, a->a_conf.key, a->a_conf.cert);
		return -1;
	}
	if (a->a_conf.isp_ca != NULL &&
	    (a->a_isp_ca = certlogin_ca_load(a->a_conf.isp_ca, &why)) == NULL) {
		xasprintf(cause, "%s: [sockhook] isp_ca: %s", a->a_conf.path,
		    why);
		free(why);
		return -1;
	}
	return 0;
}

/* Forget every leg's state and keys. */
void
agent_login_reset(struct agent *a)
{
	size_t i;

	for (i = 0; i < OPTAG_MAX_LEGS; i++) {
		scram_client_clear(&a->a_legs[i].al_scram);
		certlogin_client_clear(&a->a_legs[i].al_cert);
		OPENSSL_cleanse(&a->a_legs[i], sizeof a->a_legs[i]);
	}
	scram_client_clear(&a->a_scram);
	certlogin_client_clear(&a->a_certbase);
	a->a_nlegs = 0;
	a->a_login = AGENT_LOGIN_NONE;
}

/* Send one LOGIN step. */
static void
agent_login_send(struct agent *a, uint8_t leg, uint8_t step, const uint8_t *msg,
    size_t len)
{
	struct frame_login fl;
	uint8_t buf[FRAME_LOGIN_MSG_MAX + 64];
	size_t n;

	memset(&fl, 0, sizeof fl);
	fl.fl_ref = 1;
	fl.fl_leg = leg;
	fl.fl_method = a->a_cert != NULL ? AUTH_CERT : AUTH_SCRAM;
	fl.fl_step = step;
	fl.fl_msg = msg;
	fl.fl_msglen = len;
	if ((n = frame_login_encode(buf, sizeof buf, &fl)) > 0)
		session_send_message(a->a_sess, FRAME_LOGIN, buf, n);
	OPENSSL_cleanse(buf, sizeof buf);
}

/* The session is up: log in, or go on anonymously. */
void
agent_login_start(struct agent *a)
{
	uint8_t msg[FRAME_LOGIN_MSG_MAX];
	const char *why = NULL;
	size_t n = 0;

	agent_login_reset(a);
	if (a->a_cert == NULL && a->a_conf.user == NULL) {
		a->a_login = AGENT_LOGIN_DONE;
		log_info("session up; no login (anonymous)");
		agent_ready(a, NULL);
		return;
	}
	if (a->a_cert != NULL) {
		if (certlogin_client_start(&a->a_certbase, a->a_cert, msg,
			sizeof msg, &n, &why) != 0) {
			log_warnx("cannot start a certificate login: %s", why);
			agent_ready(a, why);
			return;
		}
	} else if (scram_client_start(&a->a_scram, a->a_conf.user,
		       a->a_conf.pass, strlen(a->a_conf.pass), (char *)msg,
		       sizeof msg) != 0) {
		log_warnx("cannot log in as \"%s\": not a user name for SCRAM",
		    a->a_conf.user);
		agent_ready(a, "the user name cannot log in");
		return;
	} else
		n = strlen((char *)msg);
	a->a_login = AGENT_LOGIN_RUNNING;
	agent_login_send(a, 0, 1, msg, n);
	OPENSSL_cleanse(msg, sizeof msg);
}

/* The isp's challenge for a leg: answer with the proof. */
static int
agent_login_prove(struct agent *a, struct agent_leg *l, uint8_t leg,
    const struct frame_login_reply *r, const char **why)
{
	static char ispwhy[300];
	uint8_t out[FRAME_LOGIN_MSG_MAX];
	char sfirst[SCRAM_MSG_MAX], *i, isp[CERTLOGIN_USER_MAX + 1];
	size_t n = 0;

	if (a->a_cert != NULL) {
		l->al_cert = a->a_certbase;
		if (l->al_cert.cl_eph != NULL)
			EVP_PKEY_up_ref(l->al_cert.cl_eph);
		if (l->al_cert.cl_cert != NULL)
			EVP_PKEY_up_ref(l->al_cert.cl_cert);
		/* With isp_ca, the isp must have signed its share. */
		if (certlogin_client_isp(&l->al_cert, r->flr_msg, r->flr_msglen,
			a->a_isp_ca, a->a_conf.isp_name, isp, sizeof isp,
			why) != 0) {
			snprintf(ispwhy, sizeof ispwhy,
			    "the isp is not proven ([sockhook] isp_ca): %s",
			    *why);
			*why = ispwhy;
			return -1;
		}
		l->al_proven = l->al_cert.cl_isp_signed;
		if (l->al_proven)
			log_debug("login at isp %u: signed by \"%s\"", leg + 1,
			    isp);
		if (certlogin_client_sign(&l->al_cert, a->a_key, r->flr_msg,
			CERTLOGIN_MSG2_LEN, out, sizeof out, &n, why) != 0)
			return -1;
	} else {
		*why = "malformed challenge";
		if (r->flr_msglen >= sizeof sfirst ||
		    memchr(r->flr_msg, '\0', r->flr_msglen) != NULL)
			return -1;
		memcpy(sfirst, r->flr_msg, r->flr_msglen);
		sfirst[r->flr_msglen] = '\0';
		/* A low cost would let the relay guess the password offline. */
		*why = "the password's scrypt cost is too low to send a proof "
		       "through the esp (at least 16384)";
		if ((i = strstr(sfirst, ",i=")) == NULL ||
		    strtoull(i + 3, NULL, 10) < AGENT_SCRAM_MIN_N)
			return -1;
		l->al_scram = a->a_scram;
		if (scram_client_final(&l->al_scram, sfirst, (char *)out,
			sizeof out, why) != 0)
			return -1;
		n = strlen((char *)out);
		l->al_proven = 1; /* its server signature proves the isp */
	}
	agent_login_send(a, leg, 2, out, n);
	OPENSSL_cleanse(out, sizeof out);
	return 0;
}

/* The isp accepted a leg: check its proof and keep the key. */
static int
agent_login_accepted(struct agent *a, struct agent_leg *l,
    const struct frame_login_reply *r, const char **why)
{
	char sfinal[SCRAM_MSG_MAX];

	l->al_login = r->flr_login;
	if (a->a_cert != NULL)
		return certlogin_client_verify(&l->al_cert, r->flr_msg,
		    r->flr_msglen, l->al_key, why);
	*why = "malformed server-final message";
	if (r->flr_msglen >= sizeof sfinal ||
	    memchr(r->flr_msg, '\0', r->flr_msglen) != NULL)
		return -1;
	memcpy(sfinal, r->flr_msg, r->flr_msglen);
	sfinal[r->flr_msglen] = '\0';
	return scram_client_verify(&l->al_scram, sfinal, l->al_key, why);
}

/* Every leg answered: logged in if any isp accepted. */
static void
agent_login_finish(struct agent *a, int busy)
{
	size_t i, ok = 0;

	for (i = 0; i < a->a_nlegs; i++) {
		if (a->a_legs[i].al_state == -1 ||
		    a->a_legs[i].al_state == LOGIN_CONTINUE)
			return;
		ok += a->a_legs[i].al_state == LOGIN_ACCEPTED;
	}
	scram_client_clear(&a->a_scram);
	certlogin_client_clear(&a->a_certbase);
	evtimer_del(a->a_login_timer);
	if (ok > 0) {
		a->a_login = AGENT_LOGIN_DONE;
		log_info("logged in as %s by %s (%zu of %zu isps)",
		    a->a_cert != NULL ? "the certificate's user"
				      : a->a_conf.user,
		    a->a_cert != NULL ? "certificate" : "password", ok,
		    a->a_nlegs);
		if (!agent_login_proven(a))
			log_info("no isp proved itself ([sockhook] isp_ca is "
				 "not set): reverse connections (active FTP, "
				 "DCC, rsh) are refused");
		agent_ready(a, NULL);
		return;
	}
	a->a_login = AGENT_LOGIN_REFUSED;
	if (busy) {
		log_warnx("login not checked now (limits, or no isp): trying "
			  "again later");
		session_close(a->a_sess, "login not checked");
		return;
	}
	log_warnx("login refused: %s",
	    a->a_cert != NULL ? "the isps do not accept this certificate"
			      : "wrong user name or password");
	agent_ready(a,
	    a->a_cert != NULL ? "login refused for this certificate"
			      : "login refused: wrong user name or "
				"password");
}

/* LOGIN_REPLY from the esp: one leg's answer. */
void
agent_login_reply(struct agent *a, const uint8_t *p, size_t len)
{
	struct frame_login_reply r;
	struct agent_leg *l;
	const char *why = NULL;
	size_t i;

	if (a->a_draining)
		return; /* stopping: what the isps say does not matter now */
	if (frame_login_reply_decode(p, len, &r) != FRAME_OK ||
	    a->a_login != AGENT_LOGIN_RUNNING || r.flr_ref != 1 ||
	    r.flr_legs > OPTAG_MAX_LEGS ||
	    (a->a_nlegs != 0 && r.flr_legs != a->a_nlegs)) {
		session_fail(a->a_sess, GOAWAY_PROTOCOL,
		    "unexpected or malformed LOGIN_REPLY");
		return;
	}
	if (a->a_nlegs == 0) {
		a->a_nlegs = r.flr_legs;
		for (i = 0; i < a->a_nlegs; i++)
			a->a_legs[i].al_state = -1;
	}
	l = &a->a_legs[r.flr_leg];
	if (r.flr_code == LOGIN_CONTINUE && l->al_state == -1) {
		l->al_state = LOGIN_CONTINUE;
		if (agent_login_prove(a, l, r.flr_leg, &r, &why) == 0)
			return;
		log_warnx("login at isp %u of %zu: %s", r.flr_leg + 1,
		    a->a_nlegs, why);
		l->al_state = LOGIN_DENIED;
		agent_ready(a, why); /* the agent stops */
		return;
	}
	if (r.flr_code == LOGIN_ACCEPTED && l->al_state == LOGIN_CONTINUE) {
		l->al_state = LOGIN_ACCEPTED;
		if (agent_login_accepted(a, l, &r, &why) != 0) {
			/* Not the isp that holds our secret: never use it. */
			log_warnx("login at isp %u of %zu: %s; not using it",
			    r.flr_leg + 1, a->a_nlegs, why);
			l->al_state = LOGIN_DENIED;
		}
	} else if (r.flr_code == LOGIN_DENIED || r.flr_code == LOGIN_BUSY)
		l->al_state = r.flr_code;
	else {
		session_fail(a->a_sess, GOAWAY_PROTOCOL,
		    "LOGIN_REPLY out of turn");
		return;
	}
	agent_login_finish(a, r.flr_code == LOGIN_BUSY);
}

/*
 * The OPEN secret: a new counter and a tag for each isp that accepted
 * the login. 0, or -1 when not logged in (the open is anonymous).
 */
int
agent_login_tags(struct agent *a, const struct endpoint *dst,
    const struct endpoint *client, uint8_t *secret, size_t *len,
    uint64_t *counter)
{
	struct optag_legs legs;
	size_t i;

	memset(&legs, 0, sizeof legs);
	legs.ol_counter = ++a->a_counter;
	for (i = 0; i < a->a_nlegs; i++) {
		if (a->a_legs[i].al_state != LOGIN_ACCEPTED)
			continue;
		legs.ol_leg[legs.ol_n] = (uint8_t)i;
		optag_open(a->a_legs[i].al_key, a->a_legs[i].al_login,
		    legs.ol_counter, dst, client, legs.ol_tag[legs.ol_n]);
		legs.ol_n++;
	}
	*counter = legs.ol_counter;
	if (legs.ol_n == 0)
		return -1;
	*len = optag_legs_encode(&legs, secret, FRAME_SECRET_MAX);
	return *len > 0 ? 0 : -1;
}

/*
 * Did an isp that accepted the login prove itself? Only such a leg's key
 * may approve reverse connections: an unproven one may be the esp's.
 */
int
agent_login_proven(const struct agent *a)
{
	size_t i;

	for (i = 0; i < a->a_nlegs; i++)
		if (a->a_legs[i].al_state == LOGIN_ACCEPTED &&
		    a->a_legs[i].al_proven)
			return 1;
	return 0;
}

/* Did one of our proven isps approve a reverse connection to dst? */
int
agent_login_outside_ok(struct agent *a, uint64_t counter,
    const struct endpoint *dst, const uint8_t *tag)
{
	uint8_t want[OPTAG_LEN];
	size_t i;

	for (i = 0; i < a->a_nlegs; i++) {
		if (a->a_legs[i].al_state != LOGIN_ACCEPTED ||
		    !a->a_legs[i].al_proven)
			continue;
		optag_outside(a->a_legs[i].al_key, a->a_legs[i].al_login,
		    counter, dst, want);
		if (optag_equal(want, tag))
			return 1;
	}
	return 0;
}
