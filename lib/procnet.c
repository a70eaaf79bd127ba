/*
 * Which process holds which TCP socket, from /proc (Linux). A client
 * agent asked for a reverse connection to port X of this host (an isp
 * approved it for a channel's announcement) connects only if the process
 * behind that channel, the one holding its connection to the agent's
 * door, also holds every socket listening on X. An announcement put into the
 * stream on the way (by a taken-over esp) cannot then point the agent at
 * another program's port.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procnet.h"

#define PROCNET_MAX_LISTEN 64

/* Hex digits to address bytes: 32-bit words in host order, as printed. */
static int
procnet_hexaddr(const char *hex, size_t words, uint8_t *out)
{
	char w[9];
	uint32_t v;
	size_t i, j;

	if (strlen(hex) != words * 8)
		return -1;
	for (i = 0; i < words; i++) {
		for (j = 0; j < 8; j++)
			if (!isxdigit((unsigned char)hex[i * 8 + j]))
				return -1;
		memcpy(w, hex + i * 8, 8);
		w[8] = '\0';
		v = (uint32_t)strtoul(w, NULL, 16);
		memcpy(out + i * 4, &v, 4);
	}
	return 0;
}

/* Fill an endpoint; a v4-mapped IPv6 address becomes IPv4. */
static int
procnet_endpoint(const char *hex, unsigned port, int v6, struct endpoint *ep)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		0xff };
	uint8_t a[16];

	if (port > 65535 || procnet_hexaddr(hex, v6 ? 4 : 1, a) != 0)
		return -1;
	memset(ep, 0, sizeof *ep);
	ep->ep_port = (uint16_t)port;
	if (v6 && memcmp(a, mapped, sizeof mapped) != 0) {
		ep->ep_atyp = ATYP_IPV6;
		ep->ep_len = 16;
		memcpy(ep->ep_addr, a, 16);
	} else {
		ep->ep_atyp = ATYP_IPV4;
		ep->ep_len = 4;
		memcpy(ep->ep_addr, v6 ? a + 12 : a, 4);
	}
	return 0;
}

/* Parse one line of /proc/net/tcp (v6 0) or tcp6; -1 for the header. */
int
procnet_parse(const char *line, int v6, struct procnet_sock *ps)
{
	char la[40], ra[40];
	unsigned lp, rp, st;
	unsigned long inode;

	if (sscanf(line,
		" %*u: %33[0-9A-Fa-f]:%x %33[0-9A-Fa-f]:%x %x %*s %*s "
		"%*s %*u %*u %lu",
		la, &lp, ra, &rp, &st, &inode) != 6)
		return -1;
	if (procnet_endpoint(la, lp, v6, &ps->ps_local) != 0 ||
	    procnet_endpoint(ra, rp, v6, &ps->ps_remote) != 0)
		return -1;
	ps->ps_state = (int)st;
	ps->ps_inode = inode;
	return 0;
}

/* Same address and port? */
static int
procnet_same(const struct endpoint *a, const struct endpoint *b)
{
	return a->ep_atyp == b->ep_atyp && a->ep_len == b->ep_len &&
	    a->ep_port == b->ep_port &&
	    memcmp(a->ep_addr, b->ep_addr, a->ep_len) == 0;
}

/* Would a socket listening at l take a connection to dst? */
static int
procnet_takes(const struct endpoint *l, const struct endpoint *dst)
{
	static const uint8_t zero[16];

	if (l->ep_port != dst->ep_port)
		return 0;
	if (memcmp(l->ep_addr, zero, l->ep_len) == 0) /* a wildcard */
		return l->ep_atyp == dst->ep_atyp || l->ep_atyp == ATYP_IPV6;
	return procnet_same(l, dst);
}

/* What the socket tables say: the program's socket and the listeners. */
struct procnet_find {
	const struct endpoint *pf_prog, *pf_door, *pf_dst;
	unsigned long pf_ctl;
	unsigned long pf_listen[PROCNET_MAX_LISTEN];
	int pf_owned[PROCNET_MAX_LISTEN]; /* held by a holder of pf_ctl */
	size_t pf_nlisten;
	int pf_more; /* more listeners than pf_listen holds */
	int pf_seen; /* a process holding pf_ctl was found */
};

