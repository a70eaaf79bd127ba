/*
 * Who may reach what. In isp.conf:
 *
 *   [isp]     allow = ...        destinations for anonymous clients
 *   [policy]  anonymous = no     (default: yes when no users are defined)
 *             reverse = yes      announcements of anonymous clients
 *             rules = ftp,irc    rule files for anonymous clients
 *   [group NAME]  allow, rules, reverse
 *   [user NAME]   password (scrypt hash, from `isp -P`), groups, allow,
 *                 rules, reverse
 *
 * A user may reach the union of their own and their groups' allow lists;
 * rules likewise; reverse is yes unless the user or one of the groups says
 * no. The esp gets the same policy as text lines, without the password
 * hashes, and enforces it first; the isp verifies every login itself and
 * enforces the policy again.
 */
#include "policy.h"

#include <ctype.h>
#include <iniparser.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "conf.h"
#include "kdf.h"
#include "log.h"
#include "xmalloc.h"

/* A name made of [a-z0-9._-], 1 to 64 characters. */
static int
policy_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!islower((unsigned char)*s) &&
		    !isdigit((unsigned char)*s) && *s != '.' && *s != '_' &&
		    *s != '-')
			return 0;
	return 1;
}

/*
 * Tabs as blanks: the policy text for the esp is tab-separated, and a tab
 * in a list would split its line (and have the esp refuse the policy).
 */
static char *
policy_untab(char *s)
{
	char *p;

	for (p = s; p != NULL && *p != '\0'; p++)
		if (*p == '\t')
			*p = ' ';
	return s;
}

/* Append "more" to a space-separated list. */
static void
policy_append(char **list, const char *more)
{
	char *n;

	/* "none" adds nothing: joined to others it would name a host. */
	if (more == NULL || *more == '\0' || strcmp(more, "none") == 0)
		return;
	if (*list == NULL) {
		*list = policy_untab(xstrdup(more));
		return;
	}
	xasprintf(&n, "%s %s", *list, more);
	free(*list);
	*list = policy_untab(n);
}

/* Append comma-separated rule names; "*" means all (NULL list). */
static void
policy_append_rules(char **list, int *all, const char *more)
{
	char *n;

	if (more == NULL)
		return;
	if (strcmp(more, "*") == 0 || strcmp(more, "all") == 0) {
		*all = 1;
		return;
	}
	if (*list == NULL)
		*list = policy_untab(xstrdup(more));
	else {
		xasprintf(&n, "%s,%s", *list, more);
		free(*list);
		*list = policy_untab(n);
	}
}

/* How many rules allow_parse() makes of one section's allow text. */
static size_t
policy_count_rules(const char *v)
{
	size_t n = 0, len;

	if (v != NULL && strcmp(v, "none") == 0) /* policy_append skips it */
		return 0;
	while (v != NULL && *v != '\0') {
		v += strspn(v, " \t");
		if ((len = strcspn(v, " \t")) > 0)
			n++;
		v += len;
	}
	return n;
}

/* Remember that a section is part of a user's policy. */
static void
policy_from_add(struct policy_user *u, const char *sec, const char *allow,
    int reverse)
{
	struct policy_from *f;

	u->pu_from = xrealloc(u->pu_from, (u->pu_nfrom + 1) * sizeof *f);
	f = &u->pu_from[u->pu_nfrom++];
	f->pf_sec = xstrdup(sec);
	f->pf_nallow = policy_count_rules(allow);
	f->pf_reverse = reverse;
}

/* Add a section's allow and rules to a user's. */
static void
policy_take(struct policy_user *u, const struct conf *c, const char *sec,
    int reverse, int *all, int *any_rules)
{
	char key[300];
	const char *v;

	snprintf(key, sizeof key, "%s:allow", sec);
	policy_from_add(u, sec, conf_str(c, key, NULL), reverse);
	policy_append(&u->pu_allow_text, conf_str(c, key, NULL));
	snprintf(key, sizeof key, "%s:rules", sec);
	if ((v = conf_str(c, key, NULL)) != NULL) {
		*any_rules = 1;
		policy_append_rules(&u->pu_rules, all, v);
	}
}

