/* Frame encode/decode, including truncated, oversized and malformed input. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "frame.h"
#include "unit.h"

/* Header round trip and every rejection. */
static void
test_header(void)
{
	uint8_t b[FRAME_HDR_LEN];
	struct frame_hdr h;
	const char *why = NULL;
	size_t i;

	frame_hdr_encode(b, FRAME_DATA, 0x01020304, 4096);
	CHECK(frame_hdr_decode(b, sizeof b, &h, &why) == FRAME_OK);
	CHECK(h.fh_version == FRAME_VERSION && h.fh_type == FRAME_DATA);
	CHECK(h.fh_chan == 0x01020304 && h.fh_len == 4096);
	for (i = 0; i < FRAME_HDR_LEN; i++)
		CHECK(frame_hdr_decode(b, i, &h, &why) == FRAME_SHORT);

	frame_hdr_encode(b, FRAME_DATA, 1, FRAME_MAX_PAYLOAD);
	CHECK(frame_hdr_decode(b, sizeof b, &h, &why) == FRAME_OK);
	frame_hdr_encode(b, FRAME_DATA, 1, FRAME_MAX_PAYLOAD + 1);
	CHECK(frame_hdr_decode(b, sizeof b, &h, &why) == FRAME_BAD);
	CHECK_STR_CONTAINS(why, "oversized");
	frame_hdr_encode(b, FRAME_DATA, 1, 0xffffffff);
	CHECK(frame_hdr_decode(b, sizeof b, &h, &why) == FRAME_BAD);

	frame_hdr_encode(b, FRAME_DATA, 1, 10);
	b[0] = 1; /* version 1 peers are refused */
	CHECK(frame_hdr_decode(b, sizeof b, &h, &why) == FRAME_BAD);
	CHECK_STR_CONTAINS(why, "version");

	frame_hdr_encode(b, 0, 1, 10);
	CHECK(frame_hdr_decode(b, sizeof b, &h, &why) == FRAME_BAD);
	CHECK_STR_CONTAINS(why, "unknown frame type");
	frame_hdr_encode(b, FRAME_TYPE_MAX + 1, 1, 10);
	CHECK(frame_hdr_decode(b, sizeof b, &h, &why) == FRAME_BAD);
	frame_hdr_encode(b, FRAME_AUTH_RESULT, 1, 10);
	CHECK(frame_hdr_decode(b, sizeof b, &h, &why) == FRAME_OK);
}

/* HELLO round trip and malformed variants. */
static void
test_hello(void)
{
	struct frame_hello h = { .fhl_min_version = 1,
		.fhl_max_version = 3,
		.fhl_role = FRAME_ROLE_ISP,
		.fhl_window = 16 << 20,
		.fhl_software = "dynpass/test",
		.fhl_lane = 5 };
	struct frame_hello d;
	uint8_t b[128];
	size_t n = frame_hello_encode(b, sizeof b, &h), i;

	CHECK(n == 9 + strlen("dynpass/test") + 2);
	CHECK(frame_hello_decode(b, n, &d) == FRAME_OK);
	CHECK(d.fhl_min_version == 1 && d.fhl_max_version == 3);
	CHECK(d.fhl_role == FRAME_ROLE_ISP && d.fhl_window == (16 << 20));
	CHECK(strcmp(d.fhl_software, "dynpass/test") == 0);
	CHECK(d.fhl_lane == 5);
	/* Without the lane (an older peer): lane 0. */
	CHECK(frame_hello_decode(b, n - 2, &d) == FRAME_OK);
	CHECK(d.fhl_lane == 0 && strcmp(d.fhl_software, "dynpass/test") == 0);
	/* A NUL must be followed by exactly the lane. */
	CHECK(frame_hello_decode(b, n - 1, &d) == FRAME_BAD);
	b[n] = 0;
	CHECK(frame_hello_decode(b, n + 1, &d) == FRAME_BAD);
	for (i = 0; i < 9; i++)
		CHECK(frame_hello_decode(b, i, &d) == FRAME_BAD);
	b[4] = 9; /* no such role */
	CHECK(frame_hello_decode(b, n, &d) == FRAME_BAD);
	b[4] = FRAME_ROLE_ESP;
	b[0] = 0, b[1] = 5, b[2] = 0, b[3] = 4; /* min > max */
	CHECK(frame_hello_decode(b, n, &d) == FRAME_BAD);
	CHECK(frame_hello_encode(b, 5, &h) == 0);
}

