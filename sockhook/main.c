/* sockhook: run a program with its inside connections sent through the ESP.
 *
 * sockhook [-c file] [--] command [argument ...]
 * sockhook agent [-v] [-c file]
 *
 * With agent = in the file, the command's connections go through a local
 * agent: one that runs already for that file, or one started here and
 * shared with other commands until the last of them ends. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

/* The launcher checks the file with the library's own parser. */
#include "agent.h"
#include "sockhook.h"
#include "xmalloc.h"

#define MAIN_READY_MS 20000 /* how long a new agent may take to log in */

static pid_t main_child; /* the command, when we wait for it */

/* Print usage and exit. */
static void __attribute__((noreturn)) main_usage(void)
{
	fprintf(stderr,
	    "usage: sockhook [-c file] [--] command [argument ...]\n"
	    "       sockhook -t [-c file]\n"
	    "       sockhook agent [-v] [-c file]\n"
	    "       sockhook -V | --version | -h | --help\n");
	exit(1);
}

/* Find cmd as execvp would; the result is static. */
static const char *
main_which(const char *cmd)
{
	static char buf[PATH_MAX];
	const char *path = getenv("PATH"), *p, *end;
	size_t n;

	if (strchr(cmd, '/') != NULL)
		return cmd;
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		snprintf(buf, sizeof buf, "%.*s/%s", (int)(n ? n : 1),
		    n ? p : ".", cmd);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

/* Read len bytes at off. */
static int
main_pread(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

/* Does a 64-bit ELF file have PT_INTERP, and is it a Go program? */
static int
main_elf64(int fd, int *interp, int *go)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	Elf64_Shdr sh, strs;
	char name[32];
	int i;

	if (main_pread(fd, &eh, sizeof eh, 0) != 0)
		return -1;
	for (i = 0; i < eh.e_phnum; i++) {
		if (main_pread(fd, &ph, sizeof ph,
			(off_t)(eh.e_phoff + (Elf64_Off)i * eh.e_phentsize)) !=
		    0)
			return -1;
		if (ph.p_type == PT_INTERP)
			*interp = 1;
	}
	if (eh.e_shstrndx == SHN_UNDEF || eh.e_shstrndx >= eh.e_shnum ||
	    main_pread(fd, &strs, sizeof strs,
		(off_t)(eh.e_shoff +
		    (Elf64_Off)eh.e_shstrndx * eh.e_shentsize)) != 0)
		return 0;
	for (i = 0; i < eh.e_shnum; i++) {
		if (main_pread(fd, &sh, sizeof sh,
			(off_t)(eh.e_shoff + (Elf64_Off)i * eh.e_shentsize)) !=
		    0)
			break;
		memset(name, 0, sizeof name);
		if (pread(fd, name, sizeof name - 1,
			(off_t)(strs.sh_offset + sh.sh_name)) <= 0)
			continue;
		if (strcmp(name, ".go.buildinfo") == 0 ||
		    strcmp(name, ".note.go.buildid") == 0)
			*go = 1;
	}
	return 0;
}

/* Warn when the program will not see the hooks: static, Go or 32-bit. */
static void
main_check_elf(const char *cmd)
{
	unsigned char id[EI_NIDENT];
	int fd, interp = 0, go = 0;

	if ((fd = open(cmd, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if (main_pread(fd, id, sizeof id, 0) != 0 ||
	    memcmp(id, ELFMAG, SELFMAG) != 0) {
		close(fd);
		return; /* a script: its interpreter is checked when it runs */
	}
	if (id[EI_CLASS] != ELFCLASS64)
		fprintf(stderr,
		    "sockhook: warning: %s is not a 64-bit program; "
		    "its connections are not hooked\n",
		    cmd);
	else if (main_elf64(fd, &interp, &go) == 0 && !interp)
		fprintf(stderr,
		    "sockhook: warning: %s is statically linked; "
		    "its connections bypass sockhook\n",
		    cmd);
	else if (go)
		fprintf(stderr,
		    "sockhook: warning: %s is a Go program; "
		    "its connections bypass sockhook\n",
		    cmd);
	close(fd);
}

/*
 * The library: $SOCKHOOK_LIB, else where an install puts it beside this
 * program (../lib/dynpass/libsockhook.so), else the build tree's
 * (../lib/libsockhook.so).
 */
static char *
main_library(void)
{
	static const char *const rel[] = { "../lib/dynpass/libsockhook.so",
		"../lib/libsockhook.so" };
	char self[PATH_MAX], *lib, *slash, *found = NULL;
	const char *env = getenv("SOCKHOOK_LIB");
	ssize_t n;
	size_t i;

	if (env != NULL && *env != '\0')
		return realpath(env, NULL);
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	for (i = 0; i < sizeof rel / sizeof rel[0] && found == NULL; i++) {
		if (asprintf(&lib, "%s/%s", self, rel[i]) < 0)
			return NULL;
		found = realpath(lib, NULL);
		free(lib);
	}
	return found;
}

/* Prepend lib to LD_PRELOAD unless it is there already. */
static void
main_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *v;

	if (old != NULL && strstr(old, lib) != NULL)
		return;
	if (old == NULL || *old == '\0')
		v = strdup(lib);
	else if (asprintf(&v, "%s:%s", lib, old) < 0)
		v = NULL;
	if (v == NULL || setenv("LD_PRELOAD", v, 1) != 0) {
		fprintf(stderr, "sockhook: cannot set LD_PRELOAD\n");
		exit(1);
	}
	free(v);
}

/* Is the agent of this state file alive? */
static int
main_agent_alive(const char *state)
{
	struct agentstate as;

	if (agentstate_read(state, &as) != 0)
		return 0;
	return kill(as.as_pid, 0) == 0;
}

/*
 * Start an agent for the file, detached (it outlives us if other
 * commands use it), logging next to its state; wait until it is ready.
 */
static int
main_agent_spawn(const char *abs, const struct agentstate_paths *p, int lockfd)
{
	struct pollfd pfd;
	char buf[600];
	ssize_t n = 0, got;
	int fds[2], logfd, rc;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0 || (pid = fork()) == -1) {
		fprintf(stderr, "sockhook: cannot start the agent: %s\n",
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		close(lockfd);
		if (fork() != 0)
			_exit(0);
		setsid();
		logfd = open(p->ap_log,
		    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (logfd >= 0) {
			dup2(logfd, 1);
			dup2(logfd, 2);
		}
		dup2(open("/dev/null", O_RDONLY), 0);
		_exit(agent_main(abs, 1, fds[1], 0));
	}
	close(fds[1]);
	waitpid(pid, NULL, 0);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while ((size_t)n < sizeof buf - 1 && poll(&pfd, 1, MAIN_READY_MS) > 0 &&
	    (got = read(fds[0], buf + n, sizeof buf - 1 - (size_t)n)) > 0)
		n += got;
	close(fds[0]);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (strcmp(buf, "ok") == 0)
		return 0;
	if (n == 0) {
		fprintf(stderr,
		    "sockhook: the agent is not ready yet (see %s); going "
		    "on\n",
		    p->ap_log);
		return 0;
	}
	rc = strncmp(buf, "error: ", 7) == 0 ? 7 : 0;
	fprintf(stderr, "sockhook: agent: %s (log: %s)\n", buf + rc, p->ap_log);
	return -1;
}

/*
 * Make sure an agent serves this file, and hold its lease (a shared
 * lock) until we exit. The state file's path goes to the programs.
 */
static int
main_agent(const char *abs)
{
	struct agentstate_paths p;
	char why[400];
	int fd;

	if (agentstate_paths(abs, &p, why, sizeof why) != 0) {
		fprintf(stderr, "sockhook: %s\n", why);
		return -1;
	}
	fd = open(p.ap_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 || flock(fd, LOCK_SH) != 0) {
		fprintf(stderr, "sockhook: %s: %s\n", p.ap_lock,
		    strerror(errno));
		return -1;
	}
	if (!main_agent_alive(p.ap_state)) {
		/* One launcher starts it; the others wait and use it. */
		flock(fd, LOCK_UN);
		flock(fd, LOCK_EX);
		if (!main_agent_alive(p.ap_state) &&
		    main_agent_spawn(abs, &p, fd) != 0)
			return -1;
		flock(fd, LOCK_SH);
	}
	if (setenv("SOCKHOOK_AGENT_STATE", p.ap_state, 1) != 0)
		return -1;
	return 0; /* fd stays open: our lease */
}

/* Pass a signal on to the command. */
static void
main_forward(int sig)
{
	if (main_child > 0)
		kill(main_child, sig);
}

/* Run the command as a child, holding the lease; exit as it did. */
static int
main_run_child(const char *cmd, char **argv)
{
	struct sigaction sa;
	int status, sig;

	if ((main_child = fork()) == -1) {
		fprintf(stderr, "sockhook: fork: %s\n", strerror(errno));
		return 126;
	}
	if (main_child == 0) {
		execv(cmd, argv);
		fprintf(stderr, "sockhook: %s: %s\n", cmd, strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = main_forward;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	/* The terminal sends these to the command itself. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (waitpid(main_child, &status, 0) == -1)
		if (errno != EINTR)
			return 126;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	sig = WTERMSIG(status);
	signal(sig, SIG_DFL);
	raise(sig);
	return 128 + sig;
}

/*
 * sockhook -t: check the configuration as the library and the agent would
 * read it (the password file, the CA, a certificate and key), and exit.
 */
static int
main_check(const char *conf, int argc)
{
	struct config cf;
	char *cause = NULL, *abs;

	if (argc != 0)
		main_usage();
	if (config_load(&cf, conf, CONFIG_SECRETS | CONFIG_AGENT, &cause) != 0)
		goto fail;
	if (cf.agent) {
		if ((abs = realpath(conf, NULL)) == NULL) {
			xasprintf(&cause, "%s: %s", conf, strerror(errno));
			goto fail;
		}
		if (agent_check(abs, &cause) != 0) {
			free(abs);
			goto fail;
		}
		free(abs);
	}
	config_free(&cf);
	printf("sockhook: %s: configuration OK\n", conf);
	return 0;
fail:
	config_free(&cf);
	fprintf(stderr, "sockhook: %s\n", cause);
	free(cause);
	return 1;
}

/* sockhook agent [-v] [-c file]: the agent, in the foreground. */
static int
main_agent_cmd(int argc, char **argv, const char *conf)
{
	char *abs;
	int ch, verbose = 0;

	optind = 1;
	while ((ch = getopt(argc, argv, "c:v")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			main_usage();
		}
	}
	if (optind != argc)
		main_usage();
	if (conf == NULL || *conf == '\0')
		conf = SOCKHOOK_DEFAULT_CONF;
	if ((abs = realpath(conf, NULL)) == NULL) {
		fprintf(stderr, "sockhook: %s: %s\n", conf, strerror(errno));
		return 1;
	}
	return agent_main(abs, 0, -1, verbose);
}

/* Check, set the environment, execute. */
int
main(int argc, char **argv)
{
	struct config cf;
	const char *conf = getenv("SOCKHOOK_CONF"), *cmd;
	char *cause = NULL, *abs, *lib;
	int ch, agent, check = 0, rc;

	if (argc > 1 && strcmp(argv[1], "agent") == 0)
		return main_agent_cmd(argc - 1, argv + 1, conf);
	if (argc == 2 &&
	    (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)) {
		printf("sockhook (dynpass) %s\n", DYNPASS_VERSION);
		return 0;
	}
	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: sockhook [-c file] [--] command [argument ...]\n"
		       "       sockhook -t [-c file]\n"
		       "       sockhook agent [-v] [-c file]\n"
		       "  -c file  configuration (default %s, or "
		       "$SOCKHOOK_CONF)\n"
		       "  -t       check the configuration and exit\n"
		       "  agent    run the client agent in the foreground\n"
		       "  -V       print the version and exit\n",
		    SOCKHOOK_DEFAULT_CONF);
		return 0;
	}
	while ((ch = getopt(argc, argv, "+c:ht")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 't':
			check = 1;
			break;
		default:
			main_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (conf == NULL || *conf == '\0')
		conf = SOCKHOOK_DEFAULT_CONF;
	if (check)
		return main_check(conf, argc);
	if (argc == 0)
		main_usage();
	if (config_load(&cf, conf, CONFIG_SECRETS, &cause) != 0) {
		fprintf(stderr, "sockhook: %s\n", cause);
		free(cause);
		config_free(&cf);
		return 1;
	}
	agent = cf.agent;
	config_free(&cf);
	if ((abs = realpath(conf, NULL)) == NULL) {
		fprintf(stderr, "sockhook: %s: %s\n", conf, strerror(errno));
		return 1;
	}
	if ((lib = main_library()) == NULL || access(lib, R_OK) != 0) {
		fprintf(stderr,
		    "sockhook: cannot find libsockhook.so (in "
		    "../lib/dynpass or ../lib beside the program, or set "
		    "SOCKHOOK_LIB)\n");
		free(lib);
		free(abs);
		return 1;
	}
	main_preload(lib);
	free(lib);
	if (setenv("SOCKHOOK_CONF", abs, 1) != 0) {
		free(abs);
		return 1;
	}
	if ((cmd = main_which(argv[0])) == NULL) {
		fprintf(stderr, "sockhook: %s: command not found\n", argv[0]);
		free(abs);
		return 127;
	}
	main_check_elf(cmd);
	if (agent) {
		rc = main_agent(abs);
		free(abs);
		return rc != 0 ? 1 : main_run_child(cmd, argv);
	}
	free(abs);
	execv(cmd, argv);
	fprintf(stderr, "sockhook: %s: %s\n", cmd, strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