/* A new, zeroed user at the end of the list. */
static struct policy_user *
policy_add_user(struct policy *p, const char *name)
{
	struct policy_user *u;

	if (p->p_nusers == p->p_cap) {
		p->p_cap = p->p_cap == 0 ? 16 : p->p_cap * 2;
		p->p_users = xrealloc(p->p_users, p->p_cap * sizeof *u);
	}
	u = &p->p_users[p->p_nusers++];
	memset(u, 0, sizeof *u);
	u->pu_name = xstrdup(name);
	return u;
}

/* qsort order of two users: by name. */
static int
policy_cmp(const void *a, const void *b)
{
	const struct policy_user *const *x = a, *const *y = b;

	return strcmp((*x)->pu_name, (*y)->pu_name);
}

/*
 * The list is complete: index it by name for policy_find. Returns the
 * name of a user listed twice, or NULL.
 */
static const char *
policy_index(struct policy *p)
{
	size_t i;

	free(p->p_byname);
	p->p_byname = xcalloc(p->p_nusers + 1, sizeof *p->p_byname);
	for (i = 0; i < p->p_nusers; i++)
		p->p_byname[i] = &p->p_users[i];
	qsort(p->p_byname, p->p_nusers, sizeof *p->p_byname, policy_cmp);
	for (i = 1; i < p->p_nusers; i++)
		if (strcmp(p->p_byname[i - 1]->pu_name,
			p->p_byname[i]->pu_name) == 0)
			return p->p_byname[i]->pu_name;
	return NULL;
}

/*
 * Password hashes let whoever reads them guess passwords offline: say so
 * when everyone may read the file that holds them.
 */
static void
policy_check_mode(const struct policy *p, const struct conf *c)
{
	struct stat st;
	char *warn = NULL;
	size_t i;

	for (i = 0; i < p->p_nusers && p->p_users[i].pu_hash == NULL; i++)
		;
	if (i == p->p_nusers || stat(conf_path(c), &st) != 0 ||
	    !(st.st_mode & S_IROTH))
		return;
	conf_error(&warn, c, NULL,
	    "readable by everyone (mode %o) and it holds password hashes, "
	    "against which a reader can guess passwords offline: chmod 640 "
	    "(and chown root:dynpass, so that the isp can read it again as "
	    "its user)",
	    (unsigned)(st.st_mode & 0777));
	log_warnx("%s", warn);
	free(warn);
}

