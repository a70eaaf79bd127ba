/*
 * libFuzzer: a session's dispatch of a sequence of frames (lib/session.c,
 * lib/channel.c, lib/scan.c). The first byte picks the role and what the
 * harness does; the rest is what the peer sends, over a bufferevent pair
 * with a raw end. OPENs are accepted onto bufferevent pairs or refused,
 * by the last byte of the destination, and channels to a rule's port get
 * its scanners (rules/ from the working directory, or $FUZZ_RULES). No
 * sockets and no timers: the loop runs until idle, then all is freed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "channel.h"
#include "conf.h"
#include "frame.h"
#include "log.h"
#include "rule.h"
#include "scan.h"
#include "session.h"
#include "xmalloc.h"

#define FUZZ_MAX_ENDS 32 /* channel pairs in one run */
#define FUZZ_TURNS    64 /* loop turns to become idle */

/* The first byte of the input. */
#define FUZZ_ESP    0x01 /* the session is an esp's, the peer an isp */
#define FUZZ_HELLO  0x02 /* the harness sends a valid HELLO first */
#define FUZZ_EOF    0x04 /* the peer closes after its bytes */
#define FUZZ_OPEN   0x08 /* once up, the session opens two channels */
#define FUZZ_SPLIT  0x30 /* the bytes arrive in 1, 2, 3 or 7 pieces */
#define FUZZ_STALL  0x40 /* the peer reads nothing until the end */
#define FUZZ_GOAWAY 0x80 /* once up, the session sends GOAWAY 0 */

/* What a channel's far end does: the last byte of its destination. */
#define FAR_REFUSE  0x01 /* refuse the OPEN, code from the next bits */
#define FAR_WRITE   0x02 /* the far end says something */
#define FAR_EOF     0x04 /* the far end closes its side */
#define FAR_STALL   0x08 /* the far end reads nothing */
#define FAR_REPLACE 0x10 /* announcements are rewritten (else kept) */
#define FAR_LATER   0x20 /* and decided on a later loop turn */
#define FAR_IPV6    0x40 /* with an IPv6 replacement */

struct fuzz_run {
	struct event_base *fr_base;
	struct session *fr_sess;
	struct bufferevent *fr_raw; /* the peer's end */
	int fr_closed;
	uint8_t fr_flags;
	struct bufferevent *fr_ends[FUZZ_MAX_ENDS]; /* far ends of channels */
	size_t fr_nends;
};

/* A channel the harness attached, and its held announcements. */
struct fuzz_chan {
	struct fuzz_run *fc_run;
	struct channel *fc_ch;
	uint8_t fc_far;
	struct event *fc_ev; /* decides held announcements later */
	int fc_held[2];      /* [1]: rx, [0]: tx */
};

static struct ruleset *fuzz_rules;
static struct session_params fuzz_params;

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The defaults of [session], read from an empty file (so every field is
 * set), with windows small enough for an input to run out of them.
 */
static void
fuzz_params_load(void)
{
	const char *tmp = getenv("TMPDIR");
	struct conf *c;
	char path[300], *cause = NULL;
	int fd;

	snprintf(path, sizeof path, "%s/fuzz-session.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if ((fd = mkstemp(path)) == -1)
		abort();
	close(fd);
	c = conf_load(path, &cause);
	unlink(path);
	if (c == NULL || session_conf_load(c, &fuzz_params, &cause) != 0)
		abort();
	conf_free(c);
	fuzz_params.sp_window = 16 << 10;
	fuzz_params.sp_chan_window = 4 << 10;
	fuzz_params.sp_out_hiwat = 4 << 10;
}

/* Load the shipped rules once, so channels to their ports are scanned. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_RULES");
	char *cause = NULL;

	(void)argc;
	(void)argv;
	log_init("fuzz_session", 0, 0);
	fuzz_params_load();
	fuzz_rules = ruleset_new();
	if (ruleset_load_dir(fuzz_rules, dir != NULL ? dir : "rules", &cause) !=
	    0) {
		free(cause);
		ruleset_free(fuzz_rules);
		fuzz_rules = NULL;
	}
	return 0;
}

/* Throw away what arrives at an end the harness holds. */
static void
fuzz_drain_readcb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* The far end's byte for a channel: the destination's last byte. */
static uint8_t
fuzz_far(const struct endpoint *dst)
{
	return dst->ep_len > 0 ? dst->ep_addr[dst->ep_len - 1] : 0;
}

/* A held announcement's decision: rewrite it, or keep it. */
static void
fuzz_decide(struct fuzz_chan *fc, int rx)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	struct sockaddr *sa = NULL;

	if (fc->fc_far & FAR_REPLACE) {
		memset(&s4, 0, sizeof s4);
		memset(&s6, 0, sizeof s6);
		if (fc->fc_far & FAR_IPV6) {
			s6.sin6_family = AF_INET6;
			inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
			s6.sin6_port = htons(40001);
			sa = (struct sockaddr *)&s6;
		} else {
			s4.sin_family = AF_INET;
			inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
			s4.sin_port = htons(40000);
			sa = (struct sockaddr *)&s4;
		}
	}
	channel_announce_done(fc->fc_ch, rx, sa);
}

