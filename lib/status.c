/*
 * esp -S and isp -S: fetch the running daemon's /metrics from [metrics]
 * listen with evhttp, and print it for people.
 */
#include "status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "addr.h"
#include "conf.h"
#include "escape.h"
#include "xmalloc.h"

#define STATUS_TIMEOUT  5
#define STATUS_MAX_BODY (4 << 20)

struct status_fetch {
	struct event_base *sf_base;
	struct evbuffer *sf_body;
	int sf_code;
	char sf_why[128];
};

/* One sample: name{l1="v1",l2="v2"} value. */
struct status_sample {
	char name[64];
	char v1[160], v2[160];
	double value;
};

/* The reply, or its absence. */
static void
status_donecb(struct evhttp_request *req, void *arg)
{
	struct status_fetch *sf = arg;
	struct evbuffer *in;

	event_base_loopexit(sf->sf_base, NULL);
	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		snprintf(sf->sf_why, sizeof sf->sf_why,
		    "no answer (is it running, with [metrics] listen?)");
		return;
	}
	sf->sf_code = evhttp_request_get_response_code(req);
	in = evhttp_request_get_input_buffer(req);
	if (evbuffer_get_length(in) <= STATUS_MAX_BODY)
		evbuffer_add_buffer(sf->sf_body, in);
}

/* Where to connect for a listen address: its wildcard as loopback. */
static void
status_target(const struct sockaddr_storage *ss, char *host, size_t len,
    int *port)
{
	struct sockaddr_storage t = *ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&t;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t;

	if (t.ss_family == AF_INET) {
		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*port = ntohs(sin->sin_port);
		inet_ntop(AF_INET, &sin->sin_addr, host, (socklen_t)len);
	} else {
		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			sin6->sin6_addr = in6addr_loopback;
		*port = ntohs(sin6->sin6_port);
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, (socklen_t)len);
	}
}

/* Parse one sample line; 0, or -1 for a line to skip. */
static int
status_parse(const char *line, struct status_sample *s)
{
	const char *p = line, *q;
	char *end;
	size_t n;
	int k;

	memset(s, 0, sizeof *s);
	n = strcspn(p, "{ ");
	if (n == 0 || n >= sizeof s->name || line[0] == '#')
		return -1;
	memcpy(s->name, p, n);
	p += n;
	for (k = 0; *p == '{' || *p == ','; k++) {
		if ((q = strchr(p, '"')) == NULL)
			return -1;
		p = q + 1;
		for (n = 0; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (n + 1 < sizeof s->v1)
				(k == 0 ? s->v1 : s->v2)[n++] = *p;
		}
		if (*p != '"')
			return -1;
		p++;
	}
	if (*p == '}')
		p++;
	s->value = strtod(p, &end);
	return end == p ? -1 : 0;
}

/* 4194304 as "4.0 MiB". */
static const char *
status_bytes(double v, char *buf, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i == 0 ? "%.0f %s" : "%.1f %s", v, u[i]);
	return buf;
}

/* Print every sample of one family on one line, "label value, ...". */
static void
status_line(FILE *f, const char *title, const struct status_sample *s, size_t n,
    const char *name, int bytes, double scale, const char *unit)
{
	char buf[32], v1[300], v2[300];
	size_t i;
	int any = 0;

	fprintf(f, "  %s:", title);
	for (i = 0; i < n; i++) {
		if (strcmp(s[i].name, name) != 0)
			continue;
		/* What the endpoint says is printed escaped: no terminal codes. */
		fprintf(f, "%s %s%s%s ", any ? "," : "",
		    esc_str(v1, sizeof v1, s[i].v1), s[i].v2[0] ? "/" : "",
		    esc_str(v2, sizeof v2, s[i].v2));
		if (bytes)
			fprintf(f, "%s",
			    status_bytes(s[i].value, buf, sizeof buf));
		else if (scale != 1)
			fprintf(f, "%.2f%s", s[i].value * scale, unit);
		else
			fprintf(f, "%.0f", s[i].value);
		any = 1;
	}
	fprintf(f, "%s\n", any ? "" : " none");
}

/* The first sample named name, or def. */
static double
status_value(const struct status_sample *s, size_t n, const char *name,
    double def)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return s[i].value;
	return def;
}

