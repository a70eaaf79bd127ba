/*
 * libFuzzer: agents' logins at the isp (isp/agentauth.c), as a taken-over
 * esp could send them: LOGIN payloads for the SCRAM and certificate
 * methods, in any order, and OPENs whose tags name logins, fed to one
 * isp session. A user "alice" has a real SCRAM secret.
 *
 * Input: records of a kind byte (even: LOGIN, odd: OPEN), a length byte,
 * and that many bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Everything the isp sends back is read and dropped. */
static void
fuzz_drain(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* One session, the records in turn, then the session gone. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct session_cb cb = { 0 };
	struct bufferevent *pair[2];
	struct event_base *base = event_base_new();
	struct session *s;
	struct frame_open o;
	const char *why;
	uint64_t counter;
	uint32_t login;
	size_t len;
	int i;

	bufferevent_pair_new(base, 0, pair);
	bufferevent_setcb(pair[1], fuzz_drain, NULL, NULL, NULL);
	bufferevent_enable(pair[1], EV_READ);
	s = session_new(base, pair[0], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "esp",
	    &fuzz_params, &cb, NULL);
	session_start(s);
	session_connected(s);
	while (size >= 2) {
		len = data[1];
		if (len > size - 2)
			len = size - 2;
		if ((data[0] & 1) == 0)
			agentauth_message(&fuzz_isp, s, data + 2, len);
		else if (frame_open_decode(data + 2, len, &o) == FRAME_OK &&
		    o.fo_auth == OPEN_AUTH_TAG)
			(void)agentauth_open_check(&fuzz_isp, s, &o, &login,
			    &counter, &why);
		data += 2 + len;
		size -= 2 + len;
	}
	for (i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	agentauth_session_gone(&fuzz_isp, session_serial(s));
	session_close(s, "fuzz input done");
	for (i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	bufferevent_free(pair[1]);
	event_base_free(base);
	return 0;
}