/* Read one [user NAME] section, merging its groups. */
static int
policy_load_user(struct policy *p, const struct conf *c, const char *sec,
    const char *name, char **cause)
{
	struct policy_user *u;
	char key[300], gsec[200], *groups, *g, *save = NULL, *why = NULL;
	const char *v;
	int rev, grev, all = 0, any_rules = 0, old;

	if (!policy_name_ok(name))
		return conf_error(cause, c, sec,
		    "user names are 1 to 64 of a-z 0-9 . _ -");
	u = policy_add_user(p, name);
	snprintf(key, sizeof key, "%s:password", sec);
	if ((v = conf_str(c, key, NULL)) == NULL &&
	    conf_str(c, "policy:user_ca", NULL) == NULL)
		return conf_error(cause, c, key,
		    "missing: make one with `isp -P` (or log users in by "
		    "certificate with [policy] user_ca)");
	if (v == NULL)
		old = 1; /* a certificate login only */
	else if ((old = kdf_valid(v)) == 0)
		return conf_error(cause, c, key,
		    "not a password hash (scram$N$r$p$salt$storedkey$serverkey "
		    "from `isp -P`)");
	if (old == 2) {
		/*
		 * The scrypt$ form is SCRAM's SaltedPassword: whoever reads
		 * it could log in through an agent. The new form is not.
		 */
		char *conv = kdf_convert(v), *warn = NULL;

		conf_error(&warn, c, key,
		    "in the old scrypt$ form, with which whoever reads this "
		    "file could log in as the user through an agent; "
		    "replace it with: password = %s",
		    conv);
		log_warnx("%s", warn);
		free(warn);
		free(conv);
	}
	if (v != NULL && !kdf_agent_cost_ok(v)) {
		char *warn = NULL;

		conf_error(&warn, c, key,
		    "its scrypt cost is not one client agents run (16 to 128 "
		    "MiB, at most 4 passes): the user can log in by SOCKS "
		    "password, not through an agent; `isp -P` makes one they "
		    "run");
		log_warnx("%s", warn);
		free(warn);
	}
	u->pu_hash = v != NULL ? xstrdup(v) : NULL;
	snprintf(key, sizeof key, "%s:reverse", sec);
	if (conf_bool(c, key, 1, &rev, cause) != 0)
		return -1;
	policy_take(u, c, sec, rev, &all, &any_rules);
	snprintf(key, sizeof key, "%s:groups", sec);
	groups = xstrdup(conf_str(c, key, ""));
	for (g = strtok_r(groups, " \t,", &save); g != NULL;
	     g = strtok_r(NULL, " \t,", &save)) {
		snprintf(gsec, sizeof gsec, "group %s", g);
		if (iniparser_find_entry(conf_dict(c), gsec) == 0) {
			conf_error(cause, c, key, "no [group %s] section", g);
			free(groups); /* g points into it */
			return -1;
		}
		snprintf(key, sizeof key, "%s:reverse", gsec);
		if (conf_bool(c, key, 1, &grev, cause) != 0) {
			free(groups);
			return -1;
		}
		policy_take(u, c, gsec, grev, &all, &any_rules);
		rev = rev && grev;
		snprintf(key, sizeof key, "%s:groups", sec);
	}
	free(groups);
	if (all || !any_rules) {
		free(u->pu_rules);
		u->pu_rules = NULL;
	}
	u->pu_reverse = rev;
	if (allow_parse(&u->pu_allow, u->pu_allow_text, &why) != 0) {
		snprintf(key, sizeof key, "%s:allow", sec);
		conf_error(cause, c, key, "%s", why);
		free(why);
		return -1;
	}
	return 0;
}

/* Read users, groups and [policy] from isp.conf. */
int
policy_load(struct policy *p, const struct conf *c, char **cause)
{
	dictionary *d = conf_dict(c);
	const char *sec, *v;
	char *why = NULL;
	int i, n, anon;

	memset(p, 0, sizeof *p);
	n = iniparser_getnsec(d);
	for (i = 0; i < n; i++) {
		sec = iniparser_getsecname(d, i);
		if (strncmp(sec, "user ", 5) == 0 &&
		    policy_load_user(p, c, sec, sec + 5, cause) != 0)
			return -1;
		if (strncmp(sec, "group ", 6) == 0 && !policy_name_ok(sec + 6))
			return conf_error(cause, c, sec,
			    "group names are 1 to 64 of a-z 0-9 . _ -");
	}
	policy_check_mode(p, c);
	if (conf_bool(c, "policy:anonymous", p->p_nusers == 0, &anon, cause) !=
		0 ||
	    conf_bool(c, "policy:reverse", 1, &p->p_anon_reverse, cause) != 0)
		return -1;
	p->p_anonymous = anon;
	if ((v = conf_str(c, "policy:rules", NULL)) != NULL &&
	    strcmp(v, "*") != 0 && strcmp(v, "all") != 0)
		p->p_anon_rules = policy_untab(xstrdup(v));
	v = conf_str(c, "isp:allow", NULL);
	p->p_anon_allow_text = policy_untab(xstrdup(v != NULL ? v : "none"));
	if (allow_parse(&p->p_anon_allow, v, &why) != 0) {
		conf_error(cause, c, "isp:allow", "%s", why);
		free(why);
		return -1;
	}
	policy_index(p); /* sections are unique: no name twice */
	return 0;
}

/*
 * The policy as text lines for the esp, which never sees password hashes:
 *   anonymous<TAB>0|1<TAB>reverse<TAB>rules<TAB>allow
 *   user<TAB>name<TAB>reverse<TAB>rules<TAB>allow
 * (rules "*" for all, allow "none" for nothing).
 */
