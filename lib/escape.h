/* One escape function for everything that reaches a log or audit line. */
#ifndef DP_ESCAPE_H
#define DP_ESCAPE_H

#include <stddef.h>

#define ESC_QUOTES 0x1 /* also escape " and \ (values inside quotes) */

size_t esc_bytes(char *dst, size_t size, const void *src, size_t len,
    int flags);
const char *esc_str(char *dst, size_t size, const char *src);

#endif
