/*
 * Write-through for socket bufferevents (BufferEvent.SetWriteThrough), and
 * the package's calls that add to a bufferevent's output.
 *
 * A socket bufferevent in libevent 2.1.12 writes only from the loop. Data
 * added to the output adds the write event, and the loop waits until the
 * descriptor is writable. The write callback then writes, and it removes
 * the event once the output is empty. On the epoll backend without the
 * changelist the add and the remove are two epoll_ctl calls for each burst
 * of output, and the data waits for the next pass of the loop.
 *
 * With write-through on, the package's calls that add to the output first
 * write to the socket themselves when the bufferevent would write at once
 * anyway: writing is enabled, the output is empty, no write event is
 * pending (so no connect is in progress either) and the rate limits allow
 * a write. Only what the socket does not take goes to the output, where it
 * adds the write event as usual. The write obeys the maximum single write
 * and the rate limits, and counts against them, as bufferevent_writecb's
 * does. When the socket took everything, the user's write callback runs
 * from the loop, as after a write by the loop (see wrote).
 */
#include "cgo_callbacks.h"
#include "libevent_internal.h"

#include <errno.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

int golibevent_bev_set_write_through(struct golibevent_bev *st, int on)
{
	if (on && st->bev->be_ops != &bufferevent_ops_socket) {
		errno = EOPNOTSUPP;
		return -1;
	}
	bufferevent_lock(st->bev);
	if (on)
		st->write_through |= WRITE_THROUGH_ON;
	else
		st->write_through &= ~WRITE_THROUGH_ON;
	bufferevent_unlock(st->bev);
	return 0;
}

int golibevent_bev_write_through(struct golibevent_bev *st)
{
	int on;

	bufferevent_lock(st->bev);
	on = (st->write_through & WRITE_THROUGH_ON) != 0;
	bufferevent_unlock(st->bev);
	return on;
}

/* The finalizer of the write-through event, which has nothing of its own
 * to release: event_free_finalize frees the event after it. */
static void finalize_write_event(struct event *ev, void *arg)
{
	(void)ev;
	(void)arg;
}

void golibevent_bev_write_through_release(struct golibevent_bev *st)
{
	if (st->write_through & WRITE_THROUGH_EVENT) {
		/* The loop may be running the event's callback on another
		 * thread, waiting for the lock that the caller holds, and
		 * event_free would wait for it. event_free_finalize frees the
		 * event from the loop instead; the bufferevent's memory, which
		 * that callback uses, stays until bufferevent_free's own
		 * finalizer, which runs after it. */
		event_free_finalize(0, st->u.write_event, finalize_write_event);
		st->u.write_event = NULL;
	}
	st->write_through = 0;
}

/* write_limit returns how many bytes may be written to the socket at once
 * now, or 0 when nothing may. A pending write event, as during a connect
 * or after libevent enabled writing on an empty output, leaves the write
 * to the loop. The caller holds the bufferevent's lock. */
static ev_ssize_t write_limit(struct golibevent_bev *st)
{
	struct bufferevent *bev = st->bev;

	if (!(st->write_through & WRITE_THROUGH_ON) ||
	    bufferevent_getfd(bev) < 0 ||
	    !(bufferevent_get_enabled(bev) & EV_WRITE) ||
	    evbuffer_get_length(bufferevent_get_output(bev)) != 0 ||
	    event_pending(&bev->ev_write, EV_WRITE, NULL))
		return 0;
	return bufferevent_get_max_to_write(bev);
}

static void run_write_callback(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bufferevent_trigger(arg, EV_WRITE, 0);
}

int golibevent_bev_write_atmost(struct bufferevent *bev, struct evbuffer *src,
    ev_ssize_t max)
{
	int frozen = src == bufferevent_get_output(bev);
	int n;

	if (max <= 0 || evbuffer_get_length(src) == 0)
		return 0;
	/* A socket bufferevent freezes the start of its output, so that only
	 * its write callback drains it. That callback thaws it for the write
	 * in the same way. */
	if (frozen)
		evbuffer_unfreeze(src, 1);
	n = evbuffer_write_atmost(src, bufferevent_getfd(bev), max);
	if (frozen)
		evbuffer_freeze(src, 1);
	if (n <= 0)
		return 0;
	bufferevent_decrement_write_buckets_(bev, n);
	return n;
}

