/*
 * libFuzzer: agents' logins at the isp (isp/agentauth.c), as a taken-over
 * esp could send them: LOGIN frames for the SCRAM and certificate
 * methods, in any order, and OPENs whose tags name logins, written by a
 * fake esp into one isp session, which hands them on as dial.c does. A
 * user "alice" has a real SCRAM secret.
 *
 * Input: records of a kind byte (even: LOGIN, odd: OPEN), a length byte,
 * and that many bytes of payload.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "isp.h"
#include "kdf.h"
#include "log.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct isp fuzz_isp;
static struct session_params fuzz_params;
static int fuzz_closed;

/* dial.c is not linked: no uplinks to look a session up in. */
struct session *
dial_session(struct isp *i, uint64_t serial)
{
	(void)i;
	(void)serial;
	return NULL;
}

/* A policy with alice, from a file, as the isp reads it. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char path[300], *cause = NULL, *hash;
	struct conf *c;
	FILE *f;
	int fd;

	(void)argc;
	(void)argv;
	log_init("fuzz_agentauth", 0, 0);
	snprintf(path, sizeof path, "%s/fuzz-agentauth.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL ||
	    (hash = kdf_hash("alice-secret")) == NULL)
		abort();
	fprintf(f, "[user alice]\npassword = %s\nallow = 127.0.0.1/32\n", hash);
	fclose(f);
	free(hash);
	if ((c = conf_load(path, &cause)) == NULL ||
	    policy_load(&fuzz_isp.i_policy, c, &cause) != 0 ||
	    session_conf_load(c, &fuzz_params, &cause) != 0)
		abort();
	conf_free(c);
	unlink(path);
	memset(fuzz_isp.i_login_key, 7, sizeof fuzz_isp.i_login_key);
	agentauth_init(&fuzz_isp);
	return 0;
}

/* LOGIN from the fake esp, as dial.c hands it on. */
static void
fuzz_messagecb(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	(void)arg;
	if (type == FRAME_LOGIN)
		agentauth_message(&fuzz_isp, NULL, s, p, len); /* no rate */
}

/* An OPEN: its tag checked as inside.c does, then refused. */
static void
fuzz_opencb(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	const char *why;
	uint64_t counter;
	uint32_t login;

	(void)arg;
	if (o->fo_auth == OPEN_AUTH_TAG)
		(void)agentauth_open_check(&fuzz_isp, s, o, &login, &counter,
		    &why);
	channel_refuse(ch, OPEN_NOT_ALLOWED);
}

/* The session ended (a malformed LOGIN fails it). */
static void
fuzz_closedcb(struct session *s, const char *why, void *arg)
{
	(void)why;
	(void)arg;
	agentauth_session_gone(&fuzz_isp, session_serial(s));
	fuzz_closed = 1;
}

/* Everything the isp sends back is read and dropped. */
static void
fuzz_drain(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* Write one frame from the fake esp. */
static void
fuzz_frame(struct bufferevent *bev, uint8_t type, uint32_t chan,
    const uint8_t *p, size_t len)
{
	uint8_t hdr[FRAME_HDR_LEN];

	frame_hdr_encode(hdr, type, chan, (uint32_t)len);
	bufferevent_write(bev, hdr, sizeof hdr);
	if (len > 0)
		bufferevent_write(bev, p, len);
}

/* Run the loop until nothing is left to do (bounded). */
static void
fuzz_spin(struct event_base *base)
{
	int i;

	for (i = 0; i < 16; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* One session, the records in turn, then the session gone. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct session_cb cb = { .sc_message = fuzz_messagecb,
		.sc_open = fuzz_opencb,
		.sc_closed = fuzz_closedcb };
	struct event_base *base = event_base_new();
	struct bufferevent *pair[2];
	struct frame_hello h;
	struct session *s;
	uint8_t hello[128];
	uint32_t chan = 1;
	size_t len;

	bufferevent_pair_new(base, 0, pair);
	bufferevent_setcb(pair[1], fuzz_drain, NULL, NULL, NULL);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	fuzz_closed = 0;
	s = session_new(base, pair[0], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "esp",
	    &fuzz_params, &cb, NULL);
	session_start(s);
	session_connected(s);
	memset(&h, 0, sizeof h);
	h.fhl_min_version = h.fhl_max_version = FRAME_VERSION;
	h.fhl_role = FRAME_ROLE_ESP;
	h.fhl_window = 1 << 20;
	fuzz_frame(pair[1], FRAME_HELLO, 0, hello,
	    frame_hello_encode(hello, sizeof hello, &h));
	while (size >= 2) {
		len = data[1];
		if (len > size - 2)
			len = size - 2;
		if ((data[0] & 1) == 0)
			fuzz_frame(pair[1], FRAME_LOGIN, 0, data + 2, len);
		else {
			fuzz_frame(pair[1], FRAME_OPEN, chan, data + 2, len);
			chan += 2;
		}
		data += 2 + len;
		size -= 2 + len;
	}
	fuzz_spin(base);
	if (!fuzz_closed)
		session_close(s, "fuzz input done");
	fuzz_spin(base);
	bufferevent_free(pair[1]);
	event_base_free(base);
	return 0;
}
