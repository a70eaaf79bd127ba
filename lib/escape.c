/*
 * One escape function for everything that reaches a log or audit line:
 * no input can start a new line, move the cursor or close a quote. CR,
 * LF and TAB become \r \n \t, other control bytes and bytes from 0x7f up
 * become \xHH, and with ESC_QUOTES " and \ become \" and \\. Output that
 * does not fit ends in "...".
 */
#include "escape.h"

#include <string.h>

/* Escape len bytes of src into dst (always terminated); returns its length. */
size_t
esc_bytes(char *dst, size_t size, const void *src, size_t len, int flags)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = src;
	size_t o = 0, i, n;
	char e[4];
	unsigned char c;

	if (size == 0)
		return 0;
	for (i = 0; i < len; i++) {
		c = p[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' &&
		    o + 5 <= size) {
			dst[o++] = (char)c; /* the common case */
			continue;
		}
		n = 1;
		e[0] = (char)c;
		if (c == '\r' || c == '\n' || c == '\t') {
			e[0] = '\\';
			e[1] = c == '\r' ? 'r' : c == '\n' ? 'n' : 't';
			n = 2;
		} else if ((c == '"' || c == '\\') && (flags & ESC_QUOTES)) {
			e[0] = '\\';
			e[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 15];
			n = 4;
		}
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
