/* The monotonic clock, for timeouts, rates and round trips. */
#ifndef DP_MONOTIME_H
#define DP_MONOTIME_H

#include <stdint.h>

uint64_t monotime_ms(void);
uint64_t monotime_us(void);

#endif
