/*
 * Replies that the package's shim writes to the socket at once.
 *
 * evhttp 2.1.12 sends a reply by queueing it in the bufferevent's output
 * and enabling writing. A socket bufferevent then adds its write event,
 * and the loop waits until the descriptor is writable. Its write callback
 * writes the reply and removes the write event, and evhttp's write
 * callback finishes the request. On the epoll backend without the
 * changelist, the add and the remove are two epoll_ctl calls per reply,
 * and the write waits for another pass of the loop.
 *
 * A full reply from golibevent_http_send_reply, on a socket bufferevent
 * with an empty output, is written at once instead. Writing is suspended
 * while evhttp queues the reply, so that enabling it adds no event. The
 * shim then writes the output to the descriptor as the bufferevent's write
 * callback would, within the same rate limits. When the socket took
 * everything, the shim turns writing off again, which costs no system call
 * because the write event was never added, and activates that event
 * without adding it, so that the bufferevent's write callback runs from
 * the loop. evhttp thus finishes the request from the loop, as before.
 * When the socket takes only part of the reply, or the write fails, the
 * shim lifts the suspension with writing enabled: the write event is
 * added, and the rest goes the usual way, with its timeout and its error
 * handling.
 *
 * Chunked replies, error replies, and replies on connections whose
 * bufferevent is not a socket one (TLS, or a filter from
 * SetBufferEventFunc) take the usual way.
 */
#include "http_cgo.h"
#include "libevent_internal.h"

#include <stdatomic.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

/* The package's own reason for suspending writing, outside the bits that
 * libevent uses. */
#define SUSPEND_DIRECT_REPLY ((bufferevent_suspend_flags)0x4000)

/* Replies written at once in the process, for tests. */
static atomic_long direct_replies;

long golibevent_http_direct_replies(void)
{
	return atomic_load_explicit(&direct_replies, memory_order_relaxed);
}

/* direct_bufferevent returns the bufferevent of the request's connection
 * when a reply can be written at once on it, and NULL otherwise. */
static struct bufferevent *direct_bufferevent(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	if (bev == NULL || bev->be_ops != &bufferevent_ops_socket ||
	    bufferevent_getfd(bev) < 0 ||
	    evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return NULL;
	return bev;
}

void golibevent_http_reply_direct(struct evhttp_request *req, int code,
    const char *reason)
{
	struct bufferevent *bev = direct_bufferevent(req);
	struct evbuffer *out;

	if (bev == NULL) {
		evhttp_send_reply(req, code, reason, NULL);
		return;
	}
	bufferevent_lock(bev);
	bufferevent_suspend_write_(bev, SUSPEND_DIRECT_REPLY);
	evhttp_send_reply(req, code, reason, NULL);
	out = bufferevent_get_output(bev);
	golibevent_bev_write_atmost(bev, out, bufferevent_get_max_to_write(bev));
	if (evbuffer_get_length(out) == 0) {
		bufferevent_disable(bev, EV_WRITE);
		bufferevent_unsuspend_write_(bev, SUSPEND_DIRECT_REPLY);
		/* The write event was never added. Activated, it runs the
		 * bufferevent's write callback from the loop, which finds the
		 * output empty and calls evhttp's. Nothing else adds to the
		 * output until evhttp has finished the request there, and
		 * bufferevent_free removes the activation. */
		event_active(&bev->ev_write, EV_WRITE, 1);
		atomic_fetch_add_explicit(&direct_replies, 1,
		    memory_order_relaxed);
	} else {
		bufferevent_unsuspend_write_(bev, SUSPEND_DIRECT_REPLY);
	}
	bufferevent_unlock(bev);
}
