#include "cbev.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void cbev_read_cb(struct bufferevent *bev, void *arg)
{
	struct cbev *c = arg;
	evbuffer_add_buffer(c->received, bufferevent_get_input(bev));
	__atomic_add_fetch(&c->reads, 1, __ATOMIC_SEQ_CST);
}

static void cbev_write_cb(struct bufferevent *bev, void *arg)
{
	struct cbev *c = arg;
	(void)bev;
	__atomic_add_fetch(&c->writes, 1, __ATOMIC_SEQ_CST);
}

static void cbev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct cbev *c = arg;
	(void)bev;
	(void)what;
	__atomic_add_fetch(&c->events, 1, __ATOMIC_SEQ_CST);
}

struct cbev *cbev_new(struct event_base *base, int options)
{
	struct cbev *c;
	int fds[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->peer = fds[1];
	c->received = evbuffer_new();
	if (c->received == NULL || evbuffer_enable_locking(c->received, NULL) != 0)
		goto fail;
	if (evutil_make_socket_nonblocking(fds[0]) != 0)
		goto fail;
	c->bev = bufferevent_socket_new(base, fds[0],
	    options | BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto fail;
	bufferevent_setcb(c->bev, cbev_read_cb, cbev_write_cb, cbev_event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
		bufferevent_free(c->bev);
		c->bev = NULL;
		fds[0] = -1;
		goto fail;
	}
	return c;

fail:
	if (fds[0] >= 0)
		close(fds[0]);
	close(fds[1]);
	if (c != NULL) {
		if (c->received != NULL)
			evbuffer_free(c->received);
		free(c);
	}
	return NULL;
}

void cbev_free(struct cbev *c)
{
	bufferevent_free(c->bev);
	close(c->peer);
	evbuffer_free(c->received);
	free(c);
}

int cbev_count(struct cbev *c, int which)
{
	int *counter = &c->events;

	if (which == 0)
		counter = &c->reads;
	else if (which == 1)
		counter = &c->writes;
	return __atomic_load_n(counter, __ATOMIC_SEQ_CST);
}

size_t cbev_take_received(struct cbev *c, char *out, size_t len)
{
	int n = evbuffer_remove(c->received, out, len);
	return n > 0 ? (size_t)n : 0;
}

int cbev_has_own_callbacks(struct cbev *c)
{
	bufferevent_data_cb read, write;
	bufferevent_event_cb event;
	void *arg;

	bufferevent_getcb(c->bev, &read, &write, &event, &arg);
	return read == cbev_read_cb && write == cbev_write_cb &&
	    event == cbev_event_cb && arg == c;
}
