/*
 * libFuzzer: the metrics, both ways. Label values from the input go in
 * (lib/metrics.c) and the rendering must stay one sample per line with
 * every quote and backslash escaped; and any page at all, as a hostile
 * or wrong endpoint would send it, goes through esp -S's parser and
 * summary (lib/status.c).
 *
 * Input: one control byte; then NUL-separated label values (even), or
 * the page (odd).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"
#include "status.h"
#include "xmalloc.h"

/* Check one rendered line: a comment, or name{...} value, quotes paired. */
static void
fuzz_check_line(const char *l, size_t n)
{
	size_t i;
	int inq = 0;

	if (n == 0 || l[0] == '#')
		return;
	for (i = 0; i < n; i++) {
		if (l[i] == '\n')
			abort();
		if (inq && l[i] == '\\') {
			if (i + 1 >= n || strchr("\\\"n", l[i + 1]) == NULL)
				abort();
			i++;
		} else if (l[i] == '"')
			inq = !inq;
	}
	if (inq)
		abort();
}

/* Feed label values into every family, render, check. */
static void
fuzz_render(const uint8_t *p, size_t n)
{
	struct evbuffer *b = evbuffer_new();
	char *copy = xmalloc(n + 1), *v, *w, *line;
	size_t len, k = 0, i;

	memcpy(copy, p, n);
	copy[n] = '\0';
	for (v = copy; v < copy + n && k < 64; v += strlen(v) + 1, k++) {
		w = v + strlen(v) + 1 <= copy + n ? v : "";
		metrics_add((enum metric_id)(k % M_NFAMILIES), v, 1);
		metrics_add2(M_ANNOUNCEMENTS, v, w, 1);
		metrics_add(M_CHANNELS, v, (k & 1) ? -1 : 1);
	}
	metrics_bytes(k & 1, n);
	metrics_render(b);
	len = evbuffer_get_length(b);
	line = xmalloc(len + 1);
	evbuffer_remove(b, line, len);
	line[len] = '\0';
	for (v = line, i = 0; i <= len; i++)
		if (line[i] == '\n' || line[i] == '\0') {
			fuzz_check_line(v, (size_t)(line + i - v));
			v = line + i + 1;
		}
	free(line);
	free(copy);
	evbuffer_free(b);
	metrics_free();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *devnull;
	char *text;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		fuzz_render(data + 1, size - 1);
		return 0;
	}
	text = xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if ((devnull = fopen("/dev/null", "w")) != NULL) {
		status_show(devnull, "esp", "http://127.0.0.1:9430/metrics",
		    text);
		fclose(devnull);
	}
	free(text);
	return 0;
}
