/*
 * The daemon's counters and gauges, rendered in the Prometheus text
 * format (version 0.0.4). Label values come from a small vocabulary or
 * from the policy's user names; a family never holds more than
 * METRICS_MAX_SERIES series, so a hostile peer cannot grow it.
 */
#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "frame.h"
#include "xmalloc.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE };

struct metric_series {
	char *ms_v1, *ms_v2;
	double ms_value;
};

struct metric_family {
	const char *mf_name;
	enum metric_type mf_type;
	const char *mf_l1, *mf_l2; /* label names; NULL when fewer */
	int mf_drop_zero;          /* a gauge series at 0 goes away */
	const char *mf_help;
	struct metric_series *mf_s;
	size_t mf_n;
};

static struct metric_family metrics_fam[M_NFAMILIES] = {
	[M_SESSIONS] = { "dynpass_sessions", METRIC_GAUGE, "peer", NULL, 0,
	    "Sessions up, by the role of the peer (isp, esp or agent).", NULL,
	    0 },
	[M_SESSION_RTT] = { "dynpass_session_rtt_seconds", METRIC_GAUGE, "peer",
	    NULL, 0,
	    "Round-trip time of the last PING on each session, by the peer's "
	    "identity.",
	    NULL, 0 },
	[M_CHANNELS] = { "dynpass_channels", METRIC_GAUGE, "user", NULL, 1,
	    "Channels open now, by user (- for anonymous).", NULL, 0 },
	[M_CHANNELS_ALL] = { "dynpass_channels_total", METRIC_COUNTER, "kind",
	    NULL, 0,
	    "Channels opened: forward (a client's connect) or reverse (an "
	    "announcement's).",
	    NULL, 0 },
	[M_BYTES] = { "dynpass_channel_bytes_total", METRIC_COUNTER,
	    "direction", NULL, 0,
	    "Payload bytes relayed, toward the server or toward the client.",
	    NULL, 0 },
	[M_REFUSALS] = { "dynpass_refusals_total", METRIC_COUNTER, "reason",
	    NULL, 0, "Requests refused, by reason.", NULL, 0 },
	[M_ANNOUNCEMENTS] = { "dynpass_announcements_total", METRIC_COUNTER,
	    "rule", "outcome", 0,
	    "Port announcements found, by rule file and what became of them.",
	    NULL, 0 },
	[M_LOGINS] = { "dynpass_logins_total", METRIC_COUNTER, "method",
	    "result", 0, "User logins checked, by method and result.", NULL,
	    0 },
	[M_PASSWORD_HASHES] = { "dynpass_password_hashes_total", METRIC_COUNTER,
	    "result", NULL, 0,
	    "Password checks that ran the scrypt hash (the rest matched a "
	    "remembered password), by result.",
	    NULL, 0 },
};

/* Threads may count at once: the series under the lock, bytes atomic. */
static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t metrics_byte_count[2]; /* [1]: to the server */
static void (*metrics_collect)(void *);
static void *metrics_collect_arg;
static const char *metrics_prog = "dynpass";
static double metrics_start;

