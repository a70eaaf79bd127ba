/*
 * Echo server for the connection and idle-channel figures:
 * "echo -l ADDR:PORT ...". One libevent loop; every byte read is written
 * back; a connection ends when the peer closes. Holds tens of thousands of
 * idle connections cheaply.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

/* Bytes arrived: send them back. */
static void
echo_readcb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(bufferevent_get_output(bev),
	    bufferevent_get_input(bev));
}

/* EOF or error: the connection is over. */
static void
echo_eventcb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

/* A new connection. */
static void
echo_acceptcb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct event_base *base = arg;
	struct bufferevent *bev;

	(void)l;
	(void)sa;
	(void)salen;
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, echo_readcb, NULL, echo_eventcb, NULL);
	bufferevent_enable(bev, EV_READ);
}

/* Out of descriptors or similar: say so, keep going. */
static void
echo_errorcb(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	perror("echo: accept");
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evconnlistener *l;
	struct bench_addr a;
	int opt, n = 0;

	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	if ((base = event_base_new()) == NULL)
		return 1;
	while ((opt = getopt(argc, argv, "l:")) != -1) {
		if (opt != 'l' || bench_parse(optarg, &a) != 0) {
			fprintf(stderr, "usage: echo -l ADDR:PORT ...\n");
			return 2;
		}
		l = evconnlistener_new_bind(base, echo_acceptcb, base,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
		    (struct sockaddr *)&a.ba_ss, a.ba_len);
		if (l == NULL) {
			fprintf(stderr, "echo: cannot listen on %s\n", optarg);
			return 1;
		}
		evconnlistener_set_error_cb(l, echo_errorcb);
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "usage: echo -l ADDR:PORT ...\n");
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
