/* Logging to stderr or syslog, tmux/OpenBSD style. */
#ifndef DP_LOG_H
#define DP_LOG_H

#include <sys/types.h>

#include <stdarg.h>

#include <time.h>

/* One kind of line logged at most once a second (log_warnx_limited). */
struct log_limit {
	time_t ll_last;
	unsigned ll_quiet;
};

/* Lines of one kind a second, past which they are only counted. */
struct log_budget {
	time_t lb_sec;
	unsigned lb_n;
	struct log_limit lb_over; /* for the line that says so */
};

void log_init(const char *progname, int use_syslog, int verbose);
void log_set_syslog(int use_syslog);
int log_open_append(const char *path, char **cause);
int log_file_open(const char *path, char **cause);
int log_file_chown(uid_t, gid_t);
int log_file_reopen(char **cause);
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx_limited(struct log_limit *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int log_budget_take(struct log_budget *, unsigned per_second);
int log_budget_spend(struct log_budget *, unsigned per_second, const char *over,
    ...) __attribute__((format(printf, 3, 4)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