/* Note the program's name and start time. */
void
metrics_init(const char *prog)
{
	struct timeval tv;

	metrics_prog = prog;
	gettimeofday(&tv, NULL);
	metrics_start = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The series with these label values, or NULL. */
static struct metric_series *
metrics_find(struct metric_family *f, const char *v1, const char *v2)
{
	struct metric_series *s;
	size_t i;

	for (i = 0; i < f->mf_n; i++) {
		s = &f->mf_s[i];
		if (strcmp(s->ms_v1, v1) == 0 &&
		    (f->mf_l2 == NULL || strcmp(s->ms_v2, v2) == 0))
			return s;
	}
	return NULL;
}

/* Empty or missing label values are "-". */
static void
metrics_labels(const struct metric_family *f, const char **v1, const char **v2)
{
	if (*v1 == NULL || **v1 == '\0')
		*v1 = "-";
	if (f->mf_l2 != NULL && (*v2 == NULL || **v2 == '\0'))
		*v2 = "-";
}

/* The series with these label values, made if there is room. */
static struct metric_series *
metrics_series(enum metric_id id, const char *v1, const char *v2)
{
	struct metric_family *f = &metrics_fam[id];
	struct metric_series *s;

	metrics_labels(f, &v1, &v2);
	if ((s = metrics_find(f, v1, v2)) != NULL)
		return s;
	if (f->mf_n >= METRICS_MAX_SERIES - 1 && strcmp(v1, "_other") != 0)
		return metrics_series(id, "_other", "_other");
	f->mf_s = xrealloc(f->mf_s, (f->mf_n + 1) * sizeof *f->mf_s);
	s = &f->mf_s[f->mf_n++];
	s->ms_v1 = xstrdup(v1);
	s->ms_v2 = f->mf_l2 != NULL ? xstrdup(v2) : NULL;
	s->ms_value = 0;
	return s;
}

/* Forget series i of a family. */
static void
metrics_drop(struct metric_family *f, struct metric_series *s)
{
	free(s->ms_v1);
	free(s->ms_v2);
	*s = f->mf_s[--f->mf_n];
}

/* Add to a one-label series (a gauge may go down). */
void
metrics_add(enum metric_id id, const char *v1, double delta)
{
	metrics_add2(id, v1, NULL, delta);
}

/* Add to a series; a gauge series that reaches 0 may go away. */
void
metrics_add2(enum metric_id id, const char *v1, const char *v2, double delta)
{
	struct metric_family *f = &metrics_fam[id];
	struct metric_series *s;

	metrics_labels(f, &v1, &v2);
	pthread_mutex_lock(&metrics_lock);
	if (f->mf_drop_zero && delta < 0 && metrics_find(f, v1, v2) == NULL)
		/* Counted under _other while the family was full: the
		 * decrease goes there too, or nowhere. */
		s = metrics_find(f, "_other", "_other");
	else
		s = metrics_series(id, v1, v2);
	if (s != NULL) {
		s->ms_value += delta;
		if (f->mf_drop_zero && s->ms_value <= 0)
			metrics_drop(f, s);
	}
	pthread_mutex_unlock(&metrics_lock);
}

/* Set a gauge series. */
void
metrics_set(enum metric_id id, const char *v1, double v)
{
	pthread_mutex_lock(&metrics_lock);
	metrics_series(id, v1, NULL)->ms_value = v;
	pthread_mutex_unlock(&metrics_lock);
}

/* Empty a family (a collector fills it again). */
void
metrics_clear(enum metric_id id)
{
	struct metric_family *f = &metrics_fam[id];

	pthread_mutex_lock(&metrics_lock);
	while (f->mf_n > 0)
		metrics_drop(f, &f->mf_s[f->mf_n - 1]);
	free(f->mf_s);
	f->mf_s = NULL;
	pthread_mutex_unlock(&metrics_lock);
}

/* Relayed payload: the hot path, two plain counters. */
void
metrics_bytes(int to_server, uint64_t n)
{
	__atomic_fetch_add(&metrics_byte_count[to_server != 0], n,
	    __ATOMIC_RELAXED);
}

/* What to call before each rendering, to set the gauges it owns. */
void
metrics_set_collector(void (*fn)(void *), void *arg)
{
	metrics_collect = fn;
	metrics_collect_arg = arg;
}

/* A label value, escaped as the text format wants. */
static void
metrics_label(struct evbuffer *b, const char *name, const char *v)
{
	evbuffer_add_printf(b, "%s=\"", name);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* HELP and TYPE lines. */
static void
metrics_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* Resident memory and open descriptors, from /proc. */
static void
metrics_process(struct evbuffer *b)
{
	unsigned long size, rss = 0;
	struct dirent *d;
	FILE *f;
	DIR *dir;
	long fds = 0;

	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	if ((dir = opendir("/proc/self/fd")) != NULL) {
		while ((d = readdir(dir)) != NULL)
			fds += d->d_name[0] != '.';
		closedir(dir);
		fds--; /* the one opendir holds */
	}
	metrics_head(b, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.");
	evbuffer_add_printf(b, "process_resident_memory_bytes %lu\n",
	    rss * (unsigned long)sysconf(_SC_PAGESIZE));
	metrics_head(b, "process_open_fds", "gauge",
	    "Number of open file descriptors.");
	evbuffer_add_printf(b, "process_open_fds %ld\n", fds);
	metrics_head(b, "process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch in seconds.");
	evbuffer_add_printf(b, "process_start_time_seconds %.3f\n",
	    metrics_start);
}

/* Every family, in the Prometheus text format. */
void
metrics_render(struct evbuffer *b)
{
	static const char *dirs[2] = { "to_client", "to_server" };
	struct metric_family *f;
	size_t i;
	int id;

	/* The collector may wait for other threads: not under the lock. */
	if (metrics_collect != NULL)
		metrics_collect(metrics_collect_arg);
	pthread_mutex_lock(&metrics_lock);
	metrics_head(b, "dynpass_build_info", "gauge",
	    "The program and its version; always 1.");
	evbuffer_add_printf(b, "dynpass_build_info{");
	metrics_label(b, "program", metrics_prog);
	evbuffer_add(b, ",", 1);
	metrics_label(b, "version", DYNPASS_VERSION);
	evbuffer_add_printf(b, "} 1\n");
	for (id = 0; id < M_NFAMILIES; id++) {
		f = &metrics_fam[id];
		metrics_head(b, f->mf_name,
		    f->mf_type == METRIC_COUNTER ? "counter" : "gauge",
		    f->mf_help);
		if (id == M_BYTES) {
			for (i = 0; i < 2; i++) {
				evbuffer_add_printf(b, "%s{", f->mf_name);
				metrics_label(b, f->mf_l1, dirs[i]);
				evbuffer_add_printf(b, "} %llu\n",
				    (unsigned long long)
					__atomic_load_n(&metrics_byte_count[i],
					    __ATOMIC_RELAXED));
			}
			continue;
		}
		for (i = 0; i < f->mf_n; i++) {
			evbuffer_add_printf(b, "%s{", f->mf_name);
			metrics_label(b, f->mf_l1, f->mf_s[i].ms_v1);
			if (f->mf_l2 != NULL) {
				evbuffer_add(b, ",", 1);
				metrics_label(b, f->mf_l2, f->mf_s[i].ms_v2);
			}
			evbuffer_add_printf(b, "} %.17g\n",
			    f->mf_s[i].ms_value);
		}
	}
	pthread_mutex_unlock(&metrics_lock);
	metrics_process(b);
}

/* A refusal reason for a label, from an OPEN_RESULT code. */
const char *
metrics_reason(uint8_t code)
{
	static const char *s[] = { "succeeded", "general_failure",
		"not_allowed", "network_unreachable", "host_unreachable",
		"connection_refused", "timed_out", "command_not_supported",
		"address_type_not_supported" };

	return code < sizeof s / sizeof s[0] ? s[code] : "unknown";
}

/* Free every series (at exit). */
void
metrics_free(void)
{
	int id;

	for (id = 0; id < M_NFAMILIES; id++)
		metrics_clear((enum metric_id)id);
}
