/*
 * Announcements on scanned control channels, on the isp.
 *
 * Server announcements (FTP 227/229) admit one expected connection from
 * the same client. Client announcements (PORT, EPRT, DCC, rsh) open a
 * reverse connection, following the original design:
 *   1. the announcement is held in the stream;
 *   2. it must name the client itself (else: FTP bounce, refused);
 *   3. the esp connects to the announced endpoint (OUTSIDE_OPEN);
 *   4. the isp opens a single-use listener on its inside address;
 *   5. the announcement is rewritten to that listener and forwarded;
 *   6. when the server connects, the two legs are joined.
 * A refused or failed announcement is rewritten to port 0 on the isp, so
 * the server's connection fails and the application reports its error.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "addr.h"
#include "isp.h"
#include "log.h"
#include "scan.h"
#include "xmalloc.h"

/* One scanned control channel. */
struct ctl {
	struct isp *c_isp;
	struct channel *c_ch;
	struct sockaddr_storage c_server; /* the server, as connected */
	struct sockaddr_storage c_local;  /* our end toward the server */
	struct sockaddr_storage c_client; /* the client, as the esp saw it */
	TAILQ_HEAD(, reverse) c_pending;
};

/* One reverse connection being set up. */
struct reverse {
	struct isp *r_isp;
	struct ctl *r_ctl; /* while the announcement is held; else NULL */
	struct sockaddr_storage r_server; /* the only peer the listener takes */
	struct channel *r_data;
	struct evconnlistener *r_lis;
	struct event *r_timer;
	char r_desc[ADDR_STRLEN * 2];
	TAILQ_ENTRY(reverse) r_entry;
};

static void reverse_free(struct reverse *);

/* The control channel went away: orphan what is still being set up. */
static void
reverse_ctl_closed(struct channel *ch, void *arg)
{
	struct ctl *c = arg;
	struct reverse *r;

	(void)ch;
	while ((r = TAILQ_FIRST(&c->c_pending)) != NULL) {
		TAILQ_REMOVE(&c->c_pending, r, r_entry);
		r->r_ctl = NULL;
	}
	free(c);
}

/* Emit the announcement rewritten to port 0 here: the server's connect fails. */
static void
reverse_refuse(struct ctl *c)
{
	struct sockaddr_storage ss = c->c_local;

	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	channel_announce_done(c->c_ch, 1, (struct sockaddr *)&ss);
}

/* The one teardown path for a reverse setup. */
static void
reverse_free(struct reverse *r)
{
	if (r->r_ctl != NULL)
		TAILQ_REMOVE(&r->r_ctl->c_pending, r, r_entry);
	if (r->r_data != NULL)
		r->r_data->ch_closed = NULL;
	if (r->r_lis != NULL)
		evconnlistener_free(r->r_lis);
	if (r->r_timer != NULL)
		event_free(r->r_timer);
	free(r);
}

/* The data channel died before the server connected. */
static void
reverse_data_closed(struct channel *ch, void *arg)
{
	struct reverse *r = arg;

	(void)ch;
	log_info("reverse %s: outside leg closed before the server "
		 "connected",
	    r->r_desc);
	r->r_data = NULL;
	reverse_free(r);
}

/* Nobody connected to the listener in time. */
static void
reverse_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct reverse *r = arg;
	struct channel *data = r->r_data;

	(void)fd;
	(void)what;
	log_info("reverse %s: no connection from the server in time; "
		 "closing",
	    r->r_desc);
	reverse_free(r);
	if (data != NULL)
		channel_close(data, CHANNEL_RESET, "server never connected");
}

/* Do two addresses name the same host? (IPv4-mapped as IPv4.) */
static int
reverse_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t x[16] = { 0 }, y[16] = { 0 };
	const struct sockaddr *sa[2] = { a, b };
	uint8_t *out[2] = { x, y };
	int i;

	for (i = 0; i < 2; i++) {
		if (sa[i]->sa_family == AF_INET) {
			out[i][10] = out[i][11] = 0xff;
			memcpy(out[i] + 12,
			    &((const struct sockaddr_in *)sa[i])->sin_addr, 4);
		} else if (sa[i]->sa_family == AF_INET6)
			memcpy(out[i],
			    &((const struct sockaddr_in6 *)sa[i])->sin6_addr,
			    16);
		else
			return 0;
	}
	return memcmp(x, y, 16) == 0;
}

