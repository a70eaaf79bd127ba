/* Encoding and decoding of session frames, with bounds checks. */
#include "frame.h"

#include <string.h>

/* Big-endian helpers. */
static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Write a 12-byte frame header. */
void
frame_hdr_encode(uint8_t *p, uint8_t type, uint32_t chan, uint32_t len)
{
	p[0] = FRAME_VERSION;
	p[1] = type;
	put16(p + 2, 0);
	put32(p + 4, chan);
	put32(p + 8, len);
}

/*
 * Read a frame header. FRAME_SHORT means more bytes are needed; FRAME_BAD
 * sets *why to the reason the session must end.
 */
int
frame_hdr_decode(const uint8_t *p, size_t len, struct frame_hdr *h,
    const char **why)
{
	if (len < FRAME_HDR_LEN)
		return FRAME_SHORT;
	h->fh_version = p[0];
	h->fh_type = p[1];
	h->fh_flags = get16(p + 2);
	h->fh_chan = get32(p + 4);
	h->fh_len = get32(p + 8);
	if (h->fh_version != FRAME_VERSION) {
		*why = "unsupported protocol version";
		return FRAME_BAD;
	}
	if (h->fh_len > FRAME_MAX_PAYLOAD) {
		*why = "oversized frame";
		return FRAME_BAD;
	}
	if (h->fh_type < FRAME_HELLO || h->fh_type > FRAME_TYPE_MAX) {
		*why = "unknown frame type";
		return FRAME_BAD;
	}
	return FRAME_OK;
}

/* Printable frame type. */
const char *
frame_type_name(uint8_t t)
{
	static const char *names[] = { "?", "HELLO", "OPEN", "OPEN_RESULT",
		"DATA", "FIN", "RST", "WINDOW", "PING", "PONG", "GOAWAY",
		"CONFIG", "OUTSIDE_OPEN", "OUTSIDE_OPEN_RESULT", "AUTH",
		"AUTH_RESULT", "LOGIN", "LOGIN_REPLY", "NOTICE" };

	if (t < sizeof names / sizeof names[0])
		return names[t];
	return "?";
}

/* Would endpoint_decode take this type, length and address? */
static int
endpoint_valid(uint8_t atyp, uint8_t len, const uint8_t *addr)
{
	switch (atyp) {
	case ATYP_IPV4:
		return len == 4;
	case ATYP_IPV6:
		return len == 16;
	case ATYP_NAME:
		return len != 0 && memchr(addr, '\0', len) == NULL;
	case 0: /* unspecified */
		return len == 0;
	default:
		return 0;
	}
}

/*
 * Encode an endpoint; returns bytes written, or 0 if it does not fit or
 * is one the peer's decoder would refuse (so that a client's malformed
 * name can never make this side send a frame that ends the session).
 */
static size_t
endpoint_encode(uint8_t *p, size_t room, const struct endpoint *ep)
{
	size_t need = 2 + (size_t)ep->ep_len + 2;

	if (need > room ||
	    !endpoint_valid(ep->ep_atyp, ep->ep_len, ep->ep_addr))
		return 0;
	p[0] = ep->ep_atyp;
	p[1] = ep->ep_len;
	memcpy(p + 2, ep->ep_addr, ep->ep_len);
	put16(p + 2 + ep->ep_len, ep->ep_port);
	return need;
}

/* Decode an endpoint; returns bytes used or 0 if malformed. */
static size_t
endpoint_decode(const uint8_t *p, size_t len, struct endpoint *ep)
{
	size_t need;

	if (len < 2)
		return 0;
	ep->ep_atyp = p[0];
	ep->ep_len = p[1];
	need = 2 + (size_t)ep->ep_len + 2;
	if (need > len)
		return 0;
	if (!endpoint_valid(ep->ep_atyp, ep->ep_len, p + 2))
		return 0;
	memset(ep->ep_addr, 0, sizeof ep->ep_addr);
	memcpy(ep->ep_addr, p + 2, ep->ep_len);
	ep->ep_port = get16(p + 2 + ep->ep_len);
	return need;
}

