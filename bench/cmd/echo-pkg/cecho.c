#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "cecho.h"

static void cecho_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(bufferevent_get_output(bev),
	    bufferevent_get_input(bev));
}

static void cecho_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void cecho_accept_cb(struct evconnlistener *listener,
    evutil_socket_t fd, struct sockaddr *peer, int peer_len, void *arg)
{
	struct event_base *base = arg;
	struct bufferevent *bev;
	(void)listener;
	(void)peer;
	(void)peer_len;

	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, cecho_read_cb, NULL, cecho_event_cb, NULL);
	if (bufferevent_enable(bev, EV_READ) != 0)
		bufferevent_free(bev);
}

int cecho_run(int port)
{
	struct event_base *base = event_base_new();
	struct evconnlistener *listener;
	struct sockaddr_in sin;
	socklen_t sin_len = sizeof(sin);

	if (base == NULL) {
		fprintf(stderr, "echo-pkg: event_base_new failed\n");
		return -1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = evconnlistener_new_bind(base, cecho_accept_cb, base,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&sin, sizeof(sin));
	if (listener == NULL) {
		fprintf(stderr, "echo-pkg: cannot listen on 127.0.0.1:%d: %s\n",
		    port, strerror(errno));
		return -1;
	}
	if (getsockname(evconnlistener_get_fd(listener),
		(struct sockaddr *)&sin, &sin_len) != 0) {
		perror("echo-pkg: getsockname");
		return -1;
	}
	printf("listening 127.0.0.1:%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return event_base_dispatch(base);
}
