/* The server side of SOCKS5 and its login (lib/socks5.h). */
#include "socks5.h"

#include <string.h>

/* The method list: which of no-auth and username/password it offers. */
int
socks5_greeting(const uint8_t *p, size_t len, size_t *used, int *offers_none,
    int *offers_login)
{
	if (len < 1)
		return SOCKS5_MORE;
	if (p[0] != SOCKS5_VERSION)
		return SOCKS5_BAD;
	if (len < 2 || len < 2 + (size_t)p[1])
		return SOCKS5_MORE;
	*offers_none = memchr(p + 2, 0x00, p[1]) != NULL;
	*offers_login = memchr(p + 2, 0x02, p[1]) != NULL;
	*used = 2 + (size_t)p[1];
	return SOCKS5_DONE;
}

/*
 * An RFC 1929 login: a user of 1 to userlen - 1 bytes without NUL, and a
 * password (up to 255 bytes, any byte); SOCKS5_BAD for anything else.
 */
int
socks5_login(const uint8_t *p, size_t len, size_t *used, char *user,
    size_t userlen, uint8_t *pass, size_t *passlen)
{
	size_t ul, pl;

	if (len < 1)
		return SOCKS5_MORE;
	if (p[0] != 1)
		return SOCKS5_BAD;
	if (len < 2)
		return SOCKS5_MORE;
	ul = p[1];
	if (len < 3 + ul)
		return SOCKS5_MORE;
	pl = p[2 + ul];
	if (len < 3 + ul + pl)
		return SOCKS5_MORE;
	*used = 3 + ul + pl;
	if (ul == 0 || ul >= userlen || memchr(p + 2, '\0', ul) != NULL)
		return SOCKS5_BAD;
	memcpy(user, p + 2, ul);
	user[ul] = '\0';
	memcpy(pass, p + 3 + ul, pl);
	*passlen = pl;
	return SOCKS5_DONE;
}

/*
 * A request: command and destination. An unknown address type or an
 * empty name is SOCKS5_BAD with the reply code to send (8).
 */
int
socks5_request(const uint8_t *p, size_t len, size_t *used,
    struct socks5_request *r)
{
	size_t need;

	memset(r, 0, sizeof *r);
	if (len < 1)
		return SOCKS5_MORE;
	if (p[0] != SOCKS5_VERSION)
		return SOCKS5_BAD;
	if (len < 5)
		return SOCKS5_MORE;
	switch (p[3]) {
	case ATYP_IPV4:
		need = 4 + 4 + 2;
		break;
	case ATYP_IPV6:
		need = 4 + 16 + 2;
		break;
	case ATYP_NAME:
		need = 4 + 1 + (size_t)p[4] + 2;
		if (p[4] != 0)
			break;
		/* FALLTHROUGH */
	default:
		r->sr_code = OPEN_BAD_ADDRTYPE;
		return SOCKS5_BAD;
	}
	if (len < need)
		return SOCKS5_MORE;
	r->sr_cmd = p[1];
	r->sr_dst.ep_atyp = p[3];
	if (p[3] == ATYP_NAME) {
		r->sr_dst.ep_len = p[4];
		memcpy(r->sr_dst.ep_addr, p + 5, p[4]);
	} else {
		r->sr_dst.ep_len = p[3] == ATYP_IPV4 ? 4 : 16;
		memcpy(r->sr_dst.ep_addr, p + 4, r->sr_dst.ep_len);
	}
	r->sr_dst.ep_port = (uint16_t)(p[need - 2] << 8 | p[need - 1]);
	*used = need;
	return SOCKS5_DONE;
}

/* A reply with a code and the bound address (IPv4 0.0.0.0:0 if none). */
size_t
socks5_reply(uint8_t *buf, uint8_t code, const struct endpoint *bound)
{
	size_t n = 4;

	buf[0] = SOCKS5_VERSION;
	buf[1] = code;
	buf[2] = 0;
	buf[3] = ATYP_IPV4;
	if (bound != NULL && bound->ep_atyp == ATYP_IPV6) {
		buf[3] = ATYP_IPV6;
		memcpy(buf + 4, bound->ep_addr, 16);
		n += 16;
	} else {
		memset(buf + 4, 0, 4);
		if (bound != NULL && bound->ep_atyp == ATYP_IPV4)
			memcpy(buf + 4, bound->ep_addr, 4);
		n += 4;
	}
	buf[n++] = bound != NULL ? bound->ep_port >> 8 : 0;
	buf[n++] = bound != NULL ? bound->ep_port & 0xff : 0;
	return n;
}
