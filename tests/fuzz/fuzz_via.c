/*
 * libFuzzer: what SOCKS5 and HTTP CONNECT proxies answer (lib/via.c),
 * through via_connect. The connect to the proxy is a stub that hands out
 * one end of a socketpair on the next loop turn (so no ports or TIME_WAIT
 * pile up over millions of runs); the harness holds the other end and
 * serves the input as the proxy's reply, in pieces, with the loop run in
 * between.
 *
 * Input: one control byte, then the proxy's bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "connector.h"
#include "log.h"
#include "via.h"
#include "xmalloc.h"

#define FUZZ_TURNS 16 /* loop turns per piece, and after the last */

/* The control byte. */
#define FUZZ_HTTP    0x01 /* an HTTP proxy (else SOCKS5) */
#define FUZZ_LOGIN   0x02 /* with user:pass in the URL */
#define FUZZ_EOF     0x04 /* the proxy closes after its bytes */
#define FUZZ_TARGET  0x18 /* the esp: a name, IPv4, IPv6, a long name */
#define FUZZ_PIECES  0x60 /* the reply comes in 1 to 4 pieces */
#define FUZZ_REFUSED 0x80 /* the connect to the proxy fails */

/* A connect in progress: done on the next loop turn. */
struct connector {
	struct event *cn_ev;
	evutil_socket_t cn_fd;
	int cn_err;
	connector_cb cn_cb;
	void *cn_arg;
};

static struct {
	uint8_t f_ctl;
	int f_proxy; /* the proxy's end of the socketpair, or -1 */
	int f_called;
} fz;

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* As the daemons do: no SIGPIPE; quiet logs. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	log_init("fuzz_via", 0, 0);
	return 0;
}

/* The stub connect finishes. */
static void
fuzz_connectedev(evutil_socket_t fd, short what, void *arg)
{
	struct connector *cn = arg;
	connector_cb cb = cn->cn_cb;
	void *cbarg = cn->cn_arg;
	int err = cn->cn_err;

	(void)fd;
	(void)what;
	fd = cn->cn_fd;
	event_free(cn->cn_ev);
	free(cn);
	cb(fd, err, cbarg);
}

/* Stub: "connect" to the proxy, a socketpair, unless it is refused. */
struct connector *
connector_start(struct event_base *base, const struct sockaddr *sa,
    socklen_t len, int timeout_ms, connector_cb cb, void *arg)
{
	struct connector *cn = xcalloc(1, sizeof *cn);
	int fds[2];

	(void)sa;
	(void)len;
	(void)timeout_ms;
	cn->cn_fd = -1;
	cn->cn_err = ECONNREFUSED;
	if (!(fz.f_ctl & FUZZ_REFUSED) &&
	    socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0) {
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		fcntl(fds[1], F_SETFL, O_NONBLOCK);
		cn->cn_fd = fds[0];
		cn->cn_err = 0;
		fz.f_proxy = fds[1];
	}
	cn->cn_cb = cb;
	cn->cn_arg = arg;
	cn->cn_ev = event_new(base, -1, 0, fuzz_connectedev, cn);
	event_active(cn->cn_ev, EV_TIMEOUT, 0);
	return cn;
}

/* Stub: give up on a connect. */
void
connector_cancel(struct connector *cn)
{
	if (cn->cn_fd >= 0)
		close(cn->cn_fd);
	event_free(cn->cn_ev);
	free(cn);
}

/* via_connect is done: through the proxy, or not, and why. */
static void
fuzz_donecb(evutil_socket_t fd, int err, const char *why, void *arg)
{
	(void)err;
	(void)arg;
	if (fd < 0 && why == NULL)
		abort(); /* a failure always says why */
	log_info("fuzz: %s", fd >= 0 ? "through the proxy" : why);
	if (fd >= 0)
		close(fd);
	fz.f_called++;
}

/* Run the loop some turns, throwing away what the proxy is sent. */
static void
fuzz_spin(struct event_base *base)
{
	char buf[4096];
	int i;

	for (i = 0; i < FUZZ_TURNS && fz.f_called == 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		while (fz.f_proxy >= 0 && read(fz.f_proxy, buf, sizeof buf) > 0)
			;
	}
}

/* One proxy connection, served the input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const targets[] = { "esp.example.net", "192.0.2.10",
		"2001:db8::10",
		"a-rather-long-name-for-the-esp-to-be-sure-it-fits.example" };
	struct event_base *base;
	struct via_conf vc;
	struct via_req *vr;
	char url[128], *cause = NULL;
	size_t n, off, each;

	if (size < 1)
		return 0;
	fz.f_ctl = data[0];
	fz.f_proxy = -1;
	fz.f_called = 0;
	data++;
	size--;
	if (!(fz.f_ctl & FUZZ_LOGIN))
		snprintf(url, sizeof url, "%s://127.0.0.1:3128",
		    (fz.f_ctl & FUZZ_HTTP) ? "http" : "socks5");
	else if (fz.f_ctl & FUZZ_HTTP)
		snprintf(url, sizeof url,
		    "http://user:p%%40ss:w@127.0.0.1:3128");
	else
		snprintf(url, sizeof url, "socks5h://us%%3Aer:p@ss@[::1]:1080");
	if (via_parse(url, &vc, &cause) != 0)
		abort(); /* our own URLs are valid */

	base = event_base_new();
	vr =
	    via_connect(base, NULL, &vc, targets[(fz.f_ctl & FUZZ_TARGET) >> 3],
		"4430", 10000, fuzz_donecb, NULL);
	fuzz_spin(base);
	n = 1 + ((fz.f_ctl & FUZZ_PIECES) >> 5);
	each = size / n + 1;
	for (off = 0; fz.f_proxy >= 0 && off < size && fz.f_called == 0;
	     off += each) {
		if (each > size - off)
			each = size - off;
		if (send(fz.f_proxy, data + off, each, MSG_NOSIGNAL) < 0)
			break;
		fuzz_spin(base);
	}
	if (fz.f_proxy >= 0 && (fz.f_ctl & FUZZ_EOF))
		shutdown(fz.f_proxy, SHUT_WR);
	fuzz_spin(base);
	if (fz.f_called > 1 || (vr == NULL && fz.f_called == 0))
		abort(); /* the callback runs exactly once, or never */
	if (fz.f_called == 0)
		via_cancel(vr);
	if (fz.f_proxy >= 0)
		close(fz.f_proxy);
	via_conf_clear(&vc);
	event_base_free(base);
	return 0;
}
