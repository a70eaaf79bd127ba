/* Logging to stderr or syslog. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "escape.h"

static const char *log_prog = "dynpass";
static int log_syslog;
static int log_verbose;
static int log_journal; /* stderr is systemd's journal stream */

/*
 * Is standard error the journal (systemd sets JOURNAL_STREAM to its
 * device and inode)? Then each line starts with its priority as <N>,
 * which the journal keeps, and carries no time of its own.
 */
static void
log_journal_check(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_journal = v != NULL && sscanf(v, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(2, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Set the program name, sink and verbosity. */
void
log_init(const char *progname, int use_syslog, int verbose)
{
	log_prog = progname;
	log_verbose = verbose;
	log_set_syslog(use_syslog);
	log_journal_check();
}

/* Switch between stderr and syslog once the config has been read. */
void
log_set_syslog(int use_syslog)
{
	if (use_syslog && !log_syslog)
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = use_syslog;
}

/* Write one line at the given priority. */
static void
log_vwrite(int pri, const char *errstr, const char *fmt, va_list ap)
{
	char raw[2048], msg[4096];
	char stamp[32];
	struct timeval tv;
	struct tm tm;
	const char *lvl;

	/* Whatever the arguments hold, the line stays one line. */
	vsnprintf(raw, sizeof raw, fmt, ap);
	esc_bytes(msg, sizeof msg, raw, strlen(raw), 0);
	if (log_syslog) {
		if (errstr != NULL)
			syslog(pri, "%s: %s", msg, errstr);
		else
			syslog(pri, "%s", msg);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	switch (pri) {
	case LOG_CRIT:
		lvl = "fatal";
		break;
	case LOG_WARNING:
		lvl = "warn";
		break;
	case LOG_DEBUG:
		lvl = "debug";
		break;
	default:
		lvl = "info";
	}
	if (log_journal)
		fprintf(stderr, "<%d>%s[%s]: %s%s%s\n", pri, log_prog, lvl, msg,
		    errstr != NULL ? ": " : "", errstr != NULL ? errstr : "");
	else if (errstr != NULL)
		fprintf(stderr, "%s.%03ldZ %s[%s]: %s: %s\n", stamp,
		    (long)tv.tv_usec / 1000, log_prog, lvl, msg, errstr);
	else
		fprintf(stderr, "%s.%03ldZ %s[%s]: %s\n", stamp,
		    (long)tv.tv_usec / 1000, log_prog, lvl, msg);
}

/* Warning without errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

/* Warning with errno. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;
	const char *e = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, e, fmt, ap);
	va_end(ap);
}

/* Informational line. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

/* Debug line, only with -v. */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

/* Log with errno and exit. */
void
fatal(const char *fmt, ...)
{
	va_list ap;
	const char *e = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, e, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/* log_warnx_limited, from a va_list. */
static void
log_vwarnx_limited(struct log_limit *ll, const char *fmt, va_list ap)
{
	char msg[1024];
	time_t now = time(NULL);
	time_t last = __atomic_load_n(&ll->ll_last, __ATOMIC_RELAXED);
	unsigned quiet;

	/* Threads may share a limit: one of them takes the second. */
	if (now == last ||
	    !__atomic_compare_exchange_n(&ll->ll_last, &last, now, 0,
		__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&ll->ll_quiet, 1, __ATOMIC_RELAXED);
		return;
	}
	quiet = __atomic_exchange_n(&ll->ll_quiet, 0, __ATOMIC_RELAXED);
	vsnprintf(msg, sizeof msg, fmt, ap);
	log_warnx("%s (%u more like it in the second before)", msg, quiet);
}

/*
 * A warning that a flood could repeat: at most one line a second for each
 * limit; the lines held back are counted in the next one.
 */
void
log_warnx_limited(struct log_limit *ll, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwarnx_limited(ll, fmt, ap);
	va_end(ap);
}

/*
 * May one more line of this kind be logged this second? A peer that can
 * cause a line at will must not fill the disk with it; the caller counts
 * the rest and says so (log_budget_spend). Threads may share a budget.
 */
int
log_budget_take(struct log_budget *lb, unsigned per_second)
{
	time_t now = time(NULL);
	time_t sec = __atomic_load_n(&lb->lb_sec, __ATOMIC_RELAXED);

	if (now != sec &&
	    __atomic_compare_exchange_n(&lb->lb_sec, &sec, now, 0,
		__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		__atomic_store_n(&lb->lb_n, 0, __ATOMIC_RELAXED);
	return __atomic_add_fetch(&lb->lb_n, 1, __ATOMIC_RELAXED) <= per_second;
}

/*
 * log_budget_take, and past the budget the line that says so (once a
 * second, with how many it left out).
 */
int
log_budget_spend(struct log_budget *lb, unsigned per_second, const char *over,
    ...)
{
	va_list ap;

	if (log_budget_take(lb, per_second))
		return 1;
	va_start(ap, over);
	log_vwarnx_limited(&lb->lb_over, over, ap);
	va_end(ap);
	return 0;
}

static char *log_path; /* [log] file, or NULL: standard error */

/* Give the log file to the user the daemon becomes, for its reopens. */
int
log_file_chown(uid_t uid, gid_t gid)
{
	return log_path != NULL ? fchown(2, uid, gid) : 0;
}

/*
 * Open a log or audit file to append, made 0640 when new. It must be a
 * regular file of one link, not reached through a symbolic link at its
 * end: the daemon gives the file to its user, and must give no other.
 */
int
log_open_append(const char *path, char **cause)
{
	struct stat st;
	const char *why = NULL;
	int fd;

	fd = open(path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	    0640);
	if (fd == -1) {
		if (errno == ELOOP)
			why = "a symbolic link; name the file itself";
		else
			why = strerror(errno);
	} else if (fstat(fd, &st) != 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_nlink != 1)
		why =
		    "a file with more than one link; give it a file of its own";
	else if (fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) != 0)
		why = strerror(errno);
	if (why != NULL) {
		if (asprintf(cause, "%s: %s", path, why) < 0)
			*cause = NULL;
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* Log to a file (appended) instead of standard error: it takes fd 2. */
int
log_file_open(const char *path, char **cause)
{
	int fd;

	if ((fd = log_open_append(path, cause)) == -1)
		return -1;
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	log_journal_check(); /* a file now, not the journal */
	if (log_path != path) {
		free(log_path);
		log_path = strdup(path);
	}
	return 0;
}

/* Open the log file again (after a rotation), if there is one. */
int
log_file_reopen(char **cause)
{
	return log_path != NULL ? log_file_open(log_path, cause) : 0;
}