char *
policy_text(const struct policy *p, size_t *len)
{
	struct evbuffer *b = evbuffer_new();
	char *out;
	size_t i;

	evbuffer_add_printf(b, "policy\nanonymous\t%d\t%d\t%s\t%s\n",
	    p->p_anonymous, p->p_anon_reverse,
	    p->p_anon_rules ? p->p_anon_rules : "*", p->p_anon_allow_text);
	for (i = 0; i < p->p_nusers; i++) {
		const struct policy_user *u = &p->p_users[i];

		evbuffer_add_printf(b, "user\t%s\t%d\t%s\t%s\n", u->pu_name,
		    u->pu_reverse, u->pu_rules ? u->pu_rules : "*",
		    u->pu_allow_text ? u->pu_allow_text : "none");
	}
	*len = evbuffer_get_length(b);
	out = xmalloc(*len + 1);
	evbuffer_remove(b, out, *len);
	out[*len] = '\0';
	evbuffer_free(b);
	return out;
}

/* Parse what policy_text wrote (esp side). */
int
policy_parse(struct policy *p, const char *text, size_t len, char **cause)
{
	char *copy = xstrndup(text, len), *line, *save = NULL, *f[6];
	char *fs, *why = NULL;
	const char *twice;
	struct policy_user *u;
	int k, rc = -1;

	memset(p, 0, sizeof *p);
	line = strtok_r(copy, "\n", &save);
	if (line == NULL || strcmp(line, "policy") != 0)
		goto bad;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *fsave = NULL;

		for (k = 0, fs = strtok_r(line, "\t", &fsave);
		     fs != NULL && k < 6; fs = strtok_r(NULL, "\t", &fsave))
			f[k++] = fs;
		if (k == 5 && strcmp(f[0], "anonymous") == 0 &&
		    p->p_anon_allow_text == NULL) {
			p->p_anonymous = strcmp(f[1], "1") == 0;
			p->p_anon_reverse = strcmp(f[2], "1") == 0;
			if (strcmp(f[3], "*") != 0)
				p->p_anon_rules = xstrdup(f[3]);
			p->p_anon_allow_text = xstrdup(f[4]);
			if (allow_parse(&p->p_anon_allow, f[4], &why) != 0)
				goto bad;
		} else if (k == 5 && strcmp(f[0], "user") == 0 &&
		    p->p_nusers >= POLICY_MAX_USERS) {
			xasprintf(&why, "more than %d users", POLICY_MAX_USERS);
			goto bad;
		} else if (k == 5 && strcmp(f[0], "user") == 0 &&
		    policy_name_ok(f[1])) {
			u = policy_add_user(p, f[1]);
			u->pu_reverse = strcmp(f[2], "1") == 0;
			if (strcmp(f[3], "*") != 0)
				u->pu_rules = xstrdup(f[3]);
			u->pu_allow_text = xstrdup(f[4]);
			if (allow_parse(&u->pu_allow, f[4], &why) != 0)
				goto bad;
		} else
			goto bad;
	}
	if ((twice = policy_index(p)) != NULL) {
		xasprintf(&why, "user %s listed twice", twice);
		goto bad;
	}
	rc = 0;
	goto out;
bad:
	xasprintf(cause, "malformed policy%s%s", why ? ": " : "",
	    why ? why : "");
	free(why);
	policy_free(p);
out:
	free(copy);
	return rc;
}