/* OPEN round trips for IPv4, IPv6 and names; every truncation fails. */
static void
test_open(void)
{
	struct frame_open o, d;
	uint8_t b[600];
	size_t n, i;

	memset(&o, 0, sizeof o);
	o.fo_window = 262144;
	o.fo_ref = 0xdeadbeef;
	o.fo_command = 1;
	o.fo_dst.ep_atyp = ATYP_NAME;
	o.fo_dst.ep_len = 9;
	memcpy(o.fo_dst.ep_addr, "localhost", 9);
	o.fo_dst.ep_port = 80;
	o.fo_client.ep_atyp = ATYP_IPV6;
	o.fo_client.ep_len = 16;
	inet_pton(AF_INET6, "2001:db8::1", o.fo_client.ep_addr);
	o.fo_client.ep_port = 54321;
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(n == 10 + 2 + 9 + 2 + 2 + 16 + 2 + 1 + 1);
	CHECK(frame_open_decode(b, n, &d) == FRAME_OK);
	CHECK(d.fo_window == 262144 && d.fo_command == 1);
	CHECK(d.fo_ref == 0xdeadbeef && d.fo_user[0] == '\0');
	CHECK(d.fo_auth == OPEN_AUTH_NONE);
	/* A login name says how it is proved: alone, it is refused. */
	snprintf(o.fo_user, sizeof o.fo_user, "alice");
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	/* With the login's password, which may hold any byte. */
	o.fo_auth = OPEN_AUTH_PASSWORD;
	memcpy(o.fo_secret, "p\0w", 3);
	o.fo_secret_len = 3;
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(frame_open_decode(b, n, &d) == FRAME_OK);
	CHECK(strcmp(d.fo_user, "alice") == 0);
	CHECK(d.fo_auth == OPEN_AUTH_PASSWORD);
	CHECK(d.fo_secret_len == 3 && memcmp(d.fo_secret, "p\0w", 3) == 0);
	b[n - 10] = 65; /* a name longer than the limit */
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	b[n - 10] = 5;
	b[n - 7] = '\0'; /* a NUL inside the name */
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	b[n - 7] = 'i';
	CHECK(frame_open_decode(b, n, &d) == FRAME_OK);
	b[n - 4] = 4; /* a secret longer than what follows */
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	b[n - 4] = 3;
	b[9] = 3; /* an unknown auth method */
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	b[9] = OPEN_AUTH_NONE; /* a password on an anonymous open */
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	b[9] = OPEN_AUTH_TAG; /* a tag: any bytes, with or without a user */
	CHECK(frame_open_decode(b, n, &d) == FRAME_OK);
	CHECK(d.fo_auth == OPEN_AUTH_TAG && d.fo_secret_len == 3);
	o.fo_user[0] = '\0'; /* a password without a user is refused */
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	o.fo_auth = OPEN_AUTH_TAG; /* a tag without a user is not */
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(frame_open_decode(b, n, &d) == FRAME_OK);
	o.fo_secret_len = 0; /* nor a tag without bytes */
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	o.fo_auth = OPEN_AUTH_NONE;
	o.fo_secret_len = 0;
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(d.fo_dst.ep_atyp == ATYP_NAME && d.fo_dst.ep_len == 9);
	CHECK(memcmp(d.fo_dst.ep_addr, "localhost", 9) == 0);
	CHECK(d.fo_dst.ep_port == 80 && d.fo_client.ep_port == 54321);
	CHECK(memcmp(d.fo_client.ep_addr, o.fo_client.ep_addr, 16) == 0);
	for (i = 0; i < n; i++)
		CHECK(frame_open_decode(b, i, &d) == FRAME_BAD);
	CHECK(frame_open_decode(b, n + 1, &d) == FRAME_BAD); /* trailing */
	CHECK(frame_open_encode(b, n - 1, &o) == 0);

	/* A name with a NUL inside is neither sent nor taken. */
	o.fo_dst.ep_addr[3] = '\0';
	CHECK(frame_open_encode(b, sizeof b, &o) == 0);

	/* IPv4 must be 4 bytes, IPv6 16. */
	memset(&o.fo_dst, 0, sizeof o.fo_dst);
	o.fo_dst.ep_atyp = ATYP_IPV4;
	o.fo_dst.ep_len = 4;
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(frame_open_decode(b, n, &d) == FRAME_OK);
	b[FRAME_OPEN_FIXED + 1] = 5;
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
	o.fo_dst.ep_atyp = 7;
	CHECK(frame_open_encode(b, sizeof b, &o) == 0);
	o.fo_dst.ep_atyp = ATYP_IPV6; /* with 4 bytes */
	CHECK(frame_open_encode(b, sizeof b, &o) == 0);
	/* An empty destination is refused. */
	o.fo_dst.ep_atyp = 0;
	o.fo_dst.ep_len = 0;
	n = frame_open_encode(b, sizeof b, &o);
	CHECK(frame_open_decode(b, n, &d) == FRAME_BAD);
}

