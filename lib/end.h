/*
 * An end: what a channel relays the session's stream to. A socket end is
 * a local connection (lib/end_sock.c); a link end is another channel, on
 * another session, joined back to back (lib/end_link.c), as the esp joins
 * an agent's channel to an isp's.
 *
 * The channel drives its end through these operations; the end reports
 * back through the channel_end_* calls in channel.h.
 */
#ifndef DP_END_H
#define DP_END_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

struct channel;
struct end;

struct end_ops {
	const char *name;
	/* Bytes from the end, for the channel to frame. */
	struct evbuffer *(*input)(struct end *);
	/* Bytes for the end not yet taken by it (the rx scanner adds here). */
	struct evbuffer *(*output)(struct end *);
	/* Hand len bytes of src to the end. */
	void (*deliver)(struct end *, struct evbuffer *src, size_t len);
	/* Start or stop taking input (the channel holds enough). */
	void (*read)(struct end *, int on);
	/* No more bytes will be delivered: FIN. */
	void (*shutdown)(struct end *);
	/* Let go of the end: reset (RST) or close gracefully. */
	void (*free)(struct end *, int reset);
	/* The channel is reset for holding its session up: whoever feeds
	 * the end too slowly is to blame (may be NULL). */
	void (*stalled)(struct end *);
};

struct end {
	const struct end_ops *e_ops;
	struct channel *e_ch;
};

struct end *end_sock_new(struct channel *, struct bufferevent *);
void end_link(struct channel *, struct channel *);

#endif
