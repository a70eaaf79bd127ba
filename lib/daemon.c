/* What esp and isp share as daemons: options, logging setup, signals. */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "conf.h"
#include "log.h"
#include "xmalloc.h"

/* Print usage and exit. */
static void __attribute__((noreturn))
daemon_usage(const char *prog, const char *defconf, int code)
{
	int isp = strcmp(prog, "isp") == 0;

	fprintf(code ? stderr : stdout,
	    "usage: %s [-tTSv] [-c file]%s | -V | -h\n"
	    "  -c file  configuration (default %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -T       check it, print the effective configuration and exit\n"
	    "  -S       print the running %s's status (from [metrics] listen)\n"
	    "  -v       log debug detail\n"
	    "  -V, --version  print the version and exit\n"
	    "  -h, --help     print this and exit\n%s",
	    prog,
	    isp ? " | -P | -R rulefile [capture] | -Q user host:port" : "",
	    defconf, prog,
	    isp ? "  -P       read a password on standard input and print its "
		  "hash for [user NAME] password\n"
		  "  -R file  run a rule file's test vectors; with a capture, "
		  "print the\n"
		  "           announcements found in it and their rewrites\n"
		  "  -Q user host:port\n"
		  "           say whether the policy lets user (or - for "
		  "anonymous) reach\n"
		  "           host:port, and why\n"
		: "");
	exit(code);
}

