/* Test client: libevent (epoll backend) bufferevent connect and fetch.
 *
 * evclient HOST PORT PATH: body on stdout; a failed connect prints
 * "errno=NAME" on stderr and exits 3. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

static int ev_connected, ev_failed, ev_inbody;
static const char *ev_path;

/* Copy what arrived: headers are dropped once. */
static void
ev_readcb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr p;

	(void)arg;
	if (!ev_inbody) {
		p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (p.pos == -1)
			return;
		evbuffer_drain(in, (size_t)p.pos + 4);
		ev_inbody = 1;
	}
	evbuffer_write(in, 1);
}

/* Connected, failed or finished. */
static void
ev_eventcb(struct bufferevent *bev, short what, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	if (what & BEV_EVENT_CONNECTED) {
		ev_connected = 1;
		bufferevent_enable(bev, EV_READ);
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", ev_path);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if (!ev_connected)
			fprintf(stderr, "evclient: connect: errno=%s (%s)\n",
			    strerrorname_np(err), strerror(err));
		ev_failed = 1;
	}
	if (what & BEV_EVENT_EOF)
		ev_readcb(bev, NULL);
	event_base_loopexit(bufferevent_get_base(bev), NULL);
}

/* Connect with a bufferevent and run the loop. */
int
main(int argc, char **argv)
{
	struct event_base *base;
	struct bufferevent *bev;
	struct addrinfo hints, *ai;
	struct timeval tv = { 30, 0 };

	if (argc != 4)
		return 1;
	ev_path = argv[3];
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0)
		return 2;
	base = event_base_new();
	fprintf(stderr, "evclient: backend %s\n", event_base_get_method(base));
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, ev_readcb, NULL, ev_eventcb, NULL);
	if (bufferevent_socket_connect(bev, ai->ai_addr, (int)ai->ai_addrlen) !=
	    0) {
		fprintf(stderr, "evclient: connect: errno=%s\n",
		    strerrorname_np(errno));
		return 3;
	}
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	bufferevent_free(bev);
	event_base_free(base);
	freeaddrinfo(ai);
	if (!ev_connected)
		return 3;
	return ev_failed ? 4 : 0;
}