/* Decide the announcements held for a later turn. */
static void
fuzz_laterev(evutil_socket_t fd, short what, void *arg)
{
	struct fuzz_chan *fc = arg;
	int rx;

	(void)fd;
	(void)what;
	for (rx = 0; rx < 2; rx++) {
		if (fc->fc_held[rx]) {
			fc->fc_held[rx] = 0;
			fuzz_decide(fc, rx);
			return; /* fc may be gone */
		}
	}
}

/* A scanner found an announcement: decide now or on a later turn. */
static void
fuzz_announcecb(struct channel *ch, int rx, const struct announce *an,
    void *arg)
{
	struct fuzz_chan *fc = arg;
	char buf[128];

	(void)ch;
	(void)announce_str(an, buf, sizeof buf);
	if (fc->fc_far & FAR_LATER) {
		fc->fc_held[rx != 0] = 1;
		event_active(fc->fc_ev, EV_TIMEOUT, 0);
		return;
	}
	fuzz_decide(fc, rx);
}

/* The channel is gone: so is the harness's state for it. */
static void
fuzz_chan_closed(struct channel *ch, void *arg)
{
	struct fuzz_chan *fc = arg;

	(void)ch;
	event_free(fc->fc_ev);
	free(fc);
}

/*
 * A new far end for a channel; NULL when there are too many. The far end
 * talks, closes or stalls as far says.
 */
static struct bufferevent *
fuzz_far_end(struct fuzz_run *fr, uint8_t far)
{
	static const char hello[] = "220 fuzz ready\r\n"
				    "227 Entering Passive Mode "
				    "(192,0,2,9,4,1).\r\n";
	struct bufferevent *p[2];

	if (fr->fr_nends == FUZZ_MAX_ENDS)
		return NULL;
	bufferevent_pair_new(fr->fr_base, 0, p);
	fr->fr_ends[fr->fr_nends++] = p[1];
	bufferevent_setcb(p[1], fuzz_drain_readcb, NULL, NULL, fr);
	bufferevent_enable(p[1],
	    (far & FAR_STALL) ? EV_WRITE : EV_READ | EV_WRITE);
	if (far & FAR_WRITE)
		bufferevent_write(p[1], hello, sizeof hello - 1);
	if (far & FAR_EOF)
		bufferevent_flush(p[1], EV_WRITE, BEV_FINISHED);
	return p[0];
}

/* Put the scanners of the rule for the channel's port on it. */
static void
fuzz_scan(struct fuzz_run *fr, struct channel *ch, struct fuzz_chan *fc)
{
	const struct rule_app *app;
	enum rule_dir rx, tx;

	if (fuzz_rules == NULL ||
	    (app = ruleset_for_port(fuzz_rules, ch->ch_dst.ep_port)) == NULL)
		return;
	/* The isp's peer side is the client, the esp's the server. */
	rx = (fr->fr_flags & FUZZ_ESP) ? RULE_S2C : RULE_C2S;
	tx = rx == RULE_S2C ? RULE_C2S : RULE_S2C;
	snprintf(ch->ch_rule, sizeof ch->ch_rule, "%s", rule_app_name(app));
	channel_set_scan(ch,
	    rule_app_scans(app, rx) ? scan_new(app, rx, (size_t)fc->fc_far * 64)
				    : NULL,
	    rule_app_scans(app, tx) ? scan_new(app, tx, 0) : NULL,
	    fuzz_announcecb, fc);
}

