/*
 * Fuzz the stream scanner with the shipped rules (rules/, or
 * $DYNPASS_RULES): arbitrary bytes, fed whole and then in arbitrary
 * splits. Checked each time:
 *   - every announcement reported decodes (or is marked suspect), and is
 *     of a kind of that direction;
 *   - watching only (every announcement emitted unchanged, scan_set_observer
 *     for suspect ones), the output is the input exactly, with Telnet
 *     commands taken out for a Telnet-framed rule; after SCAN_ERROR it is
 *     a prefix of that;
 *   - rewriting every announcement, the stream still comes out in order:
 *     the same as whole when split, byte for byte;
 *   - the scanner never holds more than its holdback.
 * Input: byte 0 picks the rule file and direction, byte 1 the holdback,
 * bytes 2-3 the split seed; the rest is the stream.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "rule.h"
#include "rule_int.h"
#include "scan.h"

static struct ruleset *fz_rules;
static struct sockaddr_in fz_with;

/* Load the shipped rules once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("DYNPASS_RULES");
	char *cause = NULL;

	(void)argc;
	(void)argv;
	fz_rules = ruleset_new();
	if (ruleset_load_dir(fz_rules, dir != NULL ? dir : "rules", &cause) !=
	    0)
		abort();
	memset(&fz_with, 0, sizeof fz_with);
	fz_with.sin_family = AF_INET;
	fz_with.sin_addr.s_addr = htonl(0xc0000201);
	fz_with.sin_port = htons(40000);
	return 0;
}

/* The stream with Telnet commands taken out, as the scanner does. */
static size_t
fz_telnet(const uint8_t *p, size_t n, uint8_t *out)
{
	enum { D, I, O, S, SI } st = D;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		switch (st) {
		case D:
			if (p[i] == 255)
				st = I;
			else
				out[o++] = p[i];
			break;
		case I:
			if (p[i] == 255) {
				out[o++] = 255;
				out[o++] = 255;
				st = D;
			} else if (p[i] >= 251)
				st = O;
			else if (p[i] == 250)
				st = S;
			else
				st = D;
			break;
		case O:
			st = D;
			break;
		case S:
			if (p[i] == 255)
				st = SI;
			break;
		case SI:
			st = p[i] == 240 ? D : S;
			break;
		}
	}
	return o;
}

/*
 * Scan data in pieces cut by seed (0: whole); watching or rewriting.
 * Returns 1 if the scanner failed closed.
 */
static int
fz_scan(const struct rule_app *a, enum rule_dir dir, size_t cap,
    const uint8_t *data, size_t len, unsigned seed, int rewrite,
    struct evbuffer *out)
{
	struct scan *s = scan_new(a, dir, cap);
	struct evbuffer *in = evbuffer_new();
	struct announce an;
	const char *why;
	enum scan_result r;
	size_t at = 0, n;
	int failed = 0, eof = 0;

	if (!rewrite)
		scan_set_observer(s);
	while (!failed) {
		if (at < len) {
			n = seed == 0
			    ? len - at
			    : 1 + (seed = seed * 1103515245 + 12345) % 97;
			if (n > len - at)
				n = len - at;
			evbuffer_add(in, data + at, n);
			at += n;
		} else if (!eof) {
			scan_eof(s);
			eof = 1;
		}
		for (;;) {
			r = scan_feed(s, evbuffer_get_length(in) ? in : NULL,
			    out, &an, &why);
			if (scan_held(s) > cap + 256 && r == SCAN_MORE)
				abort(); /* held more than the holdback */
			if (r == SCAN_MORE)
				break;
			if (r == SCAN_ERROR) {
				if (why == NULL)
					abort();
				failed = 1;
				break;
			}
			if (an.an_kind == NULL ||
			    (an.an_family != 0 && an.an_family != AF_INET &&
				an.an_family != AF_INET6) ||
			    (!an.an_suspect && an.an_family == 0 &&
				!an.an_implied))
				abort(); /* reported but does not decode */
			if (rewrite) {
				if (scan_emit(s, (struct sockaddr *)&fz_with,
					out) != 0 &&
				    scan_emit(s, NULL, out) != 0) {
					failed = 1; /* cannot be written */
					break;
				}
			} else if (scan_emit(s, NULL, out) != 0)
				abort(); /* a watcher passes everything */
		}
		if (eof && at >= len)
			break;
	}
	if (!failed)
		scan_flush(s, out);
	scan_free(s);
	evbuffer_free(in);
	return failed;
}

/* Is the buffer a prefix of p[0..n) (the whole of it, with whole)? */
static int
fz_prefix(struct evbuffer *b, const uint8_t *p, size_t n, int whole)
{
	size_t l = evbuffer_get_length(b);

	if (l > n || (whole && l != n))
		return 0;
	return l == 0 || memcmp(evbuffer_pullup(b, -1), p, l) == 0;
}

/* Do two buffers hold the same bytes? */
static int
fz_same(struct evbuffer *a, struct evbuffer *b)
{
	size_t l = evbuffer_get_length(a);

	return l == evbuffer_get_length(b) &&
	    (l == 0 ||
		memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), l) == 0);
}

/* One input: see the comment at the top. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct rule_app *a;
	struct evbuffer *whole, *split;
	enum rule_dir dir;
	uint8_t *norm;
	size_t cap, nlen;
	unsigned seed;
	int f1, f2;

	if (size < 4 || ruleset_count(fz_rules) == 0)
		return 0;
	a = ruleset_app(fz_rules, data[0] % ruleset_count(fz_rules));
	dir = (data[0] >> 4) & 1 ? RULE_S2C : RULE_C2S;
	if (!rule_app_scans(a, dir))
		return 0;
	cap = 64 + (size_t)data[1] * 16;
	seed = (unsigned)data[2] << 8 | data[3];
	data += 4;
	size -= 4;

	/* Watching: the output is the (Telnet-normalised) input. */
	norm = malloc(2 * size + 1);
	nlen = a->a_telnet ? fz_telnet(data, size, norm) : size;
	if (!a->a_telnet)
		memcpy(norm, data, size);
	whole = evbuffer_new();
	f1 = fz_scan(a, dir, cap, data, size, 0, 0, whole);
	if (!fz_prefix(whole, norm, nlen, !f1))
		abort();
	split = evbuffer_new();
	f2 = fz_scan(a, dir, cap, data, size, seed | 1, 0, split);
	if (!fz_prefix(split, norm, nlen, !f2))
		abort();
	evbuffer_free(whole);
	evbuffer_free(split);

	/* Rewriting: however it is split, the same stream comes out. */
	whole = evbuffer_new();
	split = evbuffer_new();
	f1 = fz_scan(a, dir, cap, data, size, 0, 1, whole);
	f2 = fz_scan(a, dir, cap, data, size, seed | 1, 1, split);
	if (!f1 && !f2 && !fz_same(whole, split))
		abort();
	evbuffer_free(whole);
	evbuffer_free(split);
	free(norm);
	return 0;
}
