/*
 * Who may reach what: users, groups and anonymous access, owned by the
 * isp (isp.conf) and handed to the esp as text.
 */
#ifndef DP_POLICY_H
#define DP_POLICY_H

#include <stddef.h>

#include "allow.h"

struct conf;

#define POLICY_MAX_USERS 10000

/* One section that makes up a user's policy, in the order merged. */
struct policy_from {
	char *pf_sec;     /* "user alice", "group staff" */
	size_t pf_nallow; /* how many rules of pu_allow it gave */
	int pf_reverse;   /* its own reverse = */
};

struct policy_user {
	char *pu_name;
	char *pu_hash;       /* scrypt hash of the password; isp only */
	char *pu_allow_text; /* the user's and their groups' destinations */
	struct allow pu_allow;
	char *pu_rules; /* "ftp,irc", or NULL for every rule file */
	int pu_reverse; /* announcements may open reverse connections */
	struct policy_from *pu_from; /* isp only: where allow and reverse are */
	size_t pu_nfrom;
	unsigned char
	    pu_seen[32]; /* isp: keyed hash of the last good password */
	int pu_seen_ok;
	uint64_t pu_fail_since; /* isp: its failed logins, from this time */
	unsigned pu_fails;
	unsigned pu_checking; /* isp: checks of its password under way */
};

struct policy {
	struct policy_user *p_users;
	size_t p_nusers;
	size_t p_cap;                  /* room in p_users */
	struct policy_user **p_byname; /* sorted by name, once complete */
	int p_anonymous;               /* clients without a login are served */
	int p_anon_reverse;
	char *p_anon_allow_text; /* the flat [isp] allow */
	struct allow p_anon_allow;
	char *p_anon_rules;
};

int policy_load(struct policy *, const struct conf *, char **cause);
char *policy_text(const struct policy *, size_t *len);
int policy_parse(struct policy *, const char *, size_t, char **cause);
const struct policy_user *policy_find(const struct policy *, const char *);
const struct allow *policy_allow(const struct policy *, const char *user);
int policy_rule_ok(const struct policy *, const char *user, const char *app);
int policy_reverse_ok(const struct policy *, const char *user);
const char *policy_allow_source(const struct policy *, const char *user,
    size_t rule);
const char *policy_reverse_source(const struct policy *, const char *user);
char *policy_serves(const struct policy *);
void policy_free(struct policy *);

#endif
