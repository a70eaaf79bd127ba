/*
 * SOCKS logins, relayed to the isps. The esp holds no password hashes:
 * it sends each login (AUTH) to the isps whose policy names the user, and
 * the isps decide. A name no isp knows still goes to one isp, which checks
 * it against a dummy hash, so a refusal takes as long either way. What
 * the esp keeps is a keyed hash of each login an isp accepted, for that
 * session's lifetime: a repeat is answered at once, and the OPEN that
 * follows carries the password for the isp to check again.
 *
 * Attempts that go to an isp are limited per source and in total
 * ([esp] login_* keys), in flight and per minute.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "addr.h"
#include "esp.h"
#include "log.h"
#include "ratelimit.h"
#include "xmalloc.h"

/* One isp asked about one login. */
struct login_part {
	struct login *lp_login;
	struct esp_link *lp_link;
	uint32_t lp_ref;
	TAILQ_ENTRY(login_part) lp_link_entry;  /* in the link's list */
	TAILQ_ENTRY(login_part) lp_login_entry; /* in the login's list */
};

struct login {
	struct esp *lg_esp;
	uint8_t lg_key[16]; /* the source, for the limits */
	char lg_user[FRAME_USER_MAX + 1];
	unsigned char lg_mac[32];
	int lg_ok;
	TAILQ_HEAD(, login_part) lg_parts;
	login_done_cb lg_cb;
	void *lg_arg;
};

/* The keyed hash of a login, as cached. */
static void
login_mac(struct esp *e, const char *user, const void *pw, size_t len,
    unsigned char out[32])
{
	unsigned char buf[FRAME_USER_MAX + 1 + FRAME_SECRET_MAX];
	size_t ul = strlen(user);
	unsigned int n = 32;

	memcpy(buf, user, ul);
	buf[ul] = '\0';
	memcpy(buf + ul + 1, pw, len);
	HMAC(EVP_sha256(), e->e_login_key, sizeof e->e_login_key, buf,
	    ul + 1 + len, out, &n);
	OPENSSL_cleanse(buf, sizeof buf);
}

/* Has this link's isp accepted this login before (mac form)? */
static int
login_cached(const struct esp_link *l, const unsigned char mac[32])
{
	size_t i;
	int hit = 0;

	for (i = 0; i < l->el_ncache; i++)
		hit |= CRYPTO_memcmp(l->el_cache[i], mac, 32) == 0;
	return hit;
}

/* Remember an accepted login on a link, the oldest going first. */
static void
login_remember(struct esp_link *l, const unsigned char mac[32])
{
	if (login_cached(l, mac))
		return;
	if (l->el_ncache == LOGIN_CACHE_MAX) {
		memmove(l->el_cache[0], l->el_cache[1],
		    (LOGIN_CACHE_MAX - 1) * sizeof l->el_cache[0]);
		l->el_ncache--;
	}
	memcpy(l->el_cache[l->el_ncache++], mac, 32);
}

/* Has this link's isp accepted this login (for routing the request)? */
int
login_link_ok(struct esp_link *l, const char *user, const void *pw, size_t len)
{
	unsigned char mac[32];
	int ok;

	login_mac(l->el_esp, user, pw, len, mac);
	ok = login_cached(l, mac);
	OPENSSL_cleanse(mac, sizeof mac);
	return ok;
}

/* May this link be asked about logins? */
static int
login_link_usable(const struct esp_link *l)
{
	return !l->el_pending && l->el_have_policy && session_is_up(l->el_sess);
}

/* May this link be asked about a login by name? (an esp_lane_ok) */
int
login_link_askable(struct esp_link *l, void *arg)
{
	(void)arg;
	return login_link_usable(l) && l->el_policy.p_nusers > 0;
}

/* Free a login once nothing refers to it. */
static void
login_free(struct login *lg)
{
	struct login_part *p;

	while ((p = TAILQ_FIRST(&lg->lg_parts)) != NULL) {
		TAILQ_REMOVE(&lg->lg_parts, p, lp_login_entry);
		TAILQ_REMOVE(&p->lp_link->el_parts, p, lp_link_entry);
		free(p);
	}
	ratelimit_release(lg->lg_esp->e_logins, lg->lg_key);
	OPENSSL_cleanse(lg->lg_mac, sizeof lg->lg_mac);
	free(lg);
}

/* One isp answered (or is gone): finish once every one has. */
static void
login_part_done(struct login_part *p, int ok)
{
	struct login *lg = p->lp_login;
	login_done_cb cb;
	void *arg;

	TAILQ_REMOVE(&lg->lg_parts, p, lp_login_entry);
	TAILQ_REMOVE(&p->lp_link->el_parts, p, lp_link_entry);
	if (ok) {
		login_remember(p->lp_link, lg->lg_mac);
		lg->lg_ok = 1;
	}
	free(p);
	if (!TAILQ_EMPTY(&lg->lg_parts))
		return;
	cb = lg->lg_cb;
	arg = lg->lg_arg;
	ok = lg->lg_ok;
	login_free(lg);
	cb(ok ? LOGIN_OK : LOGIN_REFUSED, NULL, arg);
}

