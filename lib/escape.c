/*
 * One escape function for everything that reaches a log or audit line:
 * no input can start a new line, move the cursor or close a quote. CR,
 * LF and TAB become \r \n \t, other control bytes and bytes from 0x7f up
 * become \xHH, and with ESC_QUOTES " and \ become \" and \\. Output that
 * does not fit ends in "...".
 */
#include "escape.h"

#include <stdio.h>
#include <string.h>

/* Escape len bytes of src into dst (always terminated); returns its length. */
size_t
esc_bytes(char *dst, size_t size, const void *src, size_t len, int flags)
{
	const unsigned char *p = src;
	size_t o = 0, i, n;
	char e[8];

	if (size == 0)
		return 0;
	for (i = 0; i < len; i++) {
		switch (p[i]) {
		case '\r':
			snprintf(e, sizeof e, "\\r");
			break;
		case '\n':
			snprintf(e, sizeof e, "\\n");
			break;
		case '\t':
			snprintf(e, sizeof e, "\\t");
			break;
		case '"':
		case '\\':
			if (flags & ESC_QUOTES)
				snprintf(e, sizeof e, "\\%c", p[i]);
			else
				snprintf(e, sizeof e, "%c", p[i]);
			break;
		default:
			if (p[i] < 0x20 || p[i] >= 0x7f)
				snprintf(e, sizeof e, "\\x%02x", p[i]);
			else
				snprintf(e, sizeof e, "%c", p[i]);
		}
		n = strlen(e);
		if (o + n + 4 > size) {
			if (o + 4 <= size) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, e, n);
		o += n;
	}
	dst[o] = '\0';
	return o;
}

/* Escape a C string, quotes included; returns dst. */
const char *
esc_str(char *dst, size_t size, const char *src)
{
	esc_bytes(dst, size, src, strlen(src), ESC_QUOTES);
	return dst;
}