/* HELLO: min version, max version, role, window, software name. */
size_t
frame_hello_encode(uint8_t *p, size_t room, const struct frame_hello *h)
{
	size_t sl = strnlen(h->fhl_software, sizeof h->fhl_software - 1);

	if (room < 9 + sl + 2)
		return 0;
	put16(p, h->fhl_min_version);
	put16(p + 2, h->fhl_max_version);
	p[4] = h->fhl_role;
	put32(p + 5, h->fhl_window);
	memcpy(p + 9, h->fhl_software, sl);
	p[9 + sl] = '\0'; /* the software name ends; then the lane */
	p[10 + sl] = h->fhl_lane;
	return 9 + sl + 2;
}

/* Decode HELLO. */
int
frame_hello_decode(const uint8_t *p, size_t len, struct frame_hello *h)
{
	const uint8_t *end;
	size_t sl;

	if (len < 9)
		return FRAME_BAD;
	h->fhl_min_version = get16(p);
	h->fhl_max_version = get16(p + 2);
	h->fhl_role = p[4];
	h->fhl_window = get32(p + 5);
	if (h->fhl_min_version > h->fhl_max_version)
		return FRAME_BAD;
	if (h->fhl_role != FRAME_ROLE_ISP && h->fhl_role != FRAME_ROLE_ESP &&
	    h->fhl_role != FRAME_ROLE_AGENT)
		return FRAME_BAD;
	/* The software name, then maybe a NUL and the lane. */
	end = memchr(p + 9, '\0', len - 9);
	sl = end != NULL ? (size_t)(end - (p + 9)) : len - 9;
	h->fhl_lane = 0;
	if (end != NULL) {
		if (len - 9 - sl != 2)
			return FRAME_BAD;
		h->fhl_lane = p[len - 1];
	}
	if (sl >= sizeof h->fhl_software)
		sl = sizeof h->fhl_software - 1;
	memcpy(h->fhl_software, p + 9, sl);
	h->fhl_software[sl] = '\0';
	return FRAME_OK;
}

/* A length-prefixed string of at most max bytes; 0 if it does not fit. */
static size_t
bytes_encode(uint8_t *p, size_t room, const void *v, size_t n)
{
	if (n > 255 || room < 1 + n)
		return 0;
	p[0] = (uint8_t)n;
	memcpy(p + 1, v, n);
	return 1 + n;
}

/*
 * Decode a length-prefixed string of at most max bytes with no NUL (when
 * text); returns bytes used, or 0 if malformed.
 */
static size_t
bytes_decode(const uint8_t *p, size_t len, size_t max, int text, void *out,
    size_t *n)
{
	if (len < 1 || p[0] > max || (size_t)p[0] + 1 > len)
		return 0;
	if (text && memchr(p + 1, '\0', p[0]) != NULL)
		return 0;
	memcpy(out, p + 1, p[0]);
	*n = p[0];
	return 1 + (size_t)p[0];
}

/*
 * OPEN: window, reference, command, auth, destination, client, user,
 * secret.
 */
size_t
frame_open_encode(uint8_t *p, size_t room, const struct frame_open *o)
{
	size_t n, m, u, k;

	if (room < FRAME_OPEN_FIXED)
		return 0;
	put32(p, o->fo_window);
	put32(p + 4, o->fo_ref);
	p[8] = o->fo_command;
	p[9] = o->fo_auth;
	p += FRAME_OPEN_FIXED;
	room -= FRAME_OPEN_FIXED;
	if ((n = endpoint_encode(p, room, &o->fo_dst)) == 0)
		return 0;
	if ((m = endpoint_encode(p + n, room - n, &o->fo_client)) == 0)
		return 0;
	u = bytes_encode(p + n + m, room - n - m, o->fo_user,
	    strnlen(o->fo_user, FRAME_USER_MAX));
	if (u == 0)
		return 0;
	k = bytes_encode(p + n + m + u, room - n - m - u, o->fo_secret,
	    o->fo_secret_len);
	if (k == 0)
		return 0;
	return FRAME_OPEN_FIXED + n + m + u + k;
}