/* A connection on the single-use listener: only the server may use it. */
static void
reverse_acceptcb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct reverse *r = arg;
	struct channel *data = r->r_data;
	struct bufferevent *bev;
	char who[ADDR_STRLEN];
	struct linger l = { 1, 0 };

	(void)lis;
	(void)salen;
	addr_str(sa, who, sizeof who);
	if (!reverse_same_host(sa, (struct sockaddr *)&r->r_server)) {
		log_warnx("reverse %s: refused a connection from %s: not the "
			  "server of the control connection",
		    r->r_desc, who);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(evconnlistener_get_base(lis), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	channel_describe(data, "channel %u reverse %s <- server %s",
	    data->ch_id, r->r_desc, who);
	log_debug("%s joined", data->ch_desc);
	reverse_free(r);
	channel_grant(data);
	channel_attach(data, bev);
}

/* Open the listener on our inside address; 0 or -1. */
static int
reverse_listen(struct reverse *r, struct sockaddr_storage *ss)
{
	struct isp *i = r->r_isp;
	socklen_t len;
	struct timeval tv;

	*ss =
	    i->i_data_addr.ss_family != 0 ? i->i_data_addr : r->r_ctl->c_local;
	if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)ss)->sin_port = 0;
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)ss)->sin6_port = 0;
		len = sizeof(struct sockaddr_in6);
	}
	r->r_lis = evconnlistener_new_bind(i->i_base, reverse_acceptcb, r,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 4,
	    (struct sockaddr *)ss, (int)len);
	if (r->r_lis == NULL) {
		log_warn("reverse %s: cannot listen", r->r_desc);
		return -1;
	}
	if (getsockname(evconnlistener_get_fd(r->r_lis), (struct sockaddr *)ss,
		&len) != 0)
		return -1;
	r->r_timer = evtimer_new(i->i_base, reverse_timeoutcb, r);
	tv.tv_sec = i->i_listen_ms / 1000;
	tv.tv_usec = (i->i_listen_ms % 1000) * 1000;
	evtimer_add(r->r_timer, &tv);
	return 0;
}

/* The esp reached (or did not reach) the client's announced endpoint. */
static void
reverse_resultcb(struct channel *data, uint8_t code,
    const struct endpoint *bound, void *arg)
{
	struct reverse *r = arg;
	struct ctl *c = r->r_ctl;
	struct sockaddr_storage ss;
	char at[ADDR_STRLEN];

	(void)bound;
	if (c == NULL) {
		/* The control channel is gone; nothing to rewrite. */
		r->r_data = NULL;
		reverse_free(r);
		if (code == OPEN_OK)
			channel_close(data, CHANNEL_RESET, "control closed");
		return;
	}
	if (code != OPEN_OK) {
		log_info("reverse %s: the esp could not connect: %s; the "
			 "server's connection will fail",
		    r->r_desc, frame_open_code_str(code));
		r->r_data = NULL;
		reverse_free(r);
		reverse_refuse(c);
		return;
	}
	if (reverse_listen(r, &ss) != 0) {
		r->r_data = NULL;
		reverse_free(r);
		channel_close(data, CHANNEL_RESET, "no listener");
		reverse_refuse(c);
		return;
	}
	data->ch_closed = reverse_data_closed;
	data->ch_closed_arg = r;
	TAILQ_REMOVE(&c->c_pending, r, r_entry);
	r->r_ctl = NULL;
	log_info("reverse %s: listening on %s for the server", r->r_desc,
	    addr_str((struct sockaddr *)&ss, at, sizeof at));
	channel_announce_done(c->c_ch, 1, (struct sockaddr *)&ss);
}

/* Fill a sockaddr from an announcement and a default address. */
static void
reverse_endpoint(const struct announce *an, const struct sockaddr *implied,
    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (an->an_implied || an->an_family == 0) {
		memcpy(ss, implied,
		    implied->sa_family == AF_INET
			? sizeof(struct sockaddr_in)
			: sizeof(struct sockaddr_in6));
	} else if (an->an_family == AF_INET) {
		ss->ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, an->an_addr, 4);
	} else {
		ss->ss_family = AF_INET6;
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, an->an_addr,
		    16);
	}
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(an->an_port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(an->an_port);
}

