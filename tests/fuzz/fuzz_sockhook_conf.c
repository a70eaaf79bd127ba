/*
 * libFuzzer: sockhook's config (sockhook/config.c). The input is written
 * to a file in a private folder, which also holds a password file the
 * input may name ("pass", or "open" readable by others), and is $HOME.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockhook.h"

static const char *const fuzz_files[] = { "pass", "open", "empty",
	"sockhook.conf", NULL };

static char fuzz_dir[256];  /* the private folder */
static char fuzz_path[300]; /* the input, as a file in it */

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Write a file of the private folder with a mode. */
static void
fuzz_put(const char *name, const void *p, size_t len, mode_t mode)
{
	char path[400];
	int fd;

	snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)) == -1 ||
	    write(fd, p, len) != (ssize_t)len)
		abort();
	fchmod(fd, mode);
	close(fd);
}

/* Remove the private folder at exit. */
static void
fuzz_cleanup(void)
{
	char path[400];
	int i;

	for (i = 0; fuzz_files[i] != NULL; i++) {
		snprintf(path, sizeof path, "%s/%s", fuzz_dir, fuzz_files[i]);
		unlink(path);
	}
	rmdir(fuzz_dir);
}

/* Make the private folder and its password files. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz-sockhook.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_path, sizeof fuzz_path, "%s/sockhook.conf", fuzz_dir);
	setenv("HOME", fuzz_dir, 1);
	atexit(fuzz_cleanup);
	fuzz_put("pass", "secret\nignored\n", 15, 0600);
	fuzz_put("open", "secret\n", 7, 0644);
	fuzz_put("empty", "", 0, 0600);
	return 0;
}

/* Could a path in the input block the run (a terminal, a FIFO)? */
static int
fuzz_risky(const uint8_t *data, size_t size)
{
	static const char *const bad[] = { "dev/", "proc/", "sys/", "run/",
		"fd/" };
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (memmem(data, size, bad[i], strlen(bad[i])) != NULL)
			return 1;
	return 0;
}

/* Load the input as sockhook.conf, then free it. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cf;
	char *cause = NULL;
	int rc;

	if (fuzz_risky(data, size))
		return 0;
	fuzz_put("sockhook.conf", data, size, 0600);
	rc = config_load(&cf, fuzz_path, CONFIG_SECRETS, &cause);
	if (rc != 0 && cause == NULL)
		abort(); /* a failure always says why */
	if (rc == 0 &&
	    (!cf.ok || !cf.routes_known || cf.esp_host == NULL ||
		(cf.user != NULL && cf.pass == NULL)))
		abort();
	free(cause);
	config_free(&cf);
	return 0;
}
