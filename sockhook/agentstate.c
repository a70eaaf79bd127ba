/*
 * sockhook: where a client agent can be found. Each agent, one per
 * config file and user, writes its local address and a random token to
 * a state file in a directory only the user can enter ($XDG_RUNTIME_DIR
 * /dynpass, else /tmp/dynpass-UID). Programs under sockhook read it and
 * show the token in the local handshake; other users cannot read it.
 * Launchers that share an agent hold a shared lock on a lock file next
 * to it for as long as their command runs.
 *
 * Only libc: this is linked into the preload library too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "sockhook.h"

/* FNV-1a 64 of a string: a short stable name for a config path. */
static unsigned long long
agentstate_hash(const char *s)
{
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Is this directory ours and closed to everyone else? */
static int
agentstate_dir_ok(const char *dir, char *why, size_t len)
{
	struct stat st;

	if (lstat(dir, &st) != 0) {
		snprintf(why, len, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0) {
		snprintf(why, len,
		    "%s is not a directory of ours closed to others "
		    "(owner %u, mode %03o)",
		    dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
		return -1;
	}
	return 0;
}

/*
 * The paths for the agent of a config file (an absolute path): the
 * state file, and its lock. The directory is made if missing.
 */
int
agentstate_paths(const char *conf, struct agentstate_paths *p, char *why,
    size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char base[PATH_MAX - 128];
	int n;

	if (rt != NULL && *rt == '/') {
		n = snprintf(base, sizeof base, "%s/dynpass", rt);
		if (n < 0 || (size_t)n >= sizeof base) {
			snprintf(why, len, "XDG_RUNTIME_DIR is too long");
			return -1;
		}
	} else
		snprintf(base, sizeof base, "/tmp/dynpass-%u",
		    (unsigned)getuid());
	if (mkdir(base, 0700) != 0 && errno != EEXIST) {
		snprintf(why, len, "%s: %s", base, strerror(errno));
		return -1;
	}
	if (agentstate_dir_ok(base, why, len) != 0)
		return -1;
	snprintf(p->ap_dir, sizeof p->ap_dir, "%s", base);
	snprintf(p->ap_state, sizeof p->ap_state, "%s/agent-%016llx", base,
	    agentstate_hash(conf));
	snprintf(p->ap_lock, sizeof p->ap_lock, "%s.lock", p->ap_state);
	snprintf(p->ap_log, sizeof p->ap_log, "%s.log", p->ap_state);
	return 0;
}

/*
 * Parse a state file's text: "ADDRESS PORT TOKEN PID", a loopback IPv4
 * address. 0, or -1 with errno.
 */
int
agentstate_parse(const char *buf, struct agentstate *as)
{
	char addr[64], token[AGENTSTATE_TOKEN_LEN + 2], pids[16];
	unsigned port;
	long pid;

	memset(as, 0, sizeof *as);
	if (sscanf(buf, "%63s %u %65s %15s", addr, &port, token, pids) != 4 ||
	    port == 0 || port > 65535 ||
	    strlen(token) != AGENTSTATE_TOKEN_LEN ||
	    strspn(token, "0123456789abcdef") != AGENTSTATE_TOKEN_LEN ||
	    strlen(pids) > 9 || strspn(pids, "0123456789") != strlen(pids) ||
	    (pid = atol(pids)) <= 0 ||
	    inet_pton(AF_INET, addr, &as->as_addr.sin_addr) != 1 ||
	    (ntohl(as->as_addr.sin_addr.s_addr) >> 24) != 127) {
		memset(as, 0, sizeof *as);
		errno = EINVAL;
		return -1;
	}
	as->as_addr.sin_family = AF_INET;
	as->as_addr.sin_port = htons((uint16_t)port);
	memcpy(as->as_token, token, sizeof as->as_token);
	as->as_pid = (pid_t)pid;
	return 0;
}

/*
 * Read a state file. It must be ours and readable by nobody else. 0, or
 * -1 with errno.
 */
int
agentstate_read(const char *path, struct agentstate *as)
{
	char buf[256];
	struct stat st;
	ssize_t n;
	int fd;

	memset(as, 0, sizeof *as);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) {
		errno = ENOENT;
		return -1;
	}
	buf[n] = '\0';
	return agentstate_parse(buf, as);
}

/* Write a state file atomically, mode 0600. 0, or -1 with errno. */
int
agentstate_write(const char *path, const struct agentstate *as)
{
	char tmp[PATH_MAX], addr[INET_ADDRSTRLEN], buf[256];
	int fd, n, saved;

	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1)
		return -1;
	inet_ntop(AF_INET, &as->as_addr.sin_addr, addr, sizeof addr);
	n = snprintf(buf, sizeof buf, "%s %u %.*s %ld\n", addr,
	    (unsigned)ntohs(as->as_addr.sin_port), AGENTSTATE_TOKEN_LEN,
	    as->as_token, (long)as->as_pid);
	if (write(fd, buf, (size_t)n) != n || fsync(fd) != 0 ||
	    close(fd) != 0 || rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}
