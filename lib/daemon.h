/* What esp and isp share as daemons: options, logging setup, signals. */
#ifndef DP_DAEMON_H
#define DP_DAEMON_H

#include <event2/dns.h>
#include <event2/event.h>

struct conf;

struct daemon_opts {
	const char *do_prog;
	const char *do_conf;     /* -c FILE */
	int do_check;            /* -t */
	int do_verbose;          /* -v */
	int do_passwd;           /* -P: hash a password (isp) */
	int do_dump;             /* -T: print the effective configuration */
	int do_status;           /* -S: print the running daemon's status */
	const char *do_ruletest; /* -R RULEFILE (isp) */
	const char *do_query;    /* -Q USER (isp) */
	int do_offline; /* -t, -T, -S, -Q: read the config, open no files */
	char **do_args; /* what follows the options */
	int do_nargs;
};

void daemon_parse_args(int, char **, const char *prog, const char *defconf,
    struct daemon_opts *);
int daemon_log_conf(const struct conf *, const struct daemon_opts *,
    char **cause);
void daemon_signals(struct event_base *, void (*)(int, void *), void *);
void daemon_signals_free(void);
struct event_base *daemon_event_base(void);
struct evdns_base *daemon_dns_base(struct event_base *);
void daemon_reopen(void);

#endif
