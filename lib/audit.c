/*
 * The audit log: one line per channel when it closes, one per refused
 * request, one per announcement a rule found (with its fate), in logfmt:
 *
 *   audit ts=2026-12-06T03:10:00.123Z event=channel side=esp channel=5
 *     user=alice client=198.51.100.3:40000 dst=192.0.2.3:21 rule=ftp
 *     bytes_up=104 bytes_down=320 duration=0.042 parent=- isp=inside-1
 *     peer=inside-1 end=done
 *
 * or as JSON lines with the same fields ([log] audit_format = json).
 * ts is RFC 3339 in UTC with milliseconds; isp is the isp's id (at the
 * esp, what TLS proved; at the isp, its own), peer the session peer's TLS
 * identity; parent the control channel of a data channel. bytes_up is
 * client to server. Lines go to [log] audit (a file, reopened on SIGHUP)
 * or to the daemon's log. Passwords never appear.
 */
#include "audit.h"
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "channel.h"
#include "escape.h"
#include "log.h"
#include "session.h"
#include "xmalloc.h"

static FILE *audit_file;
static char *audit_path;
static int audit_format = AUDIT_LOGFMT;
static char audit_self[80] = "-";
static audit_refusal_hook audit_hook; /* the esp sends its refusals on */
static void *audit_hook_arg;

/* One audit record; NULL strings are left out. */
struct audit_rec {
	const char *event;
	int esp_side;
	const char *channel, *user, *client, *dst, *rule, *parent;
	const char *isp, *peer, *announcement, *fate, *end;
	int counts; /* bytes and duration below are meaningful */
	uint64_t up, down;
	double secs;
};

/* Give the audit file to the user the daemon becomes, for its reopens. */
int
audit_chown(uid_t uid, gid_t gid)
{
	return audit_file != NULL ? fchown(fileno(audit_file), uid, gid) : 0;
}