/* Read one table. */
static void
procnet_table(const char *path, int v6, struct procnet_find *f)
{
	struct procnet_sock ps;
	char line[512];
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof line, fp) != NULL) {
		if (procnet_parse(line, v6, &ps) != 0 || ps.ps_inode == 0)
			continue;
		if (procnet_same(&ps.ps_local, f->pf_prog) &&
		    procnet_same(&ps.ps_remote, f->pf_door))
			f->pf_ctl = ps.ps_inode;
		else if (ps.ps_state == PROCNET_LISTEN &&
		    procnet_takes(&ps.ps_local, f->pf_dst)) {
			if (f->pf_nlisten < PROCNET_MAX_LISTEN)
				f->pf_listen[f->pf_nlisten++] = ps.ps_inode;
			else
				f->pf_more = 1;
		}
	}
	fclose(fp);
}

/* The socket inode a descriptor of this folder is, or 0. */
static unsigned long
procnet_fd_inode(DIR *dir, const char *name)
{
	char link[64];
	unsigned long ino;
	ssize_t n;

	if ((n = readlinkat(dirfd(dir), name, link, sizeof link - 1)) <= 0)
		return 0;
	link[n] = '\0';
	return sscanf(link, "socket:[%lu]", &ino) == 1 ? ino : 0;
}

/*
 * One process: if it holds the program's socket, mark the listeners it
 * holds as the program's.
 */
static void
procnet_process(const char *pid, struct procnet_find *f)
{
	char path[64];
	struct dirent *d;
	unsigned long ino;
	int ctl = 0;
	size_t i;
	DIR *dir;

	snprintf(path, sizeof path, "/proc/%.16s/fd", pid);
	if ((dir = opendir(path)) == NULL)
		return;
	while (!ctl && (d = readdir(dir)) != NULL)
		ctl = procnet_fd_inode(dir, d->d_name) == f->pf_ctl;
	if (ctl) {
		f->pf_seen = 1;
		rewinddir(dir);
		while ((d = readdir(dir)) != NULL) {
			if ((ino = procnet_fd_inode(dir, d->d_name)) == 0)
				continue;
			for (i = 0; i < f->pf_nlisten; i++)
				f->pf_owned[i] |= ino == f->pf_listen[i];
		}
	}
	closedir(dir);
}

/*
 * Does the process that holds the socket from prog to door (a program's
 * connection to the agent) hold every socket listening where dst would
 * connect? Then a connection there reaches that program and no other.
 * 1 if so; else 0 and why. What cannot be seen counts as no.
 */
int
procnet_owner_listens(const struct endpoint *prog, const struct endpoint *door,
    const struct endpoint *dst, const char **why)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		0xff };
	struct procnet_find f;
	struct endpoint to = *dst;
	struct dirent *d;
	size_t i, owned = 0;
	DIR *dir;

	if (to.ep_atyp == ATYP_IPV6 &&
	    memcmp(to.ep_addr, mapped, sizeof mapped) == 0) {
		to.ep_atyp = ATYP_IPV4; /* as the kernel will connect */
		to.ep_len = 4;
		memmove(to.ep_addr, to.ep_addr + 12, 4);
	}
	memset(&f, 0, sizeof f);
	f.pf_prog = prog;
	f.pf_door = door;
	f.pf_dst = &to;
	procnet_table("/proc/net/tcp", 0, &f);
	procnet_table("/proc/net/tcp6", 1, &f);
	if (f.pf_ctl == 0) {
		*why = "the program's connection is gone";
		return 0;
	}
	if (f.pf_nlisten == 0) {
		*why = "nothing listens there";
		return 0;
	}
	if (f.pf_more) {
		*why = "too many sockets listen there";
		return 0;
	}
	if ((dir = opendir("/proc")) == NULL) {
		*why = "cannot read /proc";
		return 0;
	}
	while ((d = readdir(dir)) != NULL)
		if (isdigit((unsigned char)d->d_name[0]))
			procnet_process(d->d_name, &f);
	closedir(dir);
	for (i = 0; i < f.pf_nlisten; i++)
		owned += f.pf_owned[i] != 0;
	if (!f.pf_seen)
		*why = "cannot see the program's process";
	else if (owned == 0)
		*why = "the program does not listen there";
	else if (owned < f.pf_nlisten)
		*why = "another program listens there too";
	else
		return 1;
	return 0;
}