/* Print the summary of a scraped page (text is cut up on the way). */
void
status_show(FILE *f, const char *prog, const char *url, char *text)
{
	struct status_sample *s = NULL;
	size_t n = 0;
	char *line, *save = NULL, buf[32], version[64] = "?";
	double start, open = 0;
	long long up;
	size_t i;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		s = xrealloc(s, (n + 1) * sizeof *s);
		if (status_parse(line, &s[n]) == 0)
			n++;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(s[i].name, "dynpass_build_info") == 0)
			esc_str(version, sizeof version, s[i].v2);
		if (strcmp(s[i].name, "dynpass_channels") == 0)
			open += s[i].value;
	}
	start = status_value(s, n, "process_start_time_seconds", 0);
	up = start > 0 && start < 1e12 ? (long long)((double)time(NULL) - start)
				       : 0;
	fprintf(f, "%s (dynpass %s), from %s\n", prog, version, url);
	fprintf(f,
	    "  up %lldh %02lldm %02llds, %s resident, %.0f descriptors\n",
	    up / 3600, up % 3600 / 60, up % 60,
	    status_bytes(status_value(s, n, "process_resident_memory_bytes", 0),
		buf, sizeof buf),
	    status_value(s, n, "process_open_fds", 0));
	status_line(f, "sessions", s, n, "dynpass_sessions", 0, 1, "");
	status_line(f, "session round trip", s, n,
	    "dynpass_session_rtt_seconds", 0, 1000, " ms");
	fprintf(f, "  channels open: %.0f\n", open);
	status_line(f, "channels open by user", s, n, "dynpass_channels", 0, 1,
	    "");
	status_line(f, "channels opened", s, n, "dynpass_channels_total", 0, 1,
	    "");
	status_line(f, "bytes", s, n, "dynpass_channel_bytes_total", 1, 1, "");
	status_line(f, "refusals", s, n, "dynpass_refusals_total", 0, 1, "");
	status_line(f, "announcements", s, n, "dynpass_announcements_total", 0,
	    1, "");
	status_line(f, "logins", s, n, "dynpass_logins_total", 0, 1, "");
	free(s);
}

/* -S: read [metrics] listen from the configuration, then fetch and print. */
int
status_run(const char *prog, const char *path)
{
	struct listen_set ls;
	struct conf *c;
	char *cause = NULL;
	int rc = 1;

	if ((c = conf_load(path, &cause)) == NULL ||
	    listen_parse(c, "metrics:listen", &ls, &cause) != 0) {
		fprintf(stderr, "%s: %s\n", prog, cause);
		free(cause);
		conf_free(c);
		return 1;
	}
	rc = status_print(prog, &ls, stdout);
	listen_clear(&ls);
	conf_free(c);
	return rc;
}

/*
 * Fetch and print. The first address of ls is asked (a wildcard as
 * loopback). 0, or 1 with a message on standard error.
 */
int
status_print(const char *prog, const struct listen_set *ls, FILE *f)
{
	struct status_fetch sf;
	struct event_base *base;
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	char host[ADDR_STRLEN], url[ADDR_STRLEN + 32], *text;
	size_t len;
	int port, rc = 1;

	if (ls->ls_n == 0) {
		fprintf(stderr,
		    "%s: -S needs [metrics] listen in the "
		    "configuration\n",
		    prog);
		return 1;
	}
	status_target(&ls->ls_ss[0], host, sizeof host, &port);
	snprintf(url, sizeof url, "http://%s%s%s:%d/metrics",
	    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
	    port);
	memset(&sf, 0, sizeof sf);
	base = event_base_new();
	sf.sf_base = base;
	sf.sf_body = evbuffer_new();
	conn = evhttp_connection_base_new(base, NULL, host, (uint16_t)port);
	if (base == NULL || sf.sf_body == NULL || conn == NULL) {
		fprintf(stderr, "%s: cannot set up a request\n", prog);
		goto out;
	}
	evhttp_connection_set_timeout(conn, STATUS_TIMEOUT);
	/* Whatever listens there may not be the daemon: a bounded answer. */
	evhttp_connection_set_max_body_size(conn, STATUS_MAX_BODY);
	evhttp_connection_set_max_headers_size(conn, 64 << 10);
	req = evhttp_request_new(status_donecb, &sf);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, "/metrics") != 0) {
		fprintf(stderr, "%s: %s: cannot send the request\n", prog, url);
		goto out;
	}
	event_base_dispatch(base);
	if (sf.sf_code != 200) {
		if (sf.sf_code != 0)
			snprintf(sf.sf_why, sizeof sf.sf_why, "HTTP %d",
			    sf.sf_code);
		fprintf(stderr, "%s: %s: %s\n", prog, url, sf.sf_why);
		goto out;
	}
	len = evbuffer_get_length(sf.sf_body);
	text = xmalloc(len + 1);
	evbuffer_remove(sf.sf_body, text, len);
	text[len] = '\0';
	status_show(f, prog, url, text);
	free(text);
	rc = 0;
out:
	if (conn != NULL)
		evhttp_connection_free(conn);
	if (sf.sf_body != NULL)
		evbuffer_free(sf.sf_body);
	if (base != NULL)
		event_base_free(base);
	return rc;
}
