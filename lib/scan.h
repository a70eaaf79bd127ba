/* Stream scanner: find announcements across reads and rewrite them. */
#ifndef DP_SCAN_H
#define DP_SCAN_H

#include <event2/buffer.h>

#include "rule.h"

#define SCAN_HOLDBACK_DEFAULT 4096
#define SCAN_HOLDBACK_MIN     64
#define SCAN_HOLDBACK_MAX     (1024 * 1024)

struct announce {
	const struct rule_kind *an_kind;
	enum rule_dir an_dir;
	int an_family;       /* AF_INET or AF_INET6; 0 when implied */
	uint8_t an_addr[16]; /* network order; 4 bytes used for AF_INET */
	int an_implied;      /* address is the connection's own peer */
	uint16_t an_port;    /* host order */
	int an_suspect;      /* only starts like one, or does not decode */
	char an_why[300];    /* why it is suspect */
	char an_text[512];   /* as seen, escaped, maybe truncated; for logs */
};

enum scan_result { SCAN_MORE = 0, SCAN_FOUND = 1, SCAN_ERROR = -1 };

struct scan;

/* holdback_max 0 means SCAN_HOLDBACK_DEFAULT; clamped to MIN..MAX. */
struct scan *scan_new(const struct rule_app *, enum rule_dir,
    size_t holdback_max);
void scan_free(struct scan *);
void scan_set_observer(struct scan *);

/*
 * Move bytes from in (all of it is consumed into the scanner) to out,
 * holding back at most holdback_max bytes that could still start an
 * announcement. On SCAN_FOUND, every byte before the announcement is in
 * out, the announcement is described in *an and kept inside the scanner,
 * and the caller must call scan_emit() before feeding again (bytes after
 * the announcement stay held until then; feeding again without emitting
 * only appends and returns the same announcement). in may be NULL (just
 * continue with what is held, e.g. after scan_emit). SCAN_ERROR: a PCRE2
 * error such as the match limit, a match longer than the holdback, or an
 * announcement whose values do not decode (a byte over 255, a port over
 * 65535); *why says what. Only bytes before every entry's match are in
 * out (none after a PCRE2 error); from then on the scanner passes
 * nothing more, and the caller closes the channel.
 */
enum scan_result scan_feed(struct scan *, struct evbuffer *in,
    struct evbuffer *out, struct announce *an, const char **why);

/*
 * Write the rewrite of the pending announcement with this endpoint (family,
 * address in network order, port in host order) into out; or, with
 * replacement NULL, the original bytes unchanged. A suspect announcement
 * is written as the rule's neutral text, and never unchanged. IPv4-mapped
 * IPv6 endpoints are written as IPv4. Returns -1 (with nothing written and
 * the announcement still pending) if the rule's encoding cannot carry the
 * endpoint, e.g. an IPv6 address into the FTP comma form, if a suspect one
 * would go unchanged, or if nothing is pending.
 */
int scan_emit(struct scan *, const struct sockaddr *replacement,
    struct evbuffer *out);

/*
 * The bytes of the pending announcement, valid until the next scan_feed()
 * or scan_emit(); NULL when nothing is pending.
 */
const char *scan_pending(const struct scan *, size_t *len);

/* End of stream: flush what is held (nothing more can match) to out. */
void scan_flush(struct scan *, struct evbuffer *out);

/*
 * The stream has ended: no partial match can complete any more, so
 * scan_feed() now reports complete announcements that were held back for
 * a longer alternative. Call scan_feed(in = NULL) until SCAN_MORE, then
 * scan_flush().
 */
void scan_eof(struct scan *);

/* Bytes currently held (not yet in out), for tests and statistics. */
size_t scan_held(const struct scan *);

/*
 * Bounce check for a reverse announcement: 0 if the announced address
 * equals client (IPv4-mapped IPv6 compared as IPv4) and the port is
 * acceptable (1-65535; below 1024 only if the rule says low_ports = yes,
 * as rsh does), else -1 with *why (a static buffer). Implied addresses
 * pass the address check.
 */
int announce_check_origin(const struct announce *,
    const struct sockaddr *client, const char **why);
int announce_check_port(const struct announce *, const char **why);

void announce_endpoint(const struct announce *,
    const struct sockaddr_storage *implied, struct sockaddr_storage *);

/* "10.0.0.1 5001", "2001:db8::1 21" or "implied 6446", into buf. */
const char *announce_str(const struct announce *, char *, size_t);

#endif
