/*
 * Giving up root: [daemon] user, group and chroot, applied once the
 * daemon has bound its ports and read its keys. A daemon that would
 * still run as root stops, unless [daemon] allow_root = yes.
 */
#ifndef DP_PRIVDROP_H
#define DP_PRIVDROP_H

#include <sys/types.h>

struct conf;

struct privdrop {
	char *pd_user; /* NULL: stay who we are */
	uid_t pd_uid;
	gid_t pd_gid;
	char *pd_chroot;
	int pd_allow_root;
};

int privdrop_conf_load(const struct conf *, struct privdrop *, char **cause);
int privdrop_apply(const struct privdrop *, const char *prog, char **cause);
void privdrop_clear(struct privdrop *);

#endif