/* NOTICE: what the esp cannot say is never sent half-formed. */
static void
test_notice(void)
{
	struct frame_notice n, d;
	uint8_t b[600];
	size_t len;

	memset(&n, 0, sizeof n);
	n.fn_client.ep_atyp = ATYP_IPV4;
	n.fn_client.ep_len = 4;
	n.fn_client.ep_port = 4000;
	n.fn_dst.ep_atyp = ATYP_NAME;
	n.fn_dst.ep_len = 3;
	memcpy(n.fn_dst.ep_addr, "a\0b", 3);
	n.fn_dst.ep_port = 81;
	snprintf(n.fn_why, sizeof n.fn_why, "not a host name");
	CHECK(frame_notice_encode(b, sizeof b, &n) == 0);
	memset(n.fn_dst.ep_addr, 0, sizeof n.fn_dst.ep_addr);
	n.fn_dst.ep_atyp = 0;
	n.fn_dst.ep_len = 0;
	len = frame_notice_encode(b, sizeof b, &n);
	CHECK(len != 0);
	CHECK(frame_notice_decode(b, len, &d) == FRAME_OK);
	CHECK(d.fn_dst.ep_atyp == 0 && d.fn_dst.ep_port == 81);
	CHECK(strcmp(d.fn_why, "not a host name") == 0);
}

/* OPEN_RESULT round trip and bad codes. */
static void
test_open_result(void)
{
	struct frame_open_result r, d;
	uint8_t b[64];
	size_t n, i;

	memset(&r, 0, sizeof r);
	r.for_code = OPEN_REFUSED;
	r.for_window = 1234;
	r.for_bound.ep_atyp = ATYP_IPV4;
	r.for_bound.ep_len = 4;
	r.for_bound.ep_port = 21;
	n = frame_open_result_encode(b, sizeof b, &r);
	CHECK(frame_open_result_decode(b, n, &d) == FRAME_OK);
	CHECK(d.for_code == OPEN_REFUSED && d.for_window == 1234);
	CHECK(d.for_bound.ep_port == 21);
	for (i = 0; i < n; i++)
		CHECK(frame_open_result_decode(b, i, &d) == FRAME_BAD);
	b[0] = 9;
	CHECK(frame_open_result_decode(b, n, &d) == FRAME_BAD);
	CHECK(strcmp(frame_open_code_str(OPEN_NOT_ALLOWED),
		  "not allowed by policy") == 0);
}

/* Random bytes never crash the decoders. */
static void
test_random(void)
{
	uint8_t b[300];
	struct frame_open o;
	struct frame_open_result r;
	struct frame_hello h;
	int i;
	size_t j, len;

	srand(7);
	for (i = 0; i < 20000; i++) {
		len = (size_t)rand() % sizeof b;
		for (j = 0; j < len; j++)
			b[j] = (uint8_t)rand();
		(void)frame_open_decode(b, len, &o);
		(void)frame_open_result_decode(b, len, &r);
		(void)frame_hello_decode(b, len, &h);
	}
	CHECK(1);
}

/* AUTH and AUTH_RESULT round trips; malformed ones are refused. */
static void
test_auth(void)
{
	struct frame_auth a, d;
	uint8_t b[600], code;
	uint32_t ref;
	size_t n, i;

	memset(&a, 0, sizeof a);
	a.fa_ref = 77;
	a.fa_method = AUTH_PASSWORD;
	a.fa_client.ep_atyp = ATYP_IPV4;
	a.fa_client.ep_len = 4;
	a.fa_client.ep_addr[0] = 10;
	snprintf(a.fa_user, sizeof a.fa_user, "alice");
	memcpy(a.fa_secret, "secret", 6);
	a.fa_secret_len = 6;
	n = frame_auth_encode(b, sizeof b, &a);
	CHECK(n == 5 + 8 + 6 + 7);
	CHECK(frame_auth_decode(b, n, &d) == FRAME_OK);
	CHECK(d.fa_ref == 77 && strcmp(d.fa_user, "alice") == 0);
	CHECK(d.fa_secret_len == 6 && memcmp(d.fa_secret, "secret", 6) == 0);
	CHECK(d.fa_client.ep_addr[0] == 10);
	for (i = 0; i < n; i++)
		CHECK(frame_auth_decode(b, i, &d) == FRAME_BAD);
	CHECK(frame_auth_decode(b, n + 1, &d) == FRAME_BAD);
	b[4] = 9; /* no such method */
	CHECK(frame_auth_decode(b, n, &d) == FRAME_BAD);
	a.fa_user[0] = '\0'; /* a login needs a name */
	n = frame_auth_encode(b, sizeof b, &a);
	CHECK(frame_auth_decode(b, n, &d) == FRAME_BAD);

	n = frame_auth_result_encode(b, sizeof b, 0xabcdef01, AUTH_BUSY);
	CHECK(n == 5);
	CHECK(frame_auth_result_decode(b, n, &ref, &code) == FRAME_OK);
	CHECK(ref == 0xabcdef01 && code == AUTH_BUSY);
	b[4] = 3;
	CHECK(frame_auth_result_decode(b, n, &ref, &code) == FRAME_BAD);
	CHECK(frame_auth_result_decode(b, 4, &ref, &code) == FRAME_BAD);
}

