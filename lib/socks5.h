/*
 * The server side of SOCKS5 (RFC 1928) and its login (RFC 1929): parsing
 * what a client sends, and building replies. Used by the esp's SOCKS door
 * and by a client agent's local door.
 */
#ifndef DP_SOCKS5_H
#define DP_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define SOCKS5_VERSION   5
#define SOCKS5_REPLY_MAX (4 + 16 + 2)

/* What a parser made of the bytes so far. */
enum socks5_parse {
	SOCKS5_MORE = 0, /* incomplete: wait for more */
	SOCKS5_DONE = 1, /* one message, *used bytes */
	SOCKS5_BAD = -1  /* not SOCKS5: close */
};

/* A request, as parsed. */
struct socks5_request {
	uint8_t sr_cmd;
	uint8_t sr_code; /* with SOCKS5_BAD: the reply to send, or 0 */
	struct endpoint sr_dst;
};

int socks5_greeting(const uint8_t *, size_t, size_t *used, int *offers_none,
    int *offers_login);
int socks5_login(const uint8_t *, size_t, size_t *used, char *user,
    size_t userlen, uint8_t *pass, size_t *passlen);
int socks5_request(const uint8_t *, size_t, size_t *used,
    struct socks5_request *);
size_t socks5_reply(uint8_t *, uint8_t code, const struct endpoint *bound);

#endif
