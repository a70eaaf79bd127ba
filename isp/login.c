/*
 * Logins, verified by the isp itself. The esp holds no password hashes:
 * it relays each login (AUTH) and the password of each OPEN, and the isp
 * decides. A user's last good password is remembered as a keyed hash
 * (HMAC-SHA256 under a key made at start), so a repeat costs
 * microseconds; anything else goes to scrypt on the worker threads. An
 * unknown user is checked against a dummy hash of the same cost, so the
 * answer's timing does not tell which users exist.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "addr.h"
#include "conf.h"
#include "isp.h"
#include "kdf.h"
#include "kdfpool.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct login_req {
	struct isp *lr_isp;
	struct kdfjob *lr_job;
	char lr_user[FRAME_USER_MAX + 1];
	char *lr_hash; /* what was checked; must still be the user's */
	unsigned char lr_mac[32];
	int lr_known; /* checked against its hash, and in its pu_checking */
	login_cb lr_cb;
	void *lr_arg;
};

/* Read [isp] login_threads and login_queue. */
int
login_conf_load(struct isp *i, const struct conf *c, char **cause)
{
	unsigned v;

	if (conf_count(c, "isp:login_threads", 1, 1, 16, &v, cause) != 0)
		return -1;
	i->i_login_threads = (int)v;
	if (conf_count(c, "isp:login_queue", 64, 1, 100000, &v, cause) != 0)
		return -1;
	i->i_login_queue = v;
	if (conf_count(c, "isp:login_failures", 20, 1, 1000000,
		&i->i_login_fail_max, cause) != 0 ||
	    conf_duration(c, "isp:login_failure_window", 60000,
		&i->i_login_fail_ms, cause) != 0)
		return -1;
	return 0;
}

/* Start the worker threads; make the cache key and the dummy hash. */
int
login_init(struct isp *i, char **cause)
{
	struct worker *w;
	int n;

	if (RAND_bytes(i->i_login_key, sizeof i->i_login_key) != 1 ||
	    (i->i_dummy_hash = kdf_dummy_hash()) == NULL) {
		xasprintf(cause, "cannot make the login cache key");
		return -1;
	}
	/* A pool per worker: a check's answer comes back on its thread. */
	for (n = 0; n < workers_count(i->i_workers); n++) {
		w = workers_get(i->i_workers, n);
		w->w_data = kdfpool_new(w->w_base, i->i_login_threads,
		    i->i_login_queue);
	}
	/* The main thread's own, in case a check starts there. */
	i->i_kdf = kdfpool_new(i->i_base, n > 0 ? 1 : i->i_login_threads,
	    i->i_login_queue);
	return 0;
}

/* The pool of the calling thread. */
static struct kdfpool *
login_pool(struct isp *i)
{
	struct worker *w = worker_self();

	return w != NULL && w->w_data != NULL ? w->w_data : i->i_kdf;
}

/* Stop the workers (pending checks are dropped unanswered). */
void
login_free(struct isp *i)
{
	struct worker *w;
	int n;

	for (n = 0; n < workers_count(i->i_workers); n++) {
		w = workers_get(i->i_workers, n);
		kdfpool_free(w->w_data);
		w->w_data = NULL;
	}
	kdfpool_free(i->i_kdf);
	i->i_kdf = NULL;
	free(i->i_dummy_hash);
	i->i_dummy_hash = NULL;
	OPENSSL_cleanse(i->i_login_key, sizeof i->i_login_key);
}

/* The keyed hash of a password, for the cache. */
static void
login_mac(struct isp *i, const void *pw, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), i->i_login_key, sizeof i->i_login_key, pw, len, out,
	    &n);
}

/* A client address as 16 bytes (IPv4 mapped), for the pool's fairness. */
static void
login_source(const struct endpoint *ep, uint8_t out[16])
{
	memset(out, 0, 16);
	if (ep->ep_atyp == ATYP_IPV4) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, ep->ep_addr, 4);
	} else if (ep->ep_atyp == ATYP_IPV6)
		memcpy(out, ep->ep_addr, 16);
}

/* scrypt finished: the answer stands only if the user's hash is unchanged. */
static void
login_donecb(int ok, void *arg)
{
	struct login_req *r = arg;
	struct policy_user *u;
	uint8_t code = AUTH_REFUSED;

	isp_lock();
	u = (struct policy_user *)policy_find(&r->lr_isp->i_policy, r->lr_user);
	if (ok && r->lr_known && u != NULL && u->pu_hash != NULL &&
	    strcmp(u->pu_hash, r->lr_hash) == 0) {
		memcpy(u->pu_seen, r->lr_mac, sizeof u->pu_seen);
		u->pu_seen_ok = 1;
		code = AUTH_OK;
	} else
		loginlimit_failed(r->lr_isp, u, "password");
	r->lr_job = NULL;
	metrics_add2(M_LOGINS, "password", code == AUTH_OK ? "ok" : "refused",
	    1);
	metrics_add(M_PASSWORD_HASHES, code == AUTH_OK ? "ok" : "refused", 1);
	r->lr_cb(code, r->lr_arg);
	login_cancel(r);
	isp_unlock();
}

