/*
 * Tags under an agent login's key (lib/optag.h). A tag is HMAC-SHA256,
 * cut to 16 bytes, over a label, the isp's login number, the OPEN's
 * counter and the endpoints, so it is good for that one request only.
 */
#include "optag.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Append a big-endian value of n bytes. */
static size_t
optag_put(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return (size_t)n;
}

/* An endpoint as on the wire: type, length, address, port. */
static size_t
optag_endpoint(uint8_t *p, const struct endpoint *ep)
{
	p[0] = ep->ep_atyp;
	p[1] = ep->ep_len;
	memcpy(p + 2, ep->ep_addr, ep->ep_len);
	optag_put(p + 2 + ep->ep_len, ep->ep_port, 2);
	return 4 + (size_t)ep->ep_len;
}

/* The MAC over label, login, counter and up to two endpoints. */
static void
optag_mac(const unsigned char *key, const char *label, uint32_t login,
    uint64_t counter, const struct endpoint *a, const struct endpoint *b,
    uint8_t tag[OPTAG_LEN])
{
	uint8_t msg[32 + 12 + 2 * 260], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = sizeof md;
	size_t n = strlen(label);

	memcpy(msg, label, n + 1); /* the NUL ends the label */
	n++;
	n += optag_put(msg + n, login, 4);
	n += optag_put(msg + n, counter, 8);
	n += optag_endpoint(msg + n, a);
	if (b != NULL)
		n += optag_endpoint(msg + n, b);
	HMAC(EVP_sha256(), key, OPTAG_KEY_LEN, msg, n, md, &mdlen);
	memcpy(tag, md, OPTAG_LEN);
	OPENSSL_cleanse(md, sizeof md);
}

/* The tag of an OPEN to dst, for a program at client. */
void
optag_open(const unsigned char *key, uint32_t login, uint64_t counter,
    const struct endpoint *dst, const struct endpoint *client,
    uint8_t tag[OPTAG_LEN])
{
	optag_mac(key, "dynpass open", login, counter, dst, client, tag);
}

/* The tag of a reverse connection to dst, for the OPEN of counter. */
void
optag_outside(const unsigned char *key, uint32_t login, uint64_t counter,
    const struct endpoint *dst, uint8_t tag[OPTAG_LEN])
{
	optag_mac(key, "dynpass outside", login, counter, dst, NULL, tag);
}

/* Compare two tags in constant time: 1 if equal. */
int
optag_equal(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, OPTAG_LEN) == 0;
}

/*
 * Accept a counter once: 0 if it is new (and now seen), -1 if it was
 * seen, is 0, or is more than 63 below the highest.
 */
int
optag_replay_check(struct optag_replay *r, uint64_t c)
{
	uint64_t d;

	if (c == 0)
		return -1;
	if (c > r->or_top) {
		d = c - r->or_top;
		r->or_bits = d >= 64 ? 0 : r->or_bits << d;
		r->or_bits |= 1;
		r->or_top = c;
		return 0;
	}
	d = r->or_top - c;
	if (d >= 64 || (r->or_bits & ((uint64_t)1 << d)))
		return -1;
	r->or_bits |= (uint64_t)1 << d;
	return 0;
}

/* The agent's OPEN secret: counter, then leg and tag for each isp. */
size_t
optag_legs_encode(const struct optag_legs *l, uint8_t *p, size_t room)
{
	size_t n = 8, i;

	if (l->ol_n == 0 || l->ol_n > OPTAG_MAX_LEGS ||
	    room < 8 + l->ol_n * (1 + OPTAG_LEN))
		return 0;
	optag_put(p, l->ol_counter, 8);
	for (i = 0; i < l->ol_n; i++) {
		p[n++] = l->ol_leg[i];
		memcpy(p + n, l->ol_tag[i], OPTAG_LEN);
		n += OPTAG_LEN;
	}
	return n;
}

/* Read the agent's OPEN secret: 1 to 4 legs, each once. */
int
optag_legs_decode(const uint8_t *p, size_t len, struct optag_legs *l)
{
	size_t i, j;

	memset(l, 0, sizeof *l);
	if (len < 8 + 1 + OPTAG_LEN || (len - 8) % (1 + OPTAG_LEN) != 0 ||
	    (len - 8) / (1 + OPTAG_LEN) > OPTAG_MAX_LEGS)
		return -1;
	for (i = 0; i < 8; i++)
		l->ol_counter = l->ol_counter << 8 | p[i];
	l->ol_n = (len - 8) / (1 + OPTAG_LEN);
	for (i = 0; i < l->ol_n; i++) {
		l->ol_leg[i] = p[8 + i * (1 + OPTAG_LEN)];
		memcpy(l->ol_tag[i], p + 9 + i * (1 + OPTAG_LEN), OPTAG_LEN);
		for (j = 0; j < i; j++)
			if (l->ol_leg[j] == l->ol_leg[i])
				return -1;
	}
	return l->ol_counter == 0 ? -1 : 0;
}

/* The tag for one leg, or NULL. */
const uint8_t *
optag_legs_find(const struct optag_legs *l, uint8_t leg)
{
	size_t i;

	for (i = 0; i < l->ol_n; i++)
		if (l->ol_leg[i] == leg)
			return l->ol_tag[i];
	return NULL;
}

/* The OPEN secret the esp sends the isp of one leg. */
void
optag_isp_encode(uint32_t login, uint64_t counter, const uint8_t *tag,
    uint8_t out[OPTAG_ISP_LEN])
{
	optag_put(out, login, 4);
	optag_put(out + 4, counter, 8);
	memcpy(out + 12, tag, OPTAG_LEN);
}

/* Read it at the isp. */
int
optag_isp_decode(const uint8_t *p, size_t len, uint32_t *login,
    uint64_t *counter, uint8_t tag[OPTAG_LEN])
{
	int i;

	if (len != OPTAG_ISP_LEN)
		return -1;
	*login = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	*counter = 0;
	for (i = 0; i < 8; i++)
		*counter = *counter << 8 | p[4 + i];
	memcpy(tag, p + 12, OPTAG_LEN);
	return 0;
}
