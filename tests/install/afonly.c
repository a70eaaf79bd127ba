/*
 * Test tool: run a program that may make sockets of these address families
 * only; others fail with EAFNOSUPPORT, as under systemd's
 * RestrictAddressFamilies=.
 *
 *   afonly AF_INET,AF_INET6,AF_UNIX,AF_NETLINK PROGRAM [ARG ...]
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AFONLY_MAX 16

static const struct {
	const char *name;
	int af;
} afonly_names[] = {
	{ "AF_UNIX", AF_UNIX },
	{ "AF_INET", AF_INET },
	{ "AF_INET6", AF_INET6 },
	{ "AF_NETLINK", AF_NETLINK },
	{ "AF_PACKET", AF_PACKET },
};

/* The family called name, or -1. */
static int
afonly_family(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof afonly_names / sizeof afonly_names[0]; i++)
		if (strcmp(afonly_names[i].name, name) == 0)
			return afonly_names[i].af;
	return -1;
}

int
main(int argc, char **argv)
{
	struct sock_filter f[8 + AFONLY_MAX];
	struct sock_fprog prog;
	int af[AFONLY_MAX], n = 0, k = 0, i;
	char *list, *tok;

	if (argc < 3) {
		fprintf(stderr, "usage: afonly AF_X,AF_Y program [arg ...]\n");
		return 2;
	}
	list = strdup(argv[1]);
	for (tok = strtok(list, ", "); tok != NULL; tok = strtok(NULL, ", ")) {
		if (n == AFONLY_MAX || (af[n] = afonly_family(tok)) < 0) {
			fprintf(stderr, "afonly: %s: unknown or too many\n",
			    tok);
			return 2;
		}
		n++;
	}
	/* socket(2) and socketpair(2): the family must be listed. */
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    SYS_socket, 1, 0);
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    SYS_socketpair, 0, (unsigned char)(n + 2));
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, args[0]));
	for (i = 0; i < n; i++)
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (unsigned)af[i], (unsigned char)(n - i), 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ERRNO | EAFNOSUPPORT);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)k;
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		perror("afonly: seccomp");
		return 2;
	}
	execvp(argv[2], argv + 2);
	perror(argv[2]);
	return 127;
}
