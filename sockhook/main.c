/* sockhook: run a program with its inside connections sent through the ESP.
 *
 * sockhook [-c file] [--] command [argument ...] */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The launcher checks the file with the library's own parser. */
#include "sockhook.h"

/* Print usage and exit. */
static void __attribute__((noreturn)) main_usage(void)
{
	fprintf(stderr,
	    "usage: sockhook [-c file] [--] command [argument ...]\n");
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

/* The library next to this program: ../lib/libsockhook.so. */
static char *
main_library(void)
{
	char self[PATH_MAX], *lib, *slash;
	const char *env = getenv("SOCKHOOK_LIB");
	ssize_t n;

	if (env != NULL && *env != '\0')
		return realpath(env, NULL);
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	if (asprintf(&lib, "%s/../lib/libsockhook.so", self) < 0)
		return NULL;
	slash = realpath(lib, NULL);
	free(lib);
	return slash;
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

/* Check, set the environment, execute. */
int
main(int argc, char **argv)
{
	struct config cf;
	const char *conf = getenv("SOCKHOOK_CONF"), *cmd;
	char *cause = NULL, *abs, *lib;
	int ch;

	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		default:
			main_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		main_usage();
	if (conf == NULL || *conf == '\0')
		conf = SOCKHOOK_DEFAULT_CONF;
	if (config_load(&cf, conf, &cause) != 0) {
		fprintf(stderr, "sockhook: %s\n", cause);
		return 1;
	}
	config_free(&cf);
	if ((abs = realpath(conf, NULL)) == NULL) {
		fprintf(stderr, "sockhook: %s: %s\n", conf, strerror(errno));
		return 1;
	}
	if ((lib = main_library()) == NULL || access(lib, R_OK) != 0) {
		fprintf(stderr,
		    "sockhook: cannot find libsockhook.so (next to "
		    "the program in ../lib, or set SOCKHOOK_LIB)\n");
		return 1;
	}
	main_preload(lib);
	if (setenv("SOCKHOOK_CONF", abs, 1) != 0) {
		fprintf(stderr, "sockhook: cannot set SOCKHOOK_CONF\n");
		return 1;
	}
	if ((cmd = main_which(argv[0])) == NULL) {
		fprintf(stderr, "sockhook: %s: command not found\n", argv[0]);
		return 127;
	}
	main_check_elf(cmd);
	execv(cmd, argv);
	fprintf(stderr, "sockhook: %s: %s\n", cmd, strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
