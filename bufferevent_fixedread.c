/*
 * Reads without FIONREAD for the socket bufferevents of HTTP server
 * connections.
 *
 * A socket bufferevent in libevent 2.1.12 reads from its read event's
 * callback through evbuffer_read. That function first queries how many
 * bytes are waiting (ioctl FIONREAD), then reads at most that many and at
 * most 4096 (EVBUFFER_MAX_READ). On a keep-alive HTTP connection, where a
 * request arrives whole, the ioctl is a third system call per request next
 * to the read and the write.
 *
 * golibevent_bev_use_fixed_reads gives a socket bufferevent's read event
 * the callback below, which does what the bufferevent's own callback does
 * but reserves room for 4096 bytes in the input and reads without querying
 * first. A read then takes what the socket holds, up to the same limits:
 * 4096 bytes, the room left below the high watermark, the maximum single
 * read and the rate limits, whose buckets it charges. As before, a read
 * thaws the input's frozen end for the read, and the read callback runs
 * when the input reaches the low watermark. A timeout, the end of the
 * stream and an error disable reading and give the event callback
 * BEV_EVENT_READING with BEV_EVENT_TIMEOUT, BEV_EVENT_EOF or
 * BEV_EVENT_ERROR. A read with nothing to take (EAGAIN) waits for the next
 * readable pass.
 *
 * Two things differ from libevent's callback. The first is on purpose: the
 * end of the stream does not end reading while a reply goes out (evhttp
 * has set no read callback then) or the output contains data. A client may
 * shut down its sending side after a request and still read the reply, but
 * evhttp takes the end of the stream for a lost connection and drops what
 * it has not written yet. The callback turns reading off instead, and the
 * first read after evhttp turns it on again for the next request reports
 * the end.
 *
 * The second is memory: when the input's last chain has less room than the
 * read may take, the input gets a chain with room for 4096 bytes, where
 * evbuffer_read would size it for the bytes that are waiting. evhttp drains
 * a request's bytes as it parses them, and an empty chain goes back to the
 * allocation cache.
 *
 * The package uses it only on the incoming connections of the HTTP servers
 * that it owns, whose sockets are accepted and never connect: the
 * connection refused case of bufferevent_readcb does not arise there.
 * bufferevent_setfd puts libevent's own callback back.
 */
#include "cgo_callbacks.h"
#include "libevent_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

/* EVBUFFER_MAX_READ of libevent 2.1.12's buffer.c. */
#define FIXED_READ_MAX 4096

/* What the callback did in the process, for tests: reads that took data,
 * the ends of reading by the end of the stream, an error and a timeout,
 * and ends of the stream held back while a reply was written. */
static atomic_long fixed_read_counts[5];

static void count_fixed_read(int kind)
{
	atomic_fetch_add_explicit(&fixed_read_counts[kind], 1,
	    memory_order_relaxed);
}