/* Join a channel to a new far end (accept it, or attach it); -1 if full. */
static int
fuzz_join(struct fuzz_run *fr, struct channel *ch, int accept)
{
	struct endpoint bound = { .ep_atyp = ATYP_IPV4,
		.ep_len = 4,
		.ep_addr = { 192, 0, 2, 2 },
		.ep_port = 40000 };
	uint8_t far = fuzz_far(&ch->ch_dst);
	struct fuzz_chan *fc;
	struct bufferevent *bev;

	if ((bev = fuzz_far_end(fr, far)) == NULL)
		return -1;
	fc = xcalloc(1, sizeof *fc);
	fc->fc_run = fr;
	fc->fc_ch = ch;
	fc->fc_far = far;
	fc->fc_ev = event_new(fr->fr_base, -1, 0, fuzz_laterev, fc);
	ch->ch_closed = fuzz_chan_closed;
	ch->ch_closed_arg = fc;
	fuzz_scan(fr, ch, fc);
	if (accept)
		channel_accept(ch, bev, &bound);
	else
		channel_attach(ch, bev);
	return 0;
}

/* The peer asks for a channel (OPEN, or OUTSIDE_OPEN at an esp). */
static void
fuzz_opencb(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	struct fuzz_run *fr = arg;
	uint8_t far = fuzz_far(&o->fo_dst);

	(void)s;
	if (far & FAR_REFUSE) {
		channel_refuse(ch, (uint8_t)(1 + (far >> 1) % 8));
		return;
	}
	if (fuzz_join(fr, ch, 1) != 0)
		channel_refuse(ch, OPEN_FAILURE);
}

/* The peer answered a channel the session opened. */
static void
fuzz_resultcb(struct channel *ch, uint8_t code, const struct endpoint *bound,
    void *arg)
{
	struct fuzz_run *fr = arg;

	(void)bound;
	if (code != OPEN_OK || fuzz_join(fr, ch, 0) != 0)
		return;
	if (!(fr->fr_flags & FUZZ_ESP))
		channel_grant(ch); /* the isp's outside channels start at 0 */
}

/* HELLO done: open channels of our own, or say goodbye. */
static void
fuzz_upcb(struct session *s, void *arg)
{
	struct fuzz_run *fr = arg;
	struct endpoint dst = { .ep_atyp = ATYP_IPV4,
		.ep_len = 4,
		.ep_addr = { 192, 0, 2, 7 },
		.ep_port = 21 };
	struct endpoint cl = { .ep_atyp = ATYP_IPV4,
		.ep_len = 4,
		.ep_addr = { 198, 51, 100, 3 },
		.ep_port = 40000 };
	int i;

	if (fr->fr_flags & FUZZ_OPEN) {
		for (i = 0; i < 2; i++) {
			dst.ep_addr[3] = (uint8_t)(i == 0 ? 0x02 : 0x36);
			if (fr->fr_flags & FUZZ_ESP)
				session_open_channel(s, &dst, &cl, "alice",
				    (const uint8_t *)"secret", 6, fuzz_resultcb,
				    fr);
			else
				session_outside_open(s, &cl, &cl, 1,
				    fuzz_resultcb, fr);
		}
	}
	if (fr->fr_flags & FUZZ_GOAWAY)
		session_goaway(s, GOAWAY_NORMAL, "fuzz");
}

/* CONFIG, AUTH or AUTH_RESULT: the owner would parse it elsewhere. */
static void
fuzz_messagecb(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	(void)s;
	(void)type;
	(void)p;
	(void)len;
	(void)arg;
}

/* The session ends; it frees itself. */
static void
fuzz_closedcb(struct session *s, const char *reason, void *arg)
{
	struct fuzz_run *fr = arg;

	(void)s;
	(void)reason;
	fr->fr_closed = 1;
}