/* A client announced an endpoint: check it, then have the esp connect. */
static void
reverse_start(struct ctl *c, const struct announce *an)
{
	struct reverse *r;
	struct sockaddr_storage dst;
	struct endpoint ep;
	const char *why = NULL;
	char at[ADDR_STRLEN];

	reverse_endpoint(an, (struct sockaddr *)&c->c_client, &dst);
	addr_str((struct sockaddr *)&dst, at, sizeof at);
	if (!policy_reverse_ok(&c->c_isp->i_policy, c->c_ch->ch_user)) {
		log_warnx("%s: refused announcement \"%s\": reverse "
			  "connections are not allowed for %s",
		    c->c_ch->ch_desc, an->an_text,
		    c->c_ch->ch_user[0] ? c->c_ch->ch_user : "anonymous");
		reverse_refuse(c);
		return;
	}
	if (announce_check_origin(an, (struct sockaddr *)&c->c_client, &why) !=
	    0) {
		log_warnx("%s: refused announcement \"%s\": %s",
		    c->c_ch->ch_desc, an->an_text, why);
		reverse_refuse(c);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->r_isp = c->c_isp;
	r->r_ctl = c;
	r->r_server = c->c_server;
	snprintf(r->r_desc, sizeof r->r_desc, "%s for channel %u", at,
	    c->c_ch->ch_id);
	TAILQ_INSERT_TAIL(&c->c_pending, r, r_entry);
	addr_to_endpoint((struct sockaddr *)&dst, &ep);
	r->r_data = session_outside_open(c->c_ch->ch_sess, &ep,
	    &c->c_ch->ch_client, c->c_ch->ch_id, reverse_resultcb, r);
	if (r->r_data == NULL) {
		reverse_free(r);
		reverse_refuse(c);
		return;
	}
	log_info("reverse %s: asking the esp to connect", r->r_desc);
}

/* A rule found an announcement on a control channel. */
static void
reverse_announcecb(struct channel *ch, int rx, const struct announce *an,
    void *arg)
{
	struct ctl *c = arg;
	struct sockaddr_storage ep;

	if (rule_kind_action(an->an_kind) == RULE_SERVER_CONNECTS) {
		if (!rx) { /* the server announcing a reverse: not ours */
			channel_announce_done(ch, rx, NULL);
			return;
		}
		reverse_start(c, an);
		return;
	}
	/* The client will connect to what the server announced. */
	reverse_endpoint(an, (struct sockaddr *)&c->c_server, &ep);
	if (!rx)
		expect_add(&c->c_isp->i_expect, (struct sockaddr *)&c->c_client,
		    (struct sockaddr *)&ep);
	channel_announce_done(ch, rx, NULL);
}

/*
 * Put the application's rules on a channel to a server (before it starts
 * relaying). fd is the connected server socket.
 */
void
reverse_attach(struct isp *i, struct channel *ch, const struct rule_app *app,
    evutil_socket_t fd)
{
	struct ctl *c = xcalloc(1, sizeof *c);
	socklen_t len;
	struct scan *rx = NULL, *tx = NULL;

	c->c_isp = i;
	c->c_ch = ch;
	TAILQ_INIT(&c->c_pending);
	len = sizeof c->c_server;
	getpeername(fd, (struct sockaddr *)&c->c_server, &len);
	len = sizeof c->c_local;
	getsockname(fd, (struct sockaddr *)&c->c_local, &len);
	if (addr_from_endpoint(&ch->ch_client, &c->c_client, &len) != 0)
		c->c_client.ss_family = AF_UNSPEC;
	if (rule_app_scans(app, RULE_C2S))
		rx = scan_new(app, RULE_C2S, i->i_holdback);
	if (rule_app_scans(app, RULE_S2C))
		tx = scan_new(app, RULE_S2C, i->i_holdback);
	channel_set_scan(ch, rx, tx, reverse_announcecb, c);
	snprintf(ch->ch_rule, sizeof ch->ch_rule, "%s", rule_app_name(app));
	ch->ch_closed = reverse_ctl_closed;
	ch->ch_closed_arg = c;
	log_debug("channel %u: scanned by rules \"%s\"", ch->ch_id,
	    rule_app_name(app));
}
