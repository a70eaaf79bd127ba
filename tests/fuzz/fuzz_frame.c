/*
 * libFuzzer: frame decoding (lib/frame.c). Every decoder runs on the
 * input; what decodes is encoded again, and that must decode to the same
 * values, else abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Two endpoints say the same thing. */
static int
fuzz_endpoint_eq(const struct endpoint *a, const struct endpoint *b)
{
	return a->ep_atyp == b->ep_atyp && a->ep_len == b->ep_len &&
	    a->ep_port == b->ep_port &&
	    memcmp(a->ep_addr, b->ep_addr, a->ep_len) == 0;
}

/* The header: what decodes encodes to the same bytes (flags are 0). */
static void
fuzz_hdr(const uint8_t *p, size_t len)
{
	struct frame_hdr h, h2;
	const char *why = NULL;
	uint8_t b[FRAME_HDR_LEN];

	if (frame_hdr_decode(p, len, &h, &why) != FRAME_OK)
		return;
	frame_hdr_encode(b, h.fh_type, h.fh_chan, h.fh_len);
	if (frame_hdr_decode(b, sizeof b, &h2, &why) != FRAME_OK ||
	    h2.fh_version != h.fh_version || h2.fh_type != h.fh_type ||
	    h2.fh_flags != 0 || h2.fh_chan != h.fh_chan ||
	    h2.fh_len != h.fh_len || memcmp(b, p, 2) != 0 ||
	    memcmp(b + 4, p + 4, FRAME_HDR_LEN - 4) != 0)
		abort();
	(void)frame_type_name(h.fh_type);
}

/* HELLO round trip. */
static void
fuzz_hello(const uint8_t *p, size_t len)
{
	struct frame_hello h, h2;
	uint8_t b[128];
	size_t n;

	if (frame_hello_decode(p, len, &h) != FRAME_OK)
		return;
	if ((n = frame_hello_encode(b, sizeof b, &h)) == 0 ||
	    frame_hello_decode(b, n, &h2) != FRAME_OK ||
	    h2.fhl_min_version != h.fhl_min_version ||
	    h2.fhl_max_version != h.fhl_max_version ||
	    h2.fhl_role != h.fhl_role || h2.fhl_window != h.fhl_window ||
	    strcmp(h2.fhl_software, h.fhl_software) != 0)
		abort();
}

/* OPEN (and OUTSIDE_OPEN) round trip. */
static void
fuzz_open(const uint8_t *p, size_t len)
{
	struct frame_open o, o2;
	uint8_t b[1024];
	size_t n;

	if (frame_open_decode(p, len, &o) != FRAME_OK)
		return;
	if ((n = frame_open_encode(b, sizeof b, &o)) != len ||
	    frame_open_decode(b, n, &o2) != FRAME_OK ||
	    o2.fo_window != o.fo_window || o2.fo_ref != o.fo_ref ||
	    o2.fo_command != o.fo_command ||
	    !fuzz_endpoint_eq(&o2.fo_dst, &o.fo_dst) ||
	    !fuzz_endpoint_eq(&o2.fo_client, &o.fo_client) ||
	    strcmp(o2.fo_user, o.fo_user) != 0 ||
	    o2.fo_secret_len != o.fo_secret_len ||
	    memcmp(o2.fo_secret, o.fo_secret, o.fo_secret_len) != 0)
		abort();
}

/* OPEN_RESULT round trip. */
static void
fuzz_open_result(const uint8_t *p, size_t len)
{
	struct frame_open_result r, r2;
	uint8_t b[512];
	size_t n;

	if (frame_open_result_decode(p, len, &r) != FRAME_OK)
		return;
	if ((n = frame_open_result_encode(b, sizeof b, &r)) != len ||
	    frame_open_result_decode(b, n, &r2) != FRAME_OK ||
	    r2.for_code != r.for_code || r2.for_window != r.for_window ||
	    !fuzz_endpoint_eq(&r2.for_bound, &r.for_bound))
		abort();
	(void)frame_open_code_str(r.for_code);
}

/* AUTH round trip. */
static void
fuzz_auth(const uint8_t *p, size_t len)
{
	struct frame_auth a, a2;
	uint8_t b[1024];
	size_t n;

	if (frame_auth_decode(p, len, &a) != FRAME_OK)
		return;
	if ((n = frame_auth_encode(b, sizeof b, &a)) != len ||
	    frame_auth_decode(b, n, &a2) != FRAME_OK || a2.fa_ref != a.fa_ref ||
	    a2.fa_method != a.fa_method ||
	    !fuzz_endpoint_eq(&a2.fa_client, &a.fa_client) ||
	    strcmp(a2.fa_user, a.fa_user) != 0 ||
	    a2.fa_secret_len != a.fa_secret_len ||
	    memcmp(a2.fa_secret, a.fa_secret, a.fa_secret_len) != 0)
		abort();
}

/* AUTH_RESULT round trip. */
static void
fuzz_auth_result(const uint8_t *p, size_t len)
{
	uint32_t ref, ref2;
	uint8_t code, code2, b[16];
	size_t n;

	if (frame_auth_result_decode(p, len, &ref, &code) != FRAME_OK)
		return;
	if ((n = frame_auth_result_encode(b, sizeof b, ref, code)) != len ||
	    frame_auth_result_decode(b, n, &ref2, &code2) != FRAME_OK ||
	    ref2 != ref || code2 != code || memcmp(b, p, n) != 0)
		abort();
}

/* LOGIN and LOGIN_REPLY round trips: the same bytes back. */
static void
fuzz_login(const uint8_t *p, size_t len)
{
	struct frame_login l;
	struct frame_login_reply r;
	static uint8_t b[FRAME_LOGIN_MSG_MAX + 512];
	size_t n;

	if (frame_login_decode(p, len, &l) == FRAME_OK &&
	    ((n = frame_login_encode(b, sizeof b, &l)) != len ||
		memcmp(b, p, n) != 0))
		abort();
	if (frame_login_reply_decode(p, len, &r) == FRAME_OK &&
	    ((n = frame_login_reply_encode(b, sizeof b, &r)) != len ||
		memcmp(b, p, n) != 0))
		abort();
}

/* Every decoder on the whole input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_hdr(data, size);
	fuzz_hello(data, size);
	fuzz_open(data, size);
	fuzz_open_result(data, size);
	fuzz_auth(data, size);
	fuzz_auth_result(data, size);
	fuzz_login(data, size);
	if (size > 0)
		(void)frame_goaway_str(data[0]);
	return 0;
}