/* The last channel is gone after GOAWAY: close, as the daemons do. */
static void
fuzz_drainedcb(struct session *s, void *arg)
{
	(void)arg;
	session_close(s, "drained");
}

static const struct session_cb fuzz_cb = {
	.sc_up = fuzz_upcb,
	.sc_closed = fuzz_closedcb,
	.sc_open = fuzz_opencb,
	.sc_outside_open = fuzz_opencb,
	.sc_message = fuzz_messagecb,
	.sc_drained = fuzz_drainedcb,
};

/* Run the loop until nothing is active, a bounded number of turns. */
static void
fuzz_spin(struct fuzz_run *fr)
{
	int i;

	for (i = 0; i < FUZZ_TURNS; i++) {
		event_base_loop(fr->fr_base, EVLOOP_NONBLOCK);
		if (event_base_get_num_events(fr->fr_base,
			EVENT_BASE_COUNT_ACTIVE) == 0)
			break;
	}
}

/* The peer's valid HELLO, for the role opposite the session's. */
static void
fuzz_hello(struct fuzz_run *fr)
{
	struct frame_hello h = { FRAME_VERSION, FRAME_VERSION,
		(fr->fr_flags & FUZZ_ESP) ? FRAME_ROLE_ISP : FRAME_ROLE_ESP,
		1 << 20, "fuzz", 0 };
	uint8_t b[FRAME_HDR_LEN + 64];
	size_t n =
	    frame_hello_encode(b + FRAME_HDR_LEN, sizeof b - FRAME_HDR_LEN, &h);

	frame_hdr_encode(b, FRAME_HELLO, 0, (uint32_t)n);
	bufferevent_write(fr->fr_raw, b, FRAME_HDR_LEN + n);
}

/* One session, fed the input, then closed and freed. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int pieces[] = { 1, 2, 3, 7 };
	struct fuzz_run fr;
	struct bufferevent *pair[2];
	size_t i, n, off, each;

	if (size < 1)
		return 0;
	memset(&fr, 0, sizeof fr);
	fr.fr_flags = data[0];
	data++;
	size--;
	fr.fr_base = event_base_new();
	bufferevent_pair_new(fr.fr_base, 0, pair);
	fr.fr_raw = pair[1];
	bufferevent_setcb(fr.fr_raw, fuzz_drain_readcb, NULL, NULL, &fr);
	bufferevent_enable(fr.fr_raw,
	    (fr.fr_flags & FUZZ_STALL) ? EV_WRITE : EV_READ | EV_WRITE);
	fr.fr_sess = session_new(fr.fr_base, pair[0],
	    (fr.fr_flags & FUZZ_ESP) ? FRAME_ROLE_ESP : FRAME_ROLE_ISP,
	    (fr.fr_flags & FUZZ_ESP) ? FRAME_ROLE_ISP : FRAME_ROLE_ESP, "fuzz",
	    &fuzz_params, &fuzz_cb, &fr);
	session_start(fr.fr_sess);
	session_connected(fr.fr_sess);
	if (fr.fr_flags & FUZZ_HELLO)
		fuzz_hello(&fr);

	n = (size_t)pieces[(fr.fr_flags & FUZZ_SPLIT) >> 4];
	each = size / n + 1;
	for (i = 0, off = 0; i < n && off < size && !fr.fr_closed; i++) {
		if (each > size - off)
			each = size - off;
		bufferevent_write(fr.fr_raw, data + off, each);
		off += each;
		fuzz_spin(&fr);
	}
	if ((fr.fr_flags & FUZZ_EOF) && !fr.fr_closed) {
		bufferevent_flush(fr.fr_raw, EV_WRITE, BEV_FINISHED);
		fuzz_spin(&fr);
	}

	/* Let what the session wrote out, so a failing one can finish. */
	bufferevent_enable(fr.fr_raw, EV_READ);
	fuzz_spin(&fr);
	if (!fr.fr_closed)
		session_close(fr.fr_sess, "fuzz input done");
	fuzz_spin(&fr);

	for (i = 0; i < fr.fr_nends; i++)
		bufferevent_free(fr.fr_ends[i]);
	bufferevent_free(fr.fr_raw);
	event_base_free(fr.fr_base);
	return 0;
}
