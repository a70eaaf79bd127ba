/*
 * libFuzzer: what a client agent reads from others. Its local door's
 * SOCKS5 parsers (lib/socks5.c) fed the input as one program's bytes,
 * greeting, login and request in turn, as the agent reads them; the
 * OPEN secrets of lib/optag.c, as the esp and the isp decode them; and
 * the state file's text (sockhook/agentstate.c), as programs read it.
 * What decodes must encode back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optag.h"
#include "sockhook.h"
#include "socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Greeting, login, request, as the local door takes them. */
static void
fuzz_door(const uint8_t *p, size_t len)
{
	struct socks5_request r;
	uint8_t pass[256], reply[SOCKS5_REPLY_MAX];
	char user[256];
	size_t used = 0, plen = 0;
	int none, login;

	if (socks5_greeting(p, len, &used, &none, &login) != SOCKS5_DONE)
		return;
	if (used > len)
		abort();
	p += used;
	len -= used;
	if (socks5_login(p, len, &used, user, sizeof user, pass, &plen) !=
	    SOCKS5_DONE)
		return;
	if (used > len || strlen(user) == 0 || plen > 255)
		abort();
	p += used;
	len -= used;
	if (socks5_request(p, len, &used, &r) != SOCKS5_DONE)
		return;
	if (used > len || socks5_reply(reply, p[0], &r.sr_dst) > sizeof reply)
		abort();
}

/* The agent's OPEN secret and the isp's: round trips. */
static void
fuzz_tags(const uint8_t *p, size_t len)
{
	struct optag_legs l;
	uint8_t out[256], tag[OPTAG_LEN], isp[OPTAG_ISP_LEN];
	uint64_t counter;
	uint32_t login;
	size_t i;

	if (optag_legs_decode(p, len, &l) == 0) {
		if (optag_legs_encode(&l, out, sizeof out) != len ||
		    memcmp(out, p, len) != 0)
			abort();
		for (i = 0; i < l.ol_n; i++)
			if (optag_legs_find(&l, l.ol_leg[i]) == NULL)
				abort();
	}
	if (optag_isp_decode(p, len, &login, &counter, tag) == 0) {
		optag_isp_encode(login, counter, tag, isp);
		if (memcmp(isp, p, sizeof isp) != 0)
			abort();
	}
}

/* The state file's text. */
static void
fuzz_state(const uint8_t *p, size_t len)
{
	struct agentstate as;
	char buf[257];

	if (len > 256)
		len = 256;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (agentstate_parse(buf, &as) == 0 &&
	    (as.as_pid <= 0 || as.as_addr.sin_port == 0))
		abort();
}

/* Every reader on the whole input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_door(data, size);
	fuzz_tags(data, size);
	fuzz_state(data, size);
	return 0;
}