/*
 * Decode OPEN or OUTSIDE_OPEN; the destination must not be unspecified,
 * and the user and secret must be what the auth method says.
 */
int
frame_open_decode(const uint8_t *p, size_t len, struct frame_open *o)
{
	size_t n, m, u, k, ul, sl;

	memset(o, 0, sizeof *o);
	if (len < FRAME_OPEN_FIXED)
		return FRAME_BAD;
	o->fo_window = get32(p);
	o->fo_ref = get32(p + 4);
	o->fo_command = p[8];
	o->fo_auth = p[9];
	p += FRAME_OPEN_FIXED;
	len -= FRAME_OPEN_FIXED;
	if ((n = endpoint_decode(p, len, &o->fo_dst)) == 0)
		return FRAME_BAD;
	if (o->fo_dst.ep_atyp == 0)
		return FRAME_BAD;
	if ((m = endpoint_decode(p + n, len - n, &o->fo_client)) == 0)
		return FRAME_BAD;
	u = bytes_decode(p + n + m, len - n - m, FRAME_USER_MAX, 1, o->fo_user,
	    &ul);
	if (u == 0)
		return FRAME_BAD;
	o->fo_user[ul] = '\0';
	k = bytes_decode(p + n + m + u, len - n - m - u, FRAME_SECRET_MAX, 0,
	    o->fo_secret, &sl);
	if (k == 0 || n + m + u + k != len)
		return FRAME_BAD;
	switch (o->fo_auth) {
	case OPEN_AUTH_NONE:
		if (ul != 0 || sl != 0)
			return FRAME_BAD;
		break;
	case OPEN_AUTH_PASSWORD:
		if (ul == 0 || sl == 0)
			return FRAME_BAD;
		break;
	case OPEN_AUTH_TAG:
		if (sl == 0)
			return FRAME_BAD;
		break;
	default:
		return FRAME_BAD;
	}
	o->fo_secret_len = (uint8_t)sl;
	return FRAME_OK;
}

/* AUTH: reference, method, client, user, secret. */
size_t
frame_auth_encode(uint8_t *p, size_t room, const struct frame_auth *a)
{
	size_t n, u, k;

	if (room < 5)
		return 0;
	put32(p, a->fa_ref);
	p[4] = a->fa_method;
	if ((n = endpoint_encode(p + 5, room - 5, &a->fa_client)) == 0)
		return 0;
	u = bytes_encode(p + 5 + n, room - 5 - n, a->fa_user,
	    strnlen(a->fa_user, FRAME_USER_MAX));
	if (u == 0)
		return 0;
	k = bytes_encode(p + 5 + n + u, room - 5 - n - u, a->fa_secret,
	    a->fa_secret_len);
	if (k == 0)
		return 0;
	return 5 + n + u + k;
}

/* Decode AUTH: a user name of 1 to 64 bytes, no trailing bytes. */
int
frame_auth_decode(const uint8_t *p, size_t len, struct frame_auth *a)
{
	size_t n, u, k, ul, sl;

	memset(a, 0, sizeof *a);
	if (len < 5)
		return FRAME_BAD;
	a->fa_ref = get32(p);
	a->fa_method = p[4];
	if (a->fa_method != AUTH_PASSWORD)
		return FRAME_BAD;
	if ((n = endpoint_decode(p + 5, len - 5, &a->fa_client)) == 0)
		return FRAME_BAD;
	u = bytes_decode(p + 5 + n, len - 5 - n, FRAME_USER_MAX, 1, a->fa_user,
	    &ul);
	if (u == 0 || ul == 0)
		return FRAME_BAD;
	a->fa_user[ul] = '\0';
	k = bytes_decode(p + 5 + n + u, len - 5 - n - u, FRAME_SECRET_MAX, 0,
	    a->fa_secret, &sl);
	if (k == 0 || 5 + n + u + k != len)
		return FRAME_BAD;
	a->fa_secret_len = (uint8_t)sl;
	return FRAME_OK;
}