/* LOGIN and LOGIN_REPLY round trips, and every malformed length. */
static void
test_login(void)
{
	struct frame_login l, dl;
	struct frame_login_reply r, dr;
	uint8_t b[256];
	size_t n, i;

	memset(&l, 0, sizeof l);
	l.fl_ref = 7;
	l.fl_leg = 1;
	l.fl_method = AUTH_SCRAM;
	l.fl_step = 2;
	l.fl_client.ep_atyp = ATYP_IPV4;
	l.fl_client.ep_len = 4;
	l.fl_client.ep_port = 4431;
	l.fl_msg = (const uint8_t *)"c=biws";
	l.fl_msglen = 6;
	n = frame_login_encode(b, sizeof b, &l);
	CHECK(n == 7 + 8 + 6);
	CHECK(frame_login_decode(b, n, &dl) == FRAME_OK);
	CHECK(dl.fl_ref == 7 && dl.fl_leg == 1 && dl.fl_step == 2);
	CHECK(dl.fl_msglen == 6 && memcmp(dl.fl_msg, "c=biws", 6) == 0);
	for (i = 0; i < n - 6 + 1; i++)
		CHECK(frame_login_decode(b, i, &dl) == FRAME_BAD);
	b[5] = AUTH_PASSWORD; /* not a LOGIN method */
	CHECK(frame_login_decode(b, n, &dl) == FRAME_BAD);
	b[5] = AUTH_CERT;
	b[6] = FRAME_LOGIN_LEFT; /* a login's number is 4 bytes, not 6 */
	CHECK(frame_login_decode(b, n, &dl) == FRAME_BAD);
	b[6] = 4; /* no fourth step */
	CHECK(frame_login_decode(b, n, &dl) == FRAME_BAD);
	l.fl_step = FRAME_LOGIN_LEFT;
	l.fl_msg = (const uint8_t *)"\0\0\0\52";
	l.fl_msglen = 4;
	n = frame_login_encode(b, sizeof b, &l);
	CHECK(frame_login_decode(b, n, &dl) == FRAME_OK);
	CHECK(dl.fl_step == FRAME_LOGIN_LEFT && dl.fl_msglen == 4 &&
	    dl.fl_msg[3] == 42);

	memset(&r, 0, sizeof r);
	r.flr_ref = 9;
	r.flr_leg = 1;
	r.flr_legs = 2;
	r.flr_code = LOGIN_ACCEPTED;
	r.flr_login = 42;
	r.flr_msg = (const uint8_t *)"v=proof";
	r.flr_msglen = 7;
	n = frame_login_reply_encode(b, sizeof b, &r);
	CHECK(n == 11 + 7);
	CHECK(frame_login_reply_decode(b, n, &dr) == FRAME_OK);
	CHECK(dr.flr_login == 42 && dr.flr_legs == 2 && dr.flr_leg == 1);
	for (i = 0; i < 11; i++)
		CHECK(frame_login_reply_decode(b, i, &dr) == FRAME_BAD);
	CHECK(frame_login_reply_decode(b, 11, &dr) == FRAME_BAD); /* no proof */
	b[4] = 2; /* leg 2 of 2 */
	CHECK(frame_login_reply_decode(b, n, &dr) == FRAME_BAD);
	b[4] = 1;
	b[7] = b[8] = b[9] = b[10] = 0; /* accepted as login 0 */
	CHECK(frame_login_reply_decode(b, n, &dr) == FRAME_BAD);
	b[6] = LOGIN_DENIED; /* a refusal needs no message */
	CHECK(frame_login_reply_decode(b, 11, &dr) == FRAME_OK);
	b[6] = LOGIN_BUSY + 1;
	CHECK(frame_login_reply_decode(b, 11, &dr) == FRAME_BAD);
}

int
main(void)
{
	test_header();
	test_hello();
	test_open();
	test_login();
	test_auth();
	test_open_result();
	test_notice();
	test_random();
	return unit_done("frame");
}
