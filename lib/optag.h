/*
 * Tags under an agent login's key: an OPEN the agent asked for, and a
 * reverse connection the isp approved. The esp relays both and can forge
 * neither, nor replay an OPEN (each counter is used once).
 */
#ifndef DP_OPTAG_H
#define DP_OPTAG_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define OPTAG_KEY_LEN  32
#define OPTAG_LEN      16
#define OPTAG_MAX_LEGS 4 /* isps one agent login may reach */
/* The OPEN secret from esp to isp: login, counter, tag. */
#define OPTAG_ISP_LEN (4 + 8 + OPTAG_LEN)

/* Counters seen for one login: the highest, and the 64 below it. */
struct optag_replay {
	uint64_t or_top;
	uint64_t or_bits; /* bit i: or_top - i was seen */
};

/* One tag per isp the agent is logged in to, on the agent's OPEN. */
struct optag_legs {
	uint64_t ol_counter;
	size_t ol_n;
	uint8_t ol_leg[OPTAG_MAX_LEGS];
	uint8_t ol_tag[OPTAG_MAX_LEGS][OPTAG_LEN];
};

void optag_open(const unsigned char *key, uint32_t login, uint64_t counter,
    const struct endpoint *dst, const struct endpoint *client,
    uint8_t tag[OPTAG_LEN]);
void optag_outside(const unsigned char *key, uint32_t login, uint64_t counter,
    const struct endpoint *dst, uint8_t tag[OPTAG_LEN]);
int optag_equal(const uint8_t *, const uint8_t *);
int optag_replay_check(struct optag_replay *, uint64_t counter);

size_t optag_legs_encode(const struct optag_legs *, uint8_t *, size_t);
int optag_legs_decode(const uint8_t *, size_t, struct optag_legs *);
const uint8_t *optag_legs_find(const struct optag_legs *, uint8_t leg);
void optag_isp_encode(uint32_t login, uint64_t counter, const uint8_t *tag,
    uint8_t out[OPTAG_ISP_LEN]);
int optag_isp_decode(const uint8_t *, size_t, uint32_t *login,
    uint64_t *counter, uint8_t tag[OPTAG_LEN]);

#endif