/* wrote schedules the write callback after a write at once that the
 * socket took whole: it activates the bufferevent's write-through event,
 * whose callback runs from the loop and calls bufferevent_trigger. The
 * user's write callback then runs if the output is at or below the low
 * watermark. Several writes before the loop runs make one activation, so
 * the write callback runs once for them, as after one write by the loop.
 * The caller holds the bufferevent's lock. */
static void wrote(struct golibevent_bev *st)
{
	struct bufferevent *bev = st->bev;
	struct event *ev;

	if (bev->writecb == NULL)
		return;
	if (!(st->write_through & WRITE_THROUGH_EVENT)) {
		ev = event_new(bufferevent_get_base(bev), -1, 0,
		    run_write_callback, bev);
		if (ev == NULL) {
			/* Out of memory: a deferred callback needs no
			 * allocation. */
			bufferevent_trigger(bev, EV_WRITE,
			    BEV_TRIG_DEFER_CALLBACKS);
			return;
		}
		st->u.write_event = ev;
		st->write_through |= WRITE_THROUGH_EVENT;
	}
	event_active(st->u.write_event, EV_WRITE, 1);
}

int golibevent_bev_write(struct golibevent_bev *st, const void *data,
    size_t len)
{
	const char *p = data;
	ev_ssize_t max;
	ssize_t n;
	int r;

	bufferevent_lock(st->bev);
	max = write_limit(st);
	if (max > 0) {
		/* MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE. A
		 * socket bufferevent on a descriptor that is not a socket
		 * gets ENOTSOCK and takes the usual way. */
		n = send(bufferevent_getfd(st->bev), p,
		    (size_t)max < len ? (size_t)max : len, MSG_NOSIGNAL);
		if (n > 0) {
			bufferevent_decrement_write_buckets_(st->bev, n);
			p += n;
			len -= (size_t)n;
			if (len == 0)
				wrote(st);
		}
	}
	r = len > 0 ? bufferevent_write(st->bev, p, len) : 0;
	bufferevent_unlock(st->bev);
	return r;
}

/* write_from writes from src to the socket, at most max bytes, and
 * schedules the write callback when it took everything. The caller holds
 * the bufferevent's lock and src's. */
static void write_from(struct golibevent_bev *st, struct evbuffer *src,
    ev_ssize_t max)
{
	if (golibevent_bev_write_atmost(st->bev, src, max) > 0 &&
	    evbuffer_get_length(src) == 0)
		wrote(st);
}

int golibevent_bev_write_buffer(struct golibevent_bev *st,
    struct evbuffer *src)
{
	ev_ssize_t max;
	int r;

	bufferevent_lock(st->bev);
	max = write_limit(st);
	if (max > 0)
		write_from(st, src, max);
	r = evbuffer_get_length(src) > 0 ?
	    bufferevent_write_buffer(st->bev, src) : 0;
	bufferevent_unlock(st->bev);
	return r;
}

long long golibevent_bev_move_input(struct bufferevent *src,
    struct golibevent_bev *dst)
{
	struct evbuffer *input = bufferevent_get_input(src);
	struct bufferevent *first = src, *second = dst->bev;
	ev_ssize_t max;
	size_t n;
	int r = 0;

	/* The locks keep a thread-safe bufferevent's loop from adding to the
	 * input between the count and the move, and from writing the
	 * destination's output meanwhile. They are taken in address order, as
	 * evbuffer_add_buffer takes the two buffers' locks. */
	if (first > second) {
		first = dst->bev;
		second = src;
	}
	bufferevent_lock(first);
	if (second != first)
		bufferevent_lock(second);
	n = evbuffer_get_length(input);
	max = write_limit(dst);
	if (max > 0)
		write_from(dst, input, max);
	if (evbuffer_get_length(input) > 0)
		r = evbuffer_add_buffer(bufferevent_get_output(dst->bev), input);
	if (second != first)
		bufferevent_unlock(second);
	bufferevent_unlock(first);
	return r == 0 ? (long long)n : -1;
}