/* AUTH_RESULT: reference, code. */
size_t
frame_auth_result_encode(uint8_t *p, size_t room, uint32_t ref, uint8_t code)
{
	if (room < 5)
		return 0;
	put32(p, ref);
	p[4] = code;
	return 5;
}

/* Decode AUTH_RESULT. */
int
frame_auth_result_decode(const uint8_t *p, size_t len, uint32_t *ref,
    uint8_t *code)
{
	if (len != 5 || p[4] > AUTH_BUSY)
		return FRAME_BAD;
	*ref = get32(p);
	*code = p[4];
	return FRAME_OK;
}

/* NOTICE: client, destination, user, reason (the rest). */
size_t
frame_notice_encode(uint8_t *p, size_t room, const struct frame_notice *n)
{
	size_t a, b, u, w = strnlen(n->fn_why, FRAME_NOTICE_WHY_MAX);

	if ((a = endpoint_encode(p, room, &n->fn_client)) == 0 ||
	    (b = endpoint_encode(p + a, room - a, &n->fn_dst)) == 0 ||
	    (u = bytes_encode(p + a + b, room - a - b, n->fn_user,
		 strnlen(n->fn_user, FRAME_USER_MAX))) == 0 ||
	    room - a - b - u < w)
		return 0;
	memcpy(p + a + b + u, n->fn_why, w);
	return a + b + u + w;
}

/* Decode NOTICE: a reason of 1 to 200 printable bytes. */
int
frame_notice_decode(const uint8_t *p, size_t len, struct frame_notice *n)
{
	size_t a, b, u, ul, w, i;

	memset(n, 0, sizeof *n);
	if ((a = endpoint_decode(p, len, &n->fn_client)) == 0 ||
	    (b = endpoint_decode(p + a, len - a, &n->fn_dst)) == 0 ||
	    (u = bytes_decode(p + a + b, len - a - b, FRAME_USER_MAX, 1,
		 n->fn_user, &ul)) == 0)
		return FRAME_BAD;
	n->fn_user[ul] = '\0';
	w = len - a - b - u;
	if (w == 0 || w > FRAME_NOTICE_WHY_MAX)
		return FRAME_BAD;
	for (i = 0; i < w; i++)
		if (p[a + b + u + i] < 0x20 || p[a + b + u + i] > 0x7e)
			return FRAME_BAD;
	memcpy(n->fn_why, p + a + b + u, w);
	n->fn_why[w] = '\0';
	return FRAME_OK;
}

/* LOGIN: reference, leg, method, step, client, message. */
size_t
frame_login_encode(uint8_t *p, size_t room, const struct frame_login *l)
{
	size_t n;

	if (room < 7 || l->fl_msglen > FRAME_LOGIN_MSG_MAX)
		return 0;
	put32(p, l->fl_ref);
	p[4] = l->fl_leg;
	p[5] = l->fl_method;
	p[6] = l->fl_step;
	if ((n = endpoint_encode(p + 7, room - 7, &l->fl_client)) == 0 ||
	    room - 7 - n < l->fl_msglen)
		return 0;
	if (l->fl_msglen > 0)
		memcpy(p + 7 + n, l->fl_msg, l->fl_msglen);
	return 7 + n + l->fl_msglen;
}

/*
 * Decode LOGIN: a known method, step 1 or 2 with a message of 1 to 16 KiB,
 * or FRAME_LOGIN_LEFT with a login's number (4 bytes).
 */
int
frame_login_decode(const uint8_t *p, size_t len, struct frame_login *l)
{
	size_t n;

	memset(l, 0, sizeof *l);
	if (len < 7)
		return FRAME_BAD;
	l->fl_ref = get32(p);
	l->fl_leg = p[4];
	l->fl_method = p[5];
	l->fl_step = p[6];
	if ((l->fl_method != AUTH_SCRAM && l->fl_method != AUTH_CERT) ||
	    (l->fl_step != 1 && l->fl_step != 2 &&
		l->fl_step != FRAME_LOGIN_LEFT))
		return FRAME_BAD;
	if ((n = endpoint_decode(p + 7, len - 7, &l->fl_client)) == 0 ||
	    l->fl_client.ep_atyp == ATYP_NAME)
		return FRAME_BAD;
	l->fl_msg = p + 7 + n;
	l->fl_msglen = len - 7 - n;
	if (l->fl_msglen == 0 || l->fl_msglen > FRAME_LOGIN_MSG_MAX ||
	    (l->fl_step == FRAME_LOGIN_LEFT && l->fl_msglen != 4))
		return FRAME_BAD;
	return FRAME_OK;
}

