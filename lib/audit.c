/*
 * The audit log: one line per channel when it closes, and one per refused
 * request, in logfmt:
 *
 *   audit side=esp channel=5 user=alice client=198.51.100.3:40000
 *     dst=192.0.2.3:21 rule=ftp bytes_up=104 bytes_down=320
 *     duration=0.042 end=done
 *
 * bytes_up is client to server. Lines go to [log] audit (a file), or to
 * the daemon's log. Passwords never appear.
 */
#include "audit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "addr.h"
#include "channel.h"
#include "escape.h"
#include "log.h"
#include "xmalloc.h"

static FILE *audit_file;

/* Send audit lines to a file (appended), instead of the log. */
int
audit_open(const char *path, char **cause)
{
	FILE *f;

	if ((f = fopen(path, "a")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	if (audit_file != NULL)
		fclose(audit_file);
	audit_file = f;
	return 0;
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

/* Write one line. */
static void
audit_write(int esp_side, const char *chan, const char *user,
    const struct endpoint *client, const struct endpoint *dst, const char *rule,
    uint64_t up, uint64_t down, double secs, const char *end)
{
	char c[ADDR_STRLEN], d[ADDR_STRLEN], u[1100], e[1100], dq[1100];

	endpoint_str(client, c, sizeof c);
	endpoint_raw(dst, d, sizeof d);
	audit_value(u, sizeof u, user != NULL && *user != '\0' ? user : "-");
	audit_value(e, sizeof e, end);
	audit_value(dq, sizeof dq, d);
	if (audit_file != NULL)
		fprintf(audit_file,
		    "audit side=%s channel=%s user=%s client=%s dst=%s rule=%s "
		    "bytes_up=%llu bytes_down=%llu duration=%.3f end=%s\n",
		    esp_side ? "esp" : "isp", chan, u, c, dq, rule,
		    (unsigned long long)up, (unsigned long long)down, secs, e);
	else
		log_info("audit side=%s channel=%s user=%s client=%s dst=%s "
			 "rule=%s bytes_up=%llu bytes_down=%llu duration=%.3f "
			 "end=%s",
		    esp_side ? "esp" : "isp", chan, u, c, dq, rule,
		    (unsigned long long)up, (unsigned long long)down, secs, e);
}

/* A channel closed (or was refused after reaching the other side). */
void
audit_channel(const struct channel *ch, int esp_side, const char *end)
{
	struct timeval now, dt;
	char id[16];
	uint64_t up, down;

	gettimeofday(&now, NULL);
	timersub(&now, &ch->ch_start, &dt);
	snprintf(id, sizeof id, "%u", ch->ch_id);
	/* The esp's socket is the client's; the isp's is the server's. */
	up = esp_side ? ch->ch_bytes_out : ch->ch_bytes_in;
	down = esp_side ? ch->ch_bytes_in : ch->ch_bytes_out;

	audit_write(esp_side, id, ch->ch_user, &ch->ch_client, &ch->ch_dst,
	    ch->ch_rule[0] != '\0' ? ch->ch_rule : "-", up, down,
	    (double)dt.tv_sec + (double)dt.tv_usec / 1e6, end);
}

/* A request refused before any channel existed. */
void
audit_refusal(int esp_side, const char *user, const struct endpoint *client,
    const struct endpoint *dst, const char *end)
{
	audit_write(esp_side, "-", user, client, dst, "-", 0, 0, 0.0, end);
}