/*
 * Check user's password; cb gets AUTH_OK, AUTH_REFUSED or AUTH_BUSY (the
 * queue is full). Returns NULL when cb has already run.
 */
struct login_req *
login_check(struct isp *i, struct uplink *up, const char *user, const void *pw,
    size_t len, const struct endpoint *client, login_cb cb, void *arg)
{
	struct policy_user *u;
	struct login_req *r;
	unsigned char mac[32];
	uint8_t src[16];
	int known;

	u = (struct policy_user *)policy_find(&i->i_policy, user);
	/* Known: its password is checked (a locked user's is not). */
	known = !loginlimit_locked(i, u) && u != NULL && u->pu_hash != NULL;
	login_mac(i, pw, len, mac);
	if (known && u->pu_seen_ok &&
	    CRYPTO_memcmp(mac, u->pu_seen, sizeof mac) == 0) {
		OPENSSL_cleanse(mac, sizeof mac);
		metrics_add2(M_LOGINS, "password", "ok", 1);
		cb(AUTH_OK, arg);
		return NULL;
	}
	if ((known && !loginlimit_room(i, u)) || !loginlimit_session(i, up)) {
		OPENSSL_cleanse(mac, sizeof mac);
		metrics_add2(M_LOGINS, "password", "busy", 1);
		cb(AUTH_BUSY, arg);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->lr_isp = i;
	snprintf(r->lr_user, sizeof r->lr_user, "%s", user);
	/* A user with only a certificate has no password to match. */
	r->lr_known = known;
	if (known)
		u->pu_checking++;
	r->lr_hash = xstrdup(r->lr_known ? u->pu_hash : i->i_dummy_hash);
	memcpy(r->lr_mac, mac, sizeof mac);
	OPENSSL_cleanse(mac, sizeof mac);
	r->lr_cb = cb;
	r->lr_arg = arg;
	login_source(client, src);
	r->lr_job = kdfpool_verify(login_pool(i), src, pw, len, r->lr_hash,
	    login_donecb, r);
	if (r->lr_job == NULL) {
		log_warnx("login check queue full (%zu): refusing a login",
		    kdfpool_pending(login_pool(i)));
		login_cancel(r);
		metrics_add2(M_LOGINS, "password", "busy", 1);
		cb(AUTH_BUSY, arg);
		return NULL;
	}
	return r;
}

/*
 * A reload's new policy keeps each user's remembered password while the
 * user's hash is unchanged, so logins after a reload cost no scrypt; a
 * changed (or removed) password is forgotten with the old policy.
 * Returns 1 if some user's password changed or went: the esps must then
 * forget the logins they accepted.
 */
int
login_carry(const struct policy *old, struct policy *new)
{
	const struct policy_user *o, *u2;
	struct policy_user *u;
	size_t n;
	int changed = 0;

	for (n = 0; n < old->p_nusers; n++) {
		o = &old->p_users[n];
		u2 = policy_find(new, o->pu_name);
		if (o->pu_hash != NULL &&
		    (u2 == NULL || u2->pu_hash == NULL ||
			strcmp(o->pu_hash, u2->pu_hash) != 0))
			changed = 1;
	}
	for (n = 0; n < new->p_nusers; n++) {
		u = &new->p_users[n];
		o = policy_find(old, u->pu_name);
		if (u->pu_hash == NULL || o == NULL || o->pu_hash == NULL ||
		    strcmp(o->pu_hash, u->pu_hash) != 0)
			continue;
		u->pu_fails = o->pu_fails; /* a reload does not reset them */
		u->pu_fail_since = o->pu_fail_since;
		u->pu_checking = o->pu_checking;
		if (!o->pu_seen_ok)
			continue;
		memcpy(u->pu_seen, o->pu_seen, sizeof u->pu_seen);
		u->pu_seen_ok = 1;
	}
	return changed;
}

/* Forget a check: its callback will not run (any more). */
void
login_cancel(struct login_req *r)
{
	struct policy_user *u;

	if (r == NULL)
		return;
	if (r->lr_known &&
	    (u = (struct policy_user *)policy_find(&r->lr_isp->i_policy,
		 r->lr_user)) != NULL &&
	    u->pu_checking > 0)
		u->pu_checking--;
	if (r->lr_job != NULL)
		kdfpool_cancel(r->lr_job);
	OPENSSL_cleanse(r->lr_mac, sizeof r->lr_mac);
	free(r->lr_hash);
	free(r);
}