static void fixed_read_cb(evutil_socket_t fd, short flags, void *arg)
{
	struct bufferevent *bev = arg;
	struct evbuffer *input = bev->input;
	struct evbuffer_iovec vecs[2];
	struct iovec iov[2];
	short events = BEV_EVENT_READING;
	ev_ssize_t howmuch = FIXED_READ_MAX, readmax;
	ssize_t n;
	size_t left;
	int nvecs, i;

	bufferevent_incref_and_lock_(bev);
	if (flags == EV_TIMEOUT) {
		/* When a pass finds data as the timeout expires, flags also has
		 * EV_READ, and the callback reads. */
		events |= BEV_EVENT_TIMEOUT;
		count_fixed_read(GOLIBEVENT_FIXED_READ_TIMEOUT);
		goto fail;
	}
	if (bev->wm_read.high != 0) {
		size_t len = evbuffer_get_length(input);
		if (len >= bev->wm_read.high) {
			bufferevent_suspend_read_(bev, BEV_SUSPEND_WM);
			goto done;
		}
		if (bev->wm_read.high - len < (size_t)howmuch)
			howmuch = (ev_ssize_t)(bev->wm_read.high - len);
	}
	/* In a suspended rate limit group, this call suspends reading and
	 * returns 0. */
	readmax = bufferevent_get_read_max_(bev);
	if (readmax <= 0)
		goto done;
	if (howmuch > readmax)
		howmuch = readmax;

	evbuffer_unfreeze(input, 0);
	nvecs = evbuffer_reserve_space(input, howmuch, vecs, 2);
	if (nvecs <= 0) {
		evbuffer_freeze(input, 0);
		events |= BEV_EVENT_ERROR;
		count_fixed_read(GOLIBEVENT_FIXED_READ_ERROR);
		goto fail;
	}
	/* The reserved room can be larger than requested. */
	left = (size_t)howmuch;
	for (i = 0; i < nvecs && left > 0; i++) {
		iov[i].iov_base = vecs[i].iov_base;
		iov[i].iov_len = vecs[i].iov_len < left ? vecs[i].iov_len : left;
		left -= iov[i].iov_len;
	}
	n = readv(fd, iov, i);
	if (n > 0) {
		left = (size_t)n;
		for (i = 0; i < nvecs && left > 0; i++) {
			if (vecs[i].iov_len > left)
				vecs[i].iov_len = left;
			left -= vecs[i].iov_len;
		}
		evbuffer_commit_space(input, vecs, i);
	}
	evbuffer_freeze(input, 0);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			goto done;
		events |= BEV_EVENT_ERROR;
		count_fixed_read(GOLIBEVENT_FIXED_READ_ERROR);
		goto fail;
	}
	if (n == 0) {
		/* evhttp takes the end of the stream for a lost connection and
		 * drops the rest of a reply, but a client that shut down only
		 * its sending side still reads. While a reply goes out, evhttp
		 * sets no read callback, and between two chunks the output can
		 * be empty. Reading stops instead, and the read after the
		 * reply, when evhttp turns reading on again, finds the end. */
		if (bev->readcb == NULL || evbuffer_get_length(bev->output) > 0) {
			count_fixed_read(GOLIBEVENT_FIXED_READ_EOF_HELD);
			bufferevent_disable(bev, EV_READ);
			goto done;
		}
		events |= BEV_EVENT_EOF;
		count_fixed_read(GOLIBEVENT_FIXED_READ_EOF);
		goto fail;
	}
	count_fixed_read(GOLIBEVENT_FIXED_READ_DATA);
	bufferevent_decrement_read_buckets_(bev, n);
	if (evbuffer_get_length(input) >= bev->wm_read.low)
		bufferevent_run_readcb_(bev, 0);
	goto done;

fail:
	bufferevent_disable(bev, EV_READ);
	bufferevent_run_eventcb_(bev, events, 0);
done:
	bufferevent_decref_and_unlock_(bev);
}

int golibevent_bev_use_fixed_reads(struct bufferevent *bev)
{
	struct event *ev = &bev->ev_read;
	evutil_socket_t fd;
	int priority, r = -1;

	if (bev->be_ops != &bufferevent_ops_socket)
		return -1;
	bufferevent_lock(bev);
	fd = event_get_fd(ev);
	if (event_get_callback(ev) == fixed_read_cb) {
		r = 0;
	} else if (fd >= 0 && event_get_callback_arg(ev) == bev &&
	    !event_pending(ev, EV_READ | EV_TIMEOUT, NULL)) {
		/* The event is neither added nor active, so it can take a new
		 * callback. event_assign resets the priority. */
		priority = event_get_priority(ev);
		if (event_assign(ev, event_get_base(ev), fd, event_get_events(ev),
		    fixed_read_cb, bev) == 0) {
			event_priority_set(ev, priority);
			r = 0;
		}
	}
	bufferevent_unlock(bev);
	return r;
}

int golibevent_bev_fixed_reads(struct bufferevent *bev)
{
	return event_get_callback(&bev->ev_read) == fixed_read_cb;
}

long golibevent_bev_fixed_read_count(int kind)
{
	return atomic_load_explicit(&fixed_read_counts[kind],
	    memory_order_relaxed);
}