/* A user by name: a binary search of the index. */
const struct policy_user *
policy_find(const struct policy *p, const char *name)
{
	size_t lo = 0, hi = p->p_nusers, mid;
	int d;

	if (p->p_byname == NULL)
		return NULL; /* no user yet */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((d = strcmp(name, p->p_byname[mid]->pu_name)) == 0)
			return p->p_byname[mid];
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Destinations for a user ("" = anonymous); NULL if not served at all. */
const struct allow *
policy_allow(const struct policy *p, const char *user)
{
	const struct policy_user *u;

	if (user == NULL || *user == '\0')
		return p->p_anonymous ? &p->p_anon_allow : NULL;
	if ((u = policy_find(p, user)) == NULL)
		return NULL;
	return &u->pu_allow;
}

/* Is app in a comma list (NULL: every app)? */
static int
policy_in_list(const char *list, const char *app)
{
	size_t n = strlen(app);
	const char *s;

	if (list == NULL)
		return 1;
	for (s = list; *s != '\0';) {
		while (*s == ',' || *s == ' ')
			s++;
		if (strncmp(s, app, n) == 0 &&
		    (s[n] == ',' || s[n] == ' ' || s[n] == '\0'))
			return 1;
		s += strcspn(s, ", ");
	}
	return 0;
}

/* Do this user's channels get rule file app ("ftp")? */
int
policy_rule_ok(const struct policy *p, const char *user, const char *app)
{
	const struct policy_user *u;

	if (user == NULL || *user == '\0')
		return policy_in_list(p->p_anon_rules, app);
	if ((u = policy_find(p, user)) == NULL)
		return 0;
	return policy_in_list(u->pu_rules, app);
}

/* May this user's announcements open reverse connections? */
int
policy_reverse_ok(const struct policy *p, const char *user)
{
	const struct policy_user *u;

	if (user == NULL || *user == '\0')
		return p->p_anon_reverse;
	return (u = policy_find(p, user)) != NULL && u->pu_reverse;
}

/*
 * The section that gave rule number rule of the user's allow list, as
 * allow_find() numbers them: "user alice", "group staff", or "isp" for
 * anonymous clients; NULL if it is not known (the esp's copy).
 */
const char *
policy_allow_source(const struct policy *p, const char *user, size_t rule)
{
	const struct policy_user *u;
	size_t i;

	if (user == NULL || *user == '\0')
		return rule < p->p_anon_allow.al_n ? "isp" : NULL;
	if ((u = policy_find(p, user)) == NULL || rule >= u->pu_allow.al_n)
		return NULL;
	for (i = 0; i < u->pu_nfrom; i++) {
		if (rule < u->pu_from[i].pf_nallow)
			return u->pu_from[i].pf_sec;
		rule -= u->pu_from[i].pf_nallow;
	}
	return NULL;
}

/*
 * The section whose reverse = no turns reverse connections off for the
 * user ("policy" for anonymous clients), or NULL.
 */
const char *
policy_reverse_source(const struct policy *p, const char *user)
{
	const struct policy_user *u;
	size_t i;

	if (user == NULL || *user == '\0')
		return p->p_anon_reverse ? NULL : "policy";
	if ((u = policy_find(p, user)) == NULL)
		return NULL;
	for (i = 0; i < u->pu_nfrom; i++)
		if (!u->pu_from[i].pf_reverse)
			return u->pu_from[i].pf_sec;
	return NULL;
}

/* Every destination anyone may reach: what the isp serves. */
char *
policy_serves(const struct policy *p)
{
	char *s = NULL;
	size_t i;

	if (p->p_anonymous && strcmp(p->p_anon_allow_text, "none") != 0)
		policy_append(&s, p->p_anon_allow_text);
	for (i = 0; i < p->p_nusers; i++)
		if (p->p_users[i].pu_allow_text != NULL &&
		    strcmp(p->p_users[i].pu_allow_text, "none") != 0)
			policy_append(&s, p->p_users[i].pu_allow_text);
	return s != NULL ? s : xstrdup("none");
}

/* Free everything. */
void
policy_free(struct policy *p)
{
	size_t i;

	for (i = 0; i < p->p_nusers; i++) {
		struct policy_user *u = &p->p_users[i];

		free(u->pu_name);
		free(u->pu_hash);
		free(u->pu_allow_text);
		allow_free(&u->pu_allow);
		free(u->pu_rules);
		while (u->pu_nfrom > 0)
			free(u->pu_from[--u->pu_nfrom].pf_sec);
		free(u->pu_from);
		OPENSSL_cleanse(u->pu_seen, sizeof u->pu_seen);
		u->pu_seen_ok = 0;
	}
	free(p->p_users);
	free(p->p_byname);
	free(p->p_anon_allow_text);
	allow_free(&p->p_anon_allow);
	free(p->p_anon_rules);
	memset(p, 0, sizeof *p);
}
