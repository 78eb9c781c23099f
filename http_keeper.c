/*
 * A second read event on each connection of a server that the package owns
 * on the epoll backend.
 *
 * evhttp 2.1.12 disables reading on a server connection once it has read a
 * request and enables it again when it sends the reply. On a base without
 * the changelist each of those turns is an epoll_ctl call (EPOLL_CTL_DEL,
 * then EPOLL_CTL_ADD), and a keep-alive request costs four epoll_ctl calls.
 * libevent registers a descriptor with epoll once for all the events on it
 * and calls epoll_ctl only when the union of their interests changes
 * (evmap.c). A persistent read event of the package's own on the same
 * descriptor, the keeper, keeps the read interest in that union, so that
 * evhttp's turns change no registration and a request costs two epoll_ctl
 * calls: those of the write event, which replies written at once
 * (http_direct.c) save too. The poll and select backends make no
 * system call per change, and there a keeper would only cost a callback
 * per readable pass, so the package adds none (connHandling in
 * http_keeper.go).
 *
 * The keeper's callback does nothing while the bufferevent reads. When
 * the bufferevent does not read (evhttp has disabled reading, or a
 * watermark or rate limit suspended it), a readable descriptor would make
 * the level-triggered keeper run on every pass of the loop. So the keeper
 * removes itself after KEEPER_IDLE_PASSES passes in a row in which no data
 * reached the bufferevent's input, and the input buffer's callback adds it
 * again when data arrives.
 *
 * The keeper must leave the base before the descriptor is closed, or
 * libevent would keep the read interest for the number and never register
 * the next socket that reuses it. evhttp calls the connection's close
 * callback before it closes the descriptor, in evhttp_connection_free and
 * evhttp_connection_reset_, so the keeper owns that callback. The package
 * never sets another close callback on a server connection, and it adds no
 * keeper to a server that C code owns (WrapHTTPServer).
 *
 * Keepers are found by descriptor in a two-level table, because evhttp has
 * no field for user data on a connection. Only the loop thread of a
 * connection's base reads or writes the slot of its descriptor, and the
 * slot is cleared before the descriptor is closed, so a later owner of the
 * number starts from an empty slot.
 */
#include "http_cgo.h"

#include <stdatomic.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define KEEPER_IDLE_PASSES 2

#define KEEPER_PAGE_BITS 10
#define KEEPER_PAGE_SIZE (1 << KEEPER_PAGE_BITS)
#define KEEPER_PAGES 1024
/* Descriptors from KEEPER_MAX_FD up get no keeper. */
#define KEEPER_MAX_FD (KEEPER_PAGES * KEEPER_PAGE_SIZE)

struct poll_keeper {
	struct event *ev;
	struct evbuffer *input;
	struct evbuffer_cb_entry *input_cb;
	evutil_socket_t fd;
	unsigned idle_passes;
};

typedef _Atomic(struct poll_keeper *) keeper_slot;

/* Pages are allocated on first use and kept for the life of the process. */
static _Atomic(keeper_slot *) keeper_pages[KEEPER_PAGES];
static atomic_long keepers_live;
/* Runs of keeper_read_cb, for tests. */
static atomic_long keeper_passes;

static keeper_slot *keeper_slot_for(evutil_socket_t fd, int create)
{
	keeper_slot *page, *fresh = NULL;

	if (fd < 0 || fd >= KEEPER_MAX_FD)
		return NULL;
	page = atomic_load(&keeper_pages[fd >> KEEPER_PAGE_BITS]);
	if (page == NULL && create) {
		fresh = calloc(KEEPER_PAGE_SIZE, sizeof(*fresh));
		if (fresh == NULL)
			return NULL;
		/* Another loop thread may install a page at the same time. */
		if (atomic_compare_exchange_strong(
		    &keeper_pages[fd >> KEEPER_PAGE_BITS], &page, fresh))
			page = fresh;
		else
			free(fresh);
	}
	if (page == NULL)
		return NULL;
	return &page[fd & (KEEPER_PAGE_SIZE - 1)];
}

static void keeper_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct poll_keeper *keeper = arg;

	(void)fd;
	(void)what;
	atomic_fetch_add_explicit(&keeper_passes, 1, memory_order_relaxed);
	if (++keeper->idle_passes >= KEEPER_IDLE_PASSES)
		event_del(keeper->ev);
}

static void keeper_input_cb(struct evbuffer *input,
    const struct evbuffer_cb_info *info, void *arg)
{
	struct poll_keeper *keeper = arg;

	(void)input;
	if (info->n_added == 0)
		return;
	keeper->idle_passes = 0;
	if (!event_pending(keeper->ev, EV_READ, NULL))
		event_add(keeper->ev, NULL);
}

static void keeper_free(struct poll_keeper *keeper)
{
	keeper_slot *slot = keeper_slot_for(keeper->fd, 0);

	if (slot != NULL)
		atomic_store(slot, NULL);
	evbuffer_remove_cb_entry(keeper->input, keeper->input_cb);
	event_free(keeper->ev);
	free(keeper);
	atomic_fetch_sub(&keepers_live, 1);
}

static void keeper_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct poll_keeper *keeper = arg;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	keeper_free(keeper);
}

void golibevent_http_keep_polled(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	struct poll_keeper *keeper;
	keeper_slot *slot;
	evutil_socket_t fd;

	if (evcon == NULL)
		return;
	bev = evhttp_connection_get_bufferevent(evcon);
	fd = bufferevent_getfd(bev);
	slot = keeper_slot_for(fd, 1);
	if (slot == NULL)
		return;
	keeper = atomic_load(slot);
	if (keeper != NULL)
		return;

	keeper = calloc(1, sizeof(*keeper));
	if (keeper == NULL)
		return;
	keeper->fd = fd;
	keeper->input = bufferevent_get_input(bev);
	keeper->ev = event_new(bufferevent_get_base(bev), fd,
	    EV_READ | EV_PERSIST, keeper_read_cb, keeper);
	if (keeper->ev == NULL) {
		free(keeper);
		return;
	}
	keeper->input_cb = evbuffer_add_cb(keeper->input, keeper_input_cb,
	    keeper);
	if (keeper->input_cb == NULL || event_add(keeper->ev, NULL) != 0) {
		if (keeper->input_cb != NULL)
			evbuffer_remove_cb_entry(keeper->input, keeper->input_cb);
		event_free(keeper->ev);
		free(keeper);
		return;
	}
	atomic_fetch_add(&keepers_live, 1);
	atomic_store(slot, keeper);
	evhttp_connection_set_closecb(evcon, keeper_close_cb, keeper);
}

long golibevent_http_keepers_live(void)
{
	return atomic_load(&keepers_live);
}

long golibevent_http_keeper_passes(void)
{
	return atomic_load_explicit(&keeper_passes, memory_order_relaxed);
}