/* LOGIN_REPLY: reference, leg, legs, code, login, message. */
size_t
frame_login_reply_encode(uint8_t *p, size_t room,
    const struct frame_login_reply *r)
{
	if (room < 11 || room - 11 < r->flr_msglen ||
	    r->flr_msglen > FRAME_LOGIN_MSG_MAX)
		return 0;
	put32(p, r->flr_ref);
	p[4] = r->flr_leg;
	p[5] = r->flr_legs;
	p[6] = r->flr_code;
	put32(p + 7, r->flr_login);
	if (r->flr_msglen > 0)
		memcpy(p + 11, r->flr_msg, r->flr_msglen);
	return 11 + r->flr_msglen;
}

/*
 * Decode LOGIN_REPLY: a known code, at least one leg and the leg among
 * them, a message with every code but a refusal.
 */
int
frame_login_reply_decode(const uint8_t *p, size_t len,
    struct frame_login_reply *r)
{
	memset(r, 0, sizeof *r);
	if (len < 11)
		return FRAME_BAD;
	r->flr_ref = get32(p);
	r->flr_leg = p[4];
	r->flr_legs = p[5];
	r->flr_code = p[6];
	r->flr_login = get32(p + 7);
	r->flr_msg = p + 11;
	r->flr_msglen = len - 11;
	if (r->flr_code > LOGIN_BUSY || r->flr_legs == 0 ||
	    r->flr_leg >= r->flr_legs || r->flr_msglen > FRAME_LOGIN_MSG_MAX)
		return FRAME_BAD;
	if ((r->flr_code == LOGIN_CONTINUE || r->flr_code == LOGIN_ACCEPTED) &&
	    r->flr_msglen == 0)
		return FRAME_BAD;
	if (r->flr_code == LOGIN_ACCEPTED && r->flr_login == 0)
		return FRAME_BAD;
	return FRAME_OK;
}

/* OPEN_RESULT: code, window, bound address. */
size_t
frame_open_result_encode(uint8_t *p, size_t room,
    const struct frame_open_result *r)
{
	size_t n;

	if (room < 5)
		return 0;
	p[0] = r->for_code;
	put32(p + 1, r->for_window);
	if ((n = endpoint_encode(p + 5, room - 5, &r->for_bound)) == 0)
		return 0;
	return 5 + n;
}

/* Decode OPEN_RESULT. */
int
frame_open_result_decode(const uint8_t *p, size_t len,
    struct frame_open_result *r)
{
	size_t n;

	if (len < 5)
		return FRAME_BAD;
	r->for_code = p[0];
	r->for_window = get32(p + 1);
	if (r->for_code > OPEN_BAD_ADDRTYPE)
		return FRAME_BAD;
	n = endpoint_decode(p + 5, len - 5, &r->for_bound);
	if (n == 0 || 5 + n != len)
		return FRAME_BAD;
	return FRAME_OK;
}

/* Printable open result. */
const char *
frame_open_code_str(uint8_t c)
{
	static const char *s[] = { "succeeded", "general failure",
		"not allowed by policy", "network unreachable",
		"host unreachable", "connection refused", "timed out",
		"command not supported", "address type not supported" };

	return c < sizeof s / sizeof s[0] ? s[c] : "unknown";
}

/* Printable GOAWAY code. */
const char *
frame_goaway_str(uint8_t c)
{
	static const char *s[] = { "shutting down", "protocol error",
		"version mismatch", "flow control violation", "internal error",
		"timeout", "refused" };

	return c < sizeof s / sizeof s[0] ? s[c] : "unknown";
}