/* Send audit lines to a file (appended), instead of the log. */
int
audit_open(const char *path, int format, char **cause)
{
	FILE *f;
	int fd;

	if ((fd = log_open_append(path, cause)) == -1)
		return -1;
	if ((f = fdopen(fd, "a")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	if (audit_file != NULL)
		fclose(audit_file);
	audit_file = f;
	free(audit_path);
	audit_path = xstrdup(path);
	audit_format = format;
	return 0;
}

/* Open the file again (after a rotation); the old one stays on failure. */
int
audit_reopen(char **cause)
{
	char *path;
	int rc;

	if (audit_path == NULL)
		return 0;
	path = xstrdup(audit_path);
	rc = audit_open(path, audit_format, cause);
	free(path);
	return rc;
}

/* logfmt or JSON, when the lines go to the daemon's log. */
void
audit_set_format(int format)
{
	audit_format = format;
}

/* This isp's own id, for its lines (the esp names the peer's). */
void
audit_set_self(const char *id)
{
	snprintf(audit_self, sizeof audit_self, "%s", id);
}

/* A logfmt value: bare, or quoted and escaped (see escape.c). */
static void
audit_value(char *buf, size_t len, const char *v)
{
	size_t n = esc_bytes(buf + 1, len - 2, v, strlen(v), ESC_QUOTES);

	if (*v != '\0' && strcmp(buf + 1, v) == 0 && strpbrk(v, " =") == NULL) {
		memmove(buf, buf + 1, n + 1);
		return;
	}
	buf[0] = '"';
	buf[n + 1] = '"';
	buf[n + 2] = '\0';
}

/* A JSON string: quoted, with ", \ and every byte outside 0x20-0x7e as \u. */
static void
audit_json(char *buf, size_t len, const char *v)
{
	size_t n = 0;
	const unsigned char *p;

	buf[n++] = '"';
	for (p = (const unsigned char *)v; *p != '\0' && n + 8 < len; p++) {
		if (*p == '"' || *p == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)*p;
		} else if (*p < 0x20 || *p > 0x7e)
			n += (size_t)snprintf(buf + n, len - n, "\\u%04x", *p);
		else
			buf[n++] = (char)*p;
	}
	buf[n++] = '"';
	buf[n] = '\0';
}

/* Append one field, name and value, in the record's format. */
static void
audit_field(char *line, size_t len, const char *name, const char *v, int bare)
{
	char val[2200];
	size_t n = strlen(line);

	if (v == NULL)
		return;
	if (audit_format == AUDIT_JSON) {
		if (bare)
			snprintf(val, sizeof val, "%s", v);
		else
			audit_json(val, sizeof val, v);
		snprintf(line + n, len - n, "%s\"%s\":%s", n > 1 ? "," : "",
		    name, val);
	} else {
		if (bare)
			snprintf(val, sizeof val, "%s", v);
		else
			audit_value(val, sizeof val, *v != '\0' ? v : "-");
		snprintf(line + n, len - n, " %s=%s", name, val);
	}
}

/* Now as RFC 3339 in UTC, with milliseconds. */
static void
audit_now(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	char s[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%03dZ", s, (int)(tv.tv_usec / 1000) % 1000);
}

/* Write one record, to the file or the log. */
static void
audit_write(const struct audit_rec *r)
{
	char line[8192], ts[40], num[3][32];

	audit_now(ts, sizeof ts);
	snprintf(line, sizeof line, "%s",
	    audit_format == AUDIT_JSON ? "{" : "audit");
	audit_field(line, sizeof line, "ts", ts, 0);
	audit_field(line, sizeof line, "event", r->event, 0);
	audit_field(line, sizeof line, "side", r->esp_side ? "esp" : "isp", 0);
	audit_field(line, sizeof line, "channel", r->channel, 0);
	audit_field(line, sizeof line, "user", r->user, 0);
	audit_field(line, sizeof line, "client", r->client, 0);
	audit_field(line, sizeof line, "dst", r->dst, 0);
	audit_field(line, sizeof line, "rule", r->rule, 0);
	if (r->counts) {
		snprintf(num[0], sizeof num[0], "%llu",
		    (unsigned long long)r->up);
		snprintf(num[1], sizeof num[1], "%llu",
		    (unsigned long long)r->down);
		snprintf(num[2], sizeof num[2], "%.3f", r->secs);
		audit_field(line, sizeof line, "bytes_up", num[0], 1);
		audit_field(line, sizeof line, "bytes_down", num[1], 1);
		audit_field(line, sizeof line, "duration", num[2], 1);
	}
	audit_field(line, sizeof line, "announcement", r->announcement, 0);
	audit_field(line, sizeof line, "fate", r->fate, 0);
	audit_field(line, sizeof line, "parent", r->parent, 0);
	audit_field(line, sizeof line, "isp", r->isp, 0);
	audit_field(line, sizeof line, "peer", r->peer, 0);
	audit_field(line, sizeof line, "end", r->end, 0);
	if (audit_format == AUDIT_JSON)
		strncat(line, "}", sizeof line - strlen(line) - 1);
	if (audit_file != NULL)
		fprintf(audit_file, "%s\n", line);
	else
		log_info("%s", line);
}

/* Fill the identities of a channel's session into r. */
static void
audit_who(struct audit_rec *r, const struct channel *ch, int esp_side)
{
	const char *peer = session_identity(ch->ch_sess);

	r->peer = *peer != '\0' ? peer : "-";
	r->isp = esp_side ? r->peer : audit_self;
}

/* A channel closed: what it moved, how long, how it ended. */
void
audit_channel(const struct channel *ch, int esp_side, const char *end)
{
	struct audit_rec r;
	struct timeval now, dt;
	char id[16], parent[16], c[ADDR_STRLEN], d[ADDR_STRLEN];

	gettimeofday(&now, NULL);
	timersub(&now, &ch->ch_start, &dt);
	snprintf(id, sizeof id, "%u", ch->ch_id);
	snprintf(parent, sizeof parent, "%u", ch->ch_parent);
	memset(&r, 0, sizeof r);
	r.event = "channel";
	r.esp_side = esp_side;
	r.channel = id;
	r.user = ch->ch_user;
	r.client = endpoint_str(&ch->ch_client, c, sizeof c);
	r.dst = endpoint_raw(&ch->ch_dst, d, sizeof d);
	r.rule = ch->ch_rule[0] != '\0' ? ch->ch_rule : "-";
	r.counts = 1;
	/* The esp's socket is the client's; the isp's is the server's. */
	r.up = esp_side ? ch->ch_bytes_out : ch->ch_bytes_in;
	r.down = esp_side ? ch->ch_bytes_in : ch->ch_bytes_out;
	r.secs = (double)dt.tv_sec + (double)dt.tv_usec / 1e6;
	r.parent = ch->ch_parent != 0 ? parent : "-";
	audit_who(&r, ch, esp_side);
	r.end = end;
	audit_write(&r);
}

/* A request refused before it became a channel; reason is its label. */
void
audit_refusal(int esp_side, const char *reason, const char *user,
    const struct endpoint *client, const struct endpoint *dst, const char *end)
{
	struct audit_rec r;
	char c[ADDR_STRLEN], d[ADDR_STRLEN];

	memset(&r, 0, sizeof r);
	metrics_add(M_REFUSALS, reason, 1);
	r.event = "refusal";
	r.esp_side = esp_side;
	r.channel = "-";
	r.user = user != NULL ? user : "";
	r.client = endpoint_str(client, c, sizeof c);
	r.dst = endpoint_raw(dst, d, sizeof d);
	r.rule = "-";
	r.isp = esp_side ? "-" : audit_self;
	r.end = end;
	audit_write(&r);
	if (esp_side && audit_hook != NULL)
		audit_hook(user, client, dst, end, audit_hook_arg);
}

/* Who hears of the esp's refusals (the esp sends them to its isps). */
void
audit_set_refusal_hook(audit_refusal_hook fn, void *arg)
{
	audit_hook = fn;
	audit_hook_arg = arg;
}

/*
 * A refusal the esp reported (NOTICE), in the isp's audit: marked as the
 * esp's word (side=esp, peer= the esp), since the isp did not see it.
 */
void
audit_reported(const char *esp, const char *user, const struct endpoint *client,
    const struct endpoint *dst, const char *why)
{
	struct audit_rec r;
	char c[ADDR_STRLEN], d[ADDR_STRLEN];

	memset(&r, 0, sizeof r);
	r.event = "refusal";
	r.esp_side = 1;
	r.channel = "-";
	r.user = user;
	r.client = endpoint_str(client, c, sizeof c);
	r.dst = endpoint_raw(dst, d, sizeof d);
	r.rule = "-";
	r.isp = audit_self;
	r.peer = esp;
	r.fate = "reported by the esp";
	r.end = why;
	audit_write(&r);
}

/* An announcement a rule found on a channel, and what became of it. */
void
audit_announce(const struct channel *ch, int esp_side, const char *text,
    const char *fate, const char *why)
{
	struct audit_rec r;
	char id[16], c[ADDR_STRLEN], d[ADDR_STRLEN];

	if (channel_announce_quiet(ch))
		return; /* past the channel's log budget */
	snprintf(id, sizeof id, "%u", ch->ch_id);
	memset(&r, 0, sizeof r);
	r.event = "announce";
	r.esp_side = esp_side;
	r.channel = id;
	r.user = ch->ch_user;
	r.client = endpoint_str(&ch->ch_client, c, sizeof c);
	r.dst = endpoint_raw(&ch->ch_dst, d, sizeof d);
	r.rule = ch->ch_rule[0] != '\0' ? ch->ch_rule : "-";
	r.announcement = text;
	r.fate = fate;
	metrics_add2(M_ANNOUNCEMENTS, r.rule, fate, 1);
	audit_who(&r, ch, esp_side);
	r.end = why != NULL ? why : "-";
	audit_write(&r);
}