/* Parse the options; what follows them is for -R and -Q only. */
void
daemon_parse_args(int argc, char **argv, const char *prog, const char *defconf,
    struct daemon_opts *o)
{
	static const struct option longs[] = { { "help", no_argument, NULL,
						   'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 } };
	int ch, isp = strcmp(prog, "isp") == 0, modes;

	memset(o, 0, sizeof *o);
	o->do_prog = prog;
	o->do_conf = defconf;
	while ((ch = getopt_long(argc, argv, isp ? "c:tTSvhPVR:Q:" : "c:tTSvhV",
		    longs, NULL)) != -1) {
		switch (ch) {
		case 'V':
			printf("%s (dynpass) %s\n", prog, DYNPASS_VERSION);
			exit(0);
		case 'c':
			o->do_conf = optarg;
			break;
		case 't':
			o->do_check = 1;
			break;
		case 'T':
			o->do_check = o->do_dump = 1;
			break;
		case 'S':
			o->do_status = 1;
			break;
		case 'v':
			o->do_verbose++;
			break;
		case 'P':
			o->do_passwd = 1;
			break;
		case 'R':
			o->do_ruletest = optarg;
			break;
		case 'Q':
			o->do_query = optarg;
			break;
		case 'h':
			daemon_usage(prog, defconf, 0);
		default:
			daemon_usage(prog, defconf, 1);
		}
	}
	o->do_args = argv + optind;
	o->do_nargs = argc - optind;
	modes = (o->do_check != 0) + o->do_status + o->do_passwd +
	    (o->do_ruletest != NULL) + (o->do_query != NULL);
	if (modes > 1 || (o->do_ruletest != NULL && o->do_nargs > 1) ||
	    (o->do_query != NULL && o->do_nargs != 1) ||
	    (o->do_ruletest == NULL && o->do_query == NULL && o->do_nargs != 0))
		daemon_usage(prog, defconf, o->do_query != NULL ? 2 : 1);
	o->do_offline = o->do_check || o->do_status || o->do_query != NULL;
	log_init(prog, 0, o->do_verbose);
}

/*
 * Can a log file be made at path: its folder exists and we may write
 * there, and what is there already is a file the daemon would take.
 */
static int
daemon_dir_ok(const char *path, char **why)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	struct stat st;

	if (lstat(path, &st) == 0) {
		free(dir);
		if (S_ISLNK(st.st_mode))
			xasprintf(why,
			    "%s: a symbolic link; name the file "
			    "itself",
			    path);
		else if (!S_ISREG(st.st_mode))
			xasprintf(why, "%s: not a regular file", path);
		else if (st.st_nlink != 1)
			xasprintf(why,
			    "%s: a file with more than one link; "
			    "give it a file of its own",
			    path);
		else
			return 0;
		return -1;
	}

	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if (access(dir, W_OK) != 0) {
		xasprintf(why, "%s: cannot write in %s: %s", path, dir,
		    strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

/*
 * Apply the [log] section: syslog = yes, verbose = yes, file (the log,
 * instead of standard error), audit (a file of its own) and
 * audit_format (logfmt or json).
 */
int
daemon_log_conf(const struct conf *c, const struct daemon_opts *o, char **cause)
{
	int sl, vb, format;
	char *path = NULL, *why = NULL;
	const char *fmt = conf_str(c, "log:audit_format", "logfmt");

	if (conf_bool(c, "log:syslog", 0, &sl, cause) != 0 ||
	    conf_bool(c, "log:verbose", 0, &vb, cause) != 0)
		return -1;
	if (strcmp(fmt, "logfmt") == 0)
		format = AUDIT_LOGFMT;
	else if (strcmp(fmt, "json") == 0)
		format = AUDIT_JSON;
	else
		return conf_error(cause, c, "log:audit_format",
		    "\"%s\" is not logfmt or json", fmt);
	conf_path_key(c, "log:file", &path, cause);
	if (path != NULL && sl) {
		free(path);
		return conf_error(cause, c, "log:file",
		    "set together with syslog = yes: log to one of them");
	}
	if (path != NULL &&
	    (o->do_offline ? daemon_dir_ok(path, &why)
			   : log_file_open(path, &why)) != 0) {
		conf_error(cause, c, "log:file", "%s", why);
		free(why);
		free(path);
		return -1;
	}
	free(path);
	path = NULL;
	audit_set_format(format);
	conf_path_key(c, "log:audit", &path, cause);
	if (path != NULL && o->do_offline && daemon_dir_ok(path, &why) != 0) {
		conf_error(cause, c, "log:audit", "%s", why);
		free(why);
		free(path);
		return -1;
	}
	if (path != NULL && !o->do_offline &&
	    audit_open(path, format, &why) != 0) {
		conf_error(cause, c, "log:audit", "%s", why);
		free(why);
		free(path);
		return -1;
	}
	free(path);
	if (!o->do_offline)
		log_init(o->do_prog, sl, o->do_verbose || vb);
	return 0;
}

/* SIGHUP: open the log and audit files again (after a rotation). */
void
daemon_reopen(void)
{
	char *why = NULL;

	if (log_file_reopen(&why) != 0 || audit_reopen(&why) != 0) {
		log_warnx("cannot reopen: %s; writing to the old file", why);
		free(why);
		return;
	}
	log_info("log and audit files reopened");
}

static void (*daemon_term_fn)(int, void *);
static void *daemon_term_arg;

/* SIGTERM, SIGINT or SIGHUP arrived. */
static void
daemon_signalcb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	daemon_term_fn((int)sig, daemon_term_arg);
}

static struct event *daemon_sigevs[3];

/* Route SIGTERM/SIGINT/SIGHUP to fn through the event loop; ignore SIGPIPE. */
void
daemon_signals(struct event_base *base, void (*fn)(int, void *), void *arg)
{
	struct event **evs = daemon_sigevs;
	int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	int i;

	signal(SIGPIPE, SIG_IGN);
	daemon_term_fn = fn;
	daemon_term_arg = arg;
	for (i = 0; i < 3; i++) {
		evs[i] = evsignal_new(base, sigs[i], daemon_signalcb, NULL);
		event_add(evs[i], NULL);
	}
}

/* Release the signal events before the event base goes. */
void
daemon_signals_free(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		if (daemon_sigevs[i] != NULL)
			event_free(daemon_sigevs[i]);
		daemon_sigevs[i] = NULL;
	}
}

/*
 * A resolver on base: resolv.conf's servers, idle when unused; without
 * resolv.conf, names still resolve through /etc/hosts. Names are looked
 * up as given, never with resolv.conf's search list: a name the policy
 * allowed must be the name that resolves, not NAME.SEARCHDOMAIN when
 * NAME does not exist. NULL on failure.
 */
struct evdns_base *
daemon_dns_base(struct event_base *base)
{
	struct evdns_base *dns;

	dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS |
		EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (dns == NULL && (dns = evdns_base_new(base, 0)) != NULL)
		evdns_base_load_hosts(dns, NULL);
	if (dns != NULL)
		evdns_base_search_clear(dns);
	return dns;
}

/*
 * Every connection takes a descriptor or two: raise the soft limit on
 * open files to the hard one (systemd's LimitNOFILE), as far as the
 * kernel allows, so that a busy relay is not held to the default 1024.
 */
static void
daemon_nofile(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	want = rl.rlim_max;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && want > 1048576) {
		rl.rlim_cur = 1048576; /* an unlimited hard limit */
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_debug("open files: up to %llu",
		    (unsigned long long)rl.rlim_cur);
}

/*
 * The event base: with epoll's changelist, turning a socket's write
 * interest on and off within one loop turn costs no epoll_ctl. Every
 * process that relays (the esp, the isp, a client agent) starts here,
 * and gets its full allowance of descriptors.
 */
struct event_base *
daemon_event_base(void)
{
	struct event_config *cfg;
	struct event_base *base;

	/*
	 * Buffers of 64 KiB come and go at line rate: keep freed memory
	 * instead of returning it to the kernel and faulting it back in.
	 * What is kept is bounded by the flow-control windows.
	 */
	daemon_nofile();
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if ((cfg = event_config_new()) == NULL)
		return event_base_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base != NULL ? base : event_base_new();
}
