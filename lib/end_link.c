/*
 * A link: two channels on two sessions joined back to back, as the esp
 * joins an agent's channel to an isp's. Each direction is one buffer:
 * what one channel delivers is what the other frames. Credit goes back
 * to a sender only as the other channel frames its bytes, within its own
 * peer's credit, so flow control holds end to end and the link holds at
 * most one window per direction.
 *
 * Buffer callbacks run deferred, from the event loop, so neither channel
 * ever runs inside the other's call stack. A reset of one channel resets
 * the other; a clean close of both frees the link.
 */
#include "end.h"

#include <stdlib.h>

#include <event2/event.h>

#include "channel.h"
#include "xmalloc.h"

struct link;

struct link_end {
	struct end le_end;
	struct link *le_link;
	int le_i;
	unsigned le_gone : 1; /* its channel let go */
};

struct link {
	struct link_end l_end[2];
	struct evbuffer *l_buf[2]; /* [i]: what end i's channel delivers */
	struct evbuffer_cb_entry *l_cb[2];
	int l_refs;
};

/* The other channel, or NULL once it let go. */
static struct channel *
link_other(struct link_end *le)
{
	struct link_end *o = &le->le_link->l_end[1 - le->le_i];

	return o->le_gone ? NULL : o->le_end.e_ch;
}

/* Input of end i: what the other channel delivered. */
static struct evbuffer *
link_input(struct end *e)
{
	struct link_end *le = (struct link_end *)e;

	return le->le_link->l_buf[1 - le->le_i];
}

/* Output of end i: delivered, not yet framed by the other channel. */
static struct evbuffer *
link_output(struct end *e)
{
	struct link_end *le = (struct link_end *)e;

	return le->le_link->l_buf[le->le_i];
}

/* Hand bytes across; with the other channel gone, this one ends too. */
static void
link_deliver(struct end *e, struct evbuffer *src, size_t len)
{
	struct link_end *le = (struct link_end *)e;

	if (link_other(le) == NULL) {
		evbuffer_drain(src, len);
		channel_reset_later(e->e_ch, "the other side is gone");
		return;
	}
	evbuffer_remove_buffer(src, le->le_link->l_buf[le->le_i], len);
}

/* The window bounds what can arrive: nothing to stop. */
static void
link_read(struct end *e, int on)
{
	(void)e;
	(void)on;
}

/* FIN: the other channel's input has ended. */
static void
link_shutdown(struct end *e)
{
	struct channel *o = link_other((struct link_end *)e);

	if (o != NULL)
		channel_end_eof(o);
}

/* Drop one reference (an end, or a callback running); the last frees. */
static void
link_unref(struct link *l)
{
	int i;

	if (--l->l_refs > 0)
		return;
	for (i = 0; i < 2; i++) {
		evbuffer_remove_cb_entry(l->l_buf[i], l->l_cb[i]);
		evbuffer_free(l->l_buf[i]);
	}
	free(l);
}

/* Let go of one end; a reset one resets the other channel. */
static void
link_free(struct end *e, int reset)
{
	struct link_end *le = (struct link_end *)e;
	struct channel *o = link_other(le);

	le->le_gone = 1;
	if (reset && o != NULL)
		channel_reset_later(o, "the other side reset");
	link_unref(le->le_link);
}

/* This side was reset for holding its session up: the other channel,
 * which did not take what it was given, is to blame. */
static void
link_stalled(struct end *e)
{
	struct channel *o = link_other((struct link_end *)e);

	if (o != NULL && o->ch_blame != NULL)
		o->ch_blame(o, o->ch_blame_arg);
}

static const struct end_ops link_ops = {
	.name = "link",
	.input = link_input,
	.output = link_output,
	.deliver = link_deliver,
	.read = link_read,
	.shutdown = link_shutdown,
	.free = link_free,
	.stalled = link_stalled,
};

/*
 * Buffer i changed: added bytes are input for the other channel; taken
 * ones return end i's channel credit.
 */
static void
link_bufcb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct link_end *le = arg;
	struct link *l = le->le_link;
	struct channel *ch = le->le_end.e_ch, *o = link_other(le);
	int empty = evbuffer_get_length(buf) == 0;

	/* Either channel may let go meanwhile: the link stays till the end. */
	l->l_refs++;
	if (info->n_added > 0 && o != NULL)
		channel_end_readable(o);
	if (!le->le_gone && info->n_deleted > 0)
		channel_end_written(ch, info->n_deleted, empty);
	if (!le->le_gone && empty)
		channel_end_drained(ch);
	link_unref(l);
}

/* Join two open channels back to back and start relaying. */
void
end_link(struct channel *a, struct channel *b)
{
	struct link *l = xcalloc(1, sizeof *l);
	struct channel *ch[2] = { a, b };
	int i;

	l->l_refs = 2;
	for (i = 0; i < 2; i++) {
		l->l_end[i].le_end.e_ops = &link_ops;
		l->l_end[i].le_end.e_ch = ch[i];
		l->l_end[i].le_link = l;
		l->l_end[i].le_i = i;
		l->l_buf[i] = evbuffer_new();
		evbuffer_defer_callbacks(l->l_buf[i], ch[i]->ch_base);
		l->l_cb[i] =
		    evbuffer_add_cb(l->l_buf[i], link_bufcb, &l->l_end[i]);
	}
	channel_attach_end(a, &l->l_end[0].le_end);
	channel_attach_end(b, &l->l_end[1].le_end);
}
