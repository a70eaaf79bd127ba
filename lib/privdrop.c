/*
 * Giving up root (lib/privdrop.h). The user and group are looked up when
 * the configuration is read, so a missing one is a -t error; the drop
 * itself clears supplementary groups, sets the group then the user, and
 * checks that root cannot be had back.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "conf.h"
#include "log.h"
#include "xmalloc.h"

/* Read [daemon] user, group, chroot and allow_root. */
int
privdrop_conf_load(const struct conf *c, struct privdrop *pd, char **cause)
{
	const char *user = conf_str(c, "daemon:user", NULL);
	const char *group = conf_str(c, "daemon:group", NULL);
	struct passwd *pw;
	struct group *gr;

	memset(pd, 0, sizeof *pd);
	if (conf_bool(c, "daemon:allow_root", 0, &pd->pd_allow_root, cause) !=
	    0)
		return -1;
	if (user == NULL) {
		if (group != NULL)
			return conf_error(cause, c, "daemon:group",
			    "set, but user is not");
		if (conf_str(c, "daemon:chroot", NULL) != NULL)
			return conf_error(cause, c, "daemon:chroot",
			    "set, but user is not (root can leave a chroot)");
		/* Said here, so that -t says it too, not only the start. */
		if (geteuid() == 0 && !pd->pd_allow_root)
			return conf_error(cause, c, "daemon:user",
			    "missing: as root, set [daemon] user (and group) "
			    "to run as, or allow_root = yes");
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL)
		return conf_error(cause, c, "daemon:user",
		    "no such user \"%s\" (adduser --system %s)", user, user);
	if (pw->pw_uid == 0)
		return conf_error(cause, c, "daemon:user",
		    "\"%s\" is root: name the user to run as", user);
	pd->pd_uid = pw->pw_uid;
	pd->pd_gid = pw->pw_gid;
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL)
			return conf_error(cause, c, "daemon:group",
			    "no such group \"%s\"", group);
		pd->pd_gid = gr->gr_gid;
	}
	pd->pd_user = xstrdup(user);
	if (conf_path_key(c, "daemon:chroot", &pd->pd_chroot, cause) != 0)
		return -1;
	return 0;
}

/*
 * Drop to the configured user (after binding and reading keys). 0, or -1
 * with *cause; also -1 when we would go on as root and that is not
 * allowed.
 */
int
privdrop_apply(const struct privdrop *pd, const char *prog, char **cause)
{
	if (pd->pd_user == NULL) {
		if (geteuid() == 0 && !pd->pd_allow_root) {
			xasprintf(cause,
			    "refusing to run as root: set [daemon] user (and "
			    "group) to run as, or allow_root = yes");
			return -1;
		}
		return 0;
	}
	if (geteuid() != 0) {
		if (geteuid() == pd->pd_uid)
			return 0;
		xasprintf(cause, "cannot become user %s: %s runs as uid %u",
		    pd->pd_user, prog, (unsigned)geteuid());
		return -1;
	}
	/* Files opened as root: the user must be able to reopen them. */
	if (log_file_chown(pd->pd_uid, pd->pd_gid) != 0 ||
	    audit_chown(pd->pd_uid, pd->pd_gid) != 0) {
		xasprintf(cause, "cannot give the log files to %s: %s",
		    pd->pd_user, strerror(errno));
		return -1;
	}
	if (pd->pd_chroot != NULL &&
	    (chroot(pd->pd_chroot) != 0 || chdir("/") != 0)) {
		xasprintf(cause, "chroot %s: %s", pd->pd_chroot,
		    strerror(errno));
		return -1;
	}
	if (setgroups(1, &pd->pd_gid) != 0 ||
	    setresgid(pd->pd_gid, pd->pd_gid, pd->pd_gid) != 0 ||
	    setresuid(pd->pd_uid, pd->pd_uid, pd->pd_uid) != 0) {
		xasprintf(cause, "cannot become user %s: %s", pd->pd_user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		xasprintf(cause, "could become root again after dropping to %s",
		    pd->pd_user);
		return -1;
	}
	return 0;
}

/* Free what privdrop_conf_load allocated. */
void
privdrop_clear(struct privdrop *pd)
{
	free(pd->pd_user);
	free(pd->pd_chroot);
	memset(pd, 0, sizeof *pd);
}