/* Send one AUTH for the login to a link's isp. */
static void
login_ask(struct login *lg, struct esp_link *l, const struct endpoint *client,
    const void *pw, size_t len)
{
	struct login_part *p = xcalloc(1, sizeof *p);
	struct frame_auth fa;
	uint8_t buf[600];
	size_t n;

	p->lp_login = lg;
	p->lp_link = l;
	p->lp_ref = ++lg->lg_esp->e_next_ref;
	TAILQ_INSERT_TAIL(&lg->lg_parts, p, lp_login_entry);
	TAILQ_INSERT_TAIL(&l->el_parts, p, lp_link_entry);
	memset(&fa, 0, sizeof fa);
	fa.fa_ref = p->lp_ref;
	fa.fa_method = AUTH_PASSWORD;
	fa.fa_client = *client;
	snprintf(fa.fa_user, sizeof fa.fa_user, "%s", lg->lg_user);
	memcpy(fa.fa_secret, pw, len);
	fa.fa_secret_len = (uint8_t)len;
	n = frame_auth_encode(buf, sizeof buf, &fa);
	session_send_message(l->el_sess, FRAME_AUTH, buf, n);
	OPENSSL_cleanse(&fa, sizeof fa);
	OPENSSL_cleanse(buf, sizeof buf);
}

/*
 * A client at sa logs in: cb gets LOGIN_OK, LOGIN_REFUSED or LOGIN_LIMITED
 * (with why). Returns NULL when cb has already run.
 */
struct login *
login_start(struct esp *e, const struct sockaddr *sa, const char *user,
    const void *pw, size_t len, login_done_cb cb, void *arg)
{
	struct esp_link *l, *decoy = NULL;
	struct login *lg;
	struct endpoint client;
	unsigned char mac[32];
	const char *why;
	int hit = 0, asked = 0;

	login_mac(e, user, pw, len, mac);
	TAILQ_FOREACH(l, &e->e_links, el_entry)
	if (login_link_usable(l) && login_cached(l, mac))
		hit = 1;
	if (hit) {
		OPENSSL_cleanse(mac, sizeof mac);
		cb(LOGIN_OK, NULL, arg);
		return NULL;
	}
	lg = xcalloc(1, sizeof *lg);
	lg->lg_esp = e;
	ratelimit_key(sa, lg->lg_key);
	if ((why = ratelimit_take(e->e_logins, lg->lg_key)) != NULL) {
		OPENSSL_cleanse(mac, sizeof mac);
		free(lg);
		cb(LOGIN_LIMITED, why, arg);
		return NULL;
	}
	snprintf(lg->lg_user, sizeof lg->lg_user, "%s", user);
	memcpy(lg->lg_mac, mac, sizeof mac);
	OPENSSL_cleanse(mac, sizeof mac);
	lg->lg_cb = cb;
	lg->lg_arg = arg;
	TAILQ_INIT(&lg->lg_parts);
	addr_to_endpoint(sa, &client);
	TAILQ_FOREACH_REVERSE(l, &e->e_links, esp_links, el_entry)
	{
		/* One session of each isp: its least busy one. */
		if (!login_link_askable(l, NULL) ||
		    esp_lane_pick(e, l, login_link_askable, NULL) != l)
			continue;
		if (decoy == NULL)
			decoy = l;
		if (policy_find(&l->el_policy, user) != NULL) {
			login_ask(lg, l, &client, pw, len);
			asked = 1;
		}
	}
	/* Nobody knows the name: ask one isp anyway, for equal timing. */
	if (!asked && decoy != NULL)
		login_ask(lg, decoy, &client, pw, len);
	if (TAILQ_EMPTY(&lg->lg_parts)) {
		login_free(lg);
		cb(LOGIN_REFUSED, NULL, arg);
		return NULL;
	}
	return lg;
}

/* The client left: forget the login. */
void
login_cancel(struct login *lg)
{
	if (lg != NULL)
		login_free(lg);
}

/* AUTH_RESULT from a link's isp. */
void
login_result(struct esp_link *l, uint32_t ref, uint8_t code)
{
	struct login_part *p;

	TAILQ_FOREACH(p, &l->el_parts, lp_link_entry)
	if (p->lp_ref == ref) {
		login_part_done(p, code == AUTH_OK);
		return;
	}
}

/*
 * The link's session is going, or its isp sent a new policy: what it
 * accepted is forgotten; with gone, its pending answers count as no.
 */
void
login_link_forget(struct esp_link *l, int gone)
{
	OPENSSL_cleanse(l->el_cache, sizeof l->el_cache);
	l->el_ncache = 0;
	while (gone && !TAILQ_EMPTY(&l->el_parts))
		login_part_done(TAILQ_FIRST(&l->el_parts), 0);
}
