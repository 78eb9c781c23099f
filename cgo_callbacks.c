/*
 * C side of the callback seam. libevent calls the static-signature shims
 * below on the loop thread; each forwards to an exported Go trampoline in
 * cgo_callbacks.go with the registry key it was given. The helpers bundle
 * several libevent calls, or a struct timeval, into one cgo crossing.
 */
#include "cgo_callbacks.h"
#include "_cgo_export.h"

#include <event2/event_struct.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Counts the Go callbacks run on this thread; golibevent_loop_iteration
 * compares it before and after a non-blocking pass. */
static __thread unsigned long golibevent_callbacks_run;

/* The Go callbacks after which golibevent_loop_iteration ends the call of
 * event_base_loop that runs them. With EVLOOP_ONCE, event_base_loop returns
 * only after a pass that leaves no callback active, and a callback
 * scheduled for later (a deferred bufferevent callback, a bufferevent
 * pair's delivery) counts as active. Under steady load each pass then
 * schedules more, the call never returns, and the goroutine never reaches
 * the runtime.Gosched of Base.iterate. Go's monitor thread then keeps
 * taking the loop's processor away (see iterate in base.go): in
 * bench/cmd/http-pkg, with a deferred callback per reply, it woke about
 * 4,000 times a second instead of 100. At an estimated 1 to 6 µs per
 * callback, 1024 callbacks end such a call every 1 to 6 ms. */
#define PASS_CALLBACK_LIMIT 1024

/* The loop iteration that runs on this thread: its base, the value of
 * golibevent_callbacks_run at which its call ends (0 when none runs), and
 * whether it was ended that way. */
static __thread struct event_base *golibevent_pass_base;
static __thread unsigned long golibevent_pass_end;
static __thread int golibevent_pass_ended;
/* Loop calls ended after PASS_CALLBACK_LIMIT callbacks, for tests. */
static atomic_long golibevent_passes_ended;

long golibevent_loop_passes_ended(void)
{
	return atomic_load(&golibevent_passes_ended);
}

static void end_pass(void)
{
	struct event_base *base = golibevent_pass_base;

	/* A break that is already pending ends the call anyway and must reach
	 * the caller as a break. */
	if (base == NULL || event_base_got_break(base))
		return;
	golibevent_pass_ended = 1;
	atomic_fetch_add(&golibevent_passes_ended, 1);
	event_base_loopbreak(base);
}

/* count_callback counts a Go callback that is about to run. */
static inline void count_callback(void)
{
	if (++golibevent_callbacks_run == golibevent_pass_end)
		end_pass();
}

static void golibevent_log_cb(int severity, const char *msg)
{
	/* libevent logs a warning between a failed system call and its return,
	 * and callers read errno after that return, so the Go side must not
	 * change it. */
	int saved_errno = errno;
	goLogCallback(severity, (char *)msg);
	errno = saved_errno;
}

static void golibevent_fatal_cb(int err)
{
	goFatalCallback(err);
}

int golibevent_setup(void)
{
	int r = evthread_use_pthreads();
	event_set_log_callback(golibevent_log_cb);
	event_set_fatal_callback(golibevent_fatal_cb);
	return r;
}

uint64_t golibevent_load_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

uintptr_t golibevent_current_thread(void)
{
	return (uintptr_t)pthread_self();
}

void golibevent_event_cb(evutil_socket_t fd, short what, void *key)
{
	count_callback();
	goEventCallback(fd, what, key);
}

void golibevent_once_cb(evutil_socket_t fd, short what, void *key)
{
	count_callback();
	goOnceCallback(fd, what, key);
}

void golibevent_post_cb(evutil_socket_t fd, short what, void *key)
{
	(void)fd;
	(void)what;
	count_callback();
	goPostCallback(key);
}

static void usec_to_timeval(int64_t usec, struct timeval *tv)
{
	tv->tv_sec = (time_t)(usec / 1000000);
	tv->tv_usec = (suseconds_t)(usec % 1000000);
}

struct event *golibevent_event_new(struct event_base *base, evutil_socket_t fd,
    short what, void *key)
{
	return event_new(base, fd, what, golibevent_event_cb, key);
}

struct event *golibevent_post_event_new(struct event_base *base, void *key)
{
	return event_new(base, -1, 0, golibevent_post_cb, key);
}

int golibevent_event_add(struct event *ev, int64_t timeout_usec)
{
	struct timeval tv;
	if (timeout_usec < 0)
		return event_add(ev, NULL);
	usec_to_timeval(timeout_usec, &tv);
	return event_add(ev, &tv);
}

/* libevent keeps a common timeout's queue number in the high bits of
 * ev_timeout.tv_usec; the low 20 bits are the microseconds. */
#define GOLIBEVENT_MICROSECONDS_MASK 0x000fffff

int golibevent_event_pending(const struct event *ev, short what,
    int64_t *left_usec)
{
	struct timeval deadline, now;
	int r = event_pending(ev, what, NULL);

	*left_usec = 0;
	if (!(r & what & EV_TIMEOUT))
		return r;
	/* event_pending reports the deadline converted to wall-clock time with
	 * a correction that libevent refreshes only every few seconds, which
	 * can put it milliseconds late. The deadline itself is on the base's
	 * monotonic clock, so the time left is computed on that clock.
	 * NOTE: ev_timeout is read without the base lock, which libevent does
	 * not export. A loop thread that re-adds the event at this moment can
	 * make the result wrong once; the pending flags are always exact. */
	deadline = ev->ev_timeout;
	deadline.tv_usec &= GOLIBEVENT_MICROSECONDS_MASK;
	if (event_gettime_monotonic(event_get_base(ev), &now) != 0)
		return r;
	*left_usec = ((int64_t)deadline.tv_sec - (int64_t)now.tv_sec) * 1000000 +
	    ((int64_t)deadline.tv_usec - (int64_t)now.tv_usec);
	if (*left_usec < 0)
		*left_usec = 0;
	return r;
}

int golibevent_base_once(struct event_base *base, evutil_socket_t fd,
    short what, void *key, int64_t timeout_usec)
{
	struct timeval tv;
	if (timeout_usec < 0)
		return event_base_once(base, fd, what, golibevent_once_cb, key, NULL);
	usec_to_timeval(timeout_usec, &tv);
	return event_base_once(base, fd, what, golibevent_once_cb, key, &tv);
}

int golibevent_base_loopexit(struct event_base *base, int64_t delay_usec)
{
	struct timeval tv;
	if (delay_usec < 0)
		return event_base_loopexit(base, NULL);
	usec_to_timeval(delay_usec, &tv);
	return event_base_loopexit(base, &tv);
}

int golibevent_config_set_max_dispatch_interval(struct event_config *cfg,
    int64_t interval_usec, int max_callbacks, int min_priority)
{
	struct timeval tv;
	if (interval_usec < 0)
		return event_config_set_max_dispatch_interval(cfg, NULL,
		    max_callbacks, min_priority);
	usec_to_timeval(interval_usec, &tv);
	return event_config_set_max_dispatch_interval(cfg, &tv, max_callbacks,
	    min_priority);
}

int golibevent_init_common_timeout(struct event_base *base,
    int64_t duration_usec, struct timeval *out)
{
	struct timeval tv;
	const struct timeval *common;
	usec_to_timeval(duration_usec, &tv);
	common = event_base_init_common_timeout(base, &tv);
	if (common == NULL)
		return -1;
	*out = *common;
	return 0;
}

int golibevent_gettimeofday_cached(struct event_base *base, int64_t *sec,
    int32_t *usec)
{
	struct timeval tv;
	int r = event_base_gettimeofday_cached(base, &tv);
	*sec = (int64_t)tv.tv_sec;
	*usec = (int32_t)tv.tv_usec;
	return r;
}

int golibevent_gettime_monotonic(struct event_base *base, int64_t *sec,
    int32_t *usec)
{
	struct timeval tv;
	int r = event_gettime_monotonic(base, &tv);
	*sec = (int64_t)tv.tv_sec;
	*usec = (int32_t)tv.tv_usec;
	return r;
}

int golibevent_loop(struct event_base *base, int flags, uintptr_t *thread)
{
	int r;

	__atomic_store_n(thread, (uintptr_t)pthread_self(), __ATOMIC_RELEASE);
	r = event_base_loop(base, flags);
	__atomic_store_n(thread, 0, __ATOMIC_RELEASE);
	return r;
}

int golibevent_loop_iteration(struct event_base *base, int flags,
    uintptr_t *thread)
{
	unsigned long before = golibevent_callbacks_run;
	/* A callback may run another loop on this thread. */
	struct event_base *outer_base = golibevent_pass_base;
	unsigned long outer_end = golibevent_pass_end;
	int outer_ended = golibevent_pass_ended;
	int ended;
	int r;

	__atomic_store_n(thread, (uintptr_t)pthread_self(), __ATOMIC_RELEASE);
	golibevent_pass_base = base;
	golibevent_pass_end = before + PASS_CALLBACK_LIMIT;
	golibevent_pass_ended = 0;

	/* A pass that does not wait comes first, and the iteration waits for
	 * events only when that pass ran no Go callback. A busy server then
	 * rarely sits in a long cgo call, which Go's scheduler would take for
	 * a blocked thread (see iterate in base.go). */
	r = event_base_loop(base, flags | EVLOOP_ONCE | EVLOOP_NONBLOCK);
	if (r == 0 && golibevent_callbacks_run == before &&
	    !event_base_got_break(base) && !event_base_got_exit(base))
		r = event_base_loop(base, flags | EVLOOP_ONCE);

	ended = golibevent_pass_ended;
	golibevent_pass_base = outer_base;
	golibevent_pass_end = outer_end;
	golibevent_pass_ended = outer_ended;
	/* Between two iterations the goroutine may move to another thread,
	 * and another goroutine may run on this one: no thread is the loop's
	 * until the next iteration starts. */
	__atomic_store_n(thread, 0, __ATOMIC_RELEASE);
	if (r != 0)
		return r;
	/* NOTE: event_base_loopbreak from C code in the same pass, after
	 * end_pass, is taken for end_pass's own break. A break through the
	 * package (Base.LoopBreak) is not lost: iterate checks it. */
	if (ended && !event_base_got_exit(base))
		return 0;
	if (event_base_got_break(base) || event_base_got_exit(base))
		return 2;
	return 0;
}

void *golibevent_event_key(const struct event *ev)
{
	if (ev == NULL || event_get_callback(ev) != golibevent_event_cb)
		return NULL;
	return event_get_callback_arg(ev);
}

struct collect_state {
	void *skip_key;
	struct golibevent_event_info *rows;
	int count;
	int capacity;
	int failed;
};

static int collect_one(const struct event_base *base, const struct event *ev,
    void *arg)
{
	struct collect_state *st = arg;
	struct golibevent_event_info *row;
	(void)base;

	if (event_get_callback(ev) == golibevent_post_cb &&
	    event_get_callback_arg(ev) == st->skip_key)
		return 0;
	if (st->count == st->capacity) {
		int capacity = st->capacity ? st->capacity * 2 : 32;
		void *grown = realloc(st->rows, (size_t)capacity * sizeof(*st->rows));
		if (grown == NULL) {
			st->failed = 1;
			return 1;
		}
		st->rows = grown;
		st->capacity = capacity;
	}
	row = &st->rows[st->count++];
	row->fd = event_get_fd(ev);
	row->events = event_get_events(ev);
	/* event_pending would take the base lock, which
	 * event_base_foreach_event already holds and which is not recursive,
	 * so the same flags are read here directly. */
	row->pending = 0;
	if (ev->ev_evcallback.evcb_flags & EVLIST_INSERTED)
		row->pending |= ev->ev_events &
		    (EV_READ | EV_WRITE | EV_CLOSED | EV_SIGNAL);
	if (ev->ev_evcallback.evcb_flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER))
		row->pending |= ev->ev_res;
	if (ev->ev_evcallback.evcb_flags & EVLIST_TIMEOUT)
		row->pending |= EV_TIMEOUT;
	row->priority = event_get_priority(ev);
	row->internal = (ev->ev_evcallback.evcb_flags & EVLIST_INTERNAL) != 0;
	row->key = golibevent_event_key(ev);
	return 0;
}

int golibevent_collect_events(struct event_base *base, void *skip_key,
    struct golibevent_event_info **rows, int *count)
{
	struct collect_state st;
	memset(&st, 0, sizeof(st));
	st.skip_key = skip_key;
	event_base_foreach_event(base, collect_one, &st);
	if (st.failed) {
		free(st.rows);
		return -1;
	}
	*rows = st.rows;
	*count = st.count;
	return 0;
}

int golibevent_dump_events(struct event_base *base, char **text, size_t *len)
{
	FILE *f = open_memstream(text, len);
	if (f == NULL)
		return -1;
	event_base_dump_events(base, f);
	if (fclose(f) != 0)
		return -1;
	return 0;
}

/* ---- bufferevents ---- */

#include <sys/un.h>
#include <netinet/in.h>

static void golibevent_bev_read_cb(struct bufferevent *bev, void *arg)
{
	struct golibevent_bev *st = arg;
	size_t low, high;

	count_callback();
	__atomic_store_n(&st->in_read_cb, 1, __ATOMIC_SEQ_CST);
	goBufferEventReadCallback(st->key);
	__atomic_store_n(&st->in_read_cb, 0, __ATOMIC_SEQ_CST);
	/* On a base whose loop C code runs, the Go side frees the state at once
	 * when the callback closes the bufferevent, and the free waits for this
	 * shim instead. */
	if (__atomic_load_n(&st->free_pending, __ATOMIC_SEQ_CST)) {
		free(st);
		return;
	}
	/* libevent 2.1 schedules the read callback again at once while reading
	 * is enabled and the input is at or above the high watermark, which
	 * spins when the callback leaves the data for later. Disabling reading
	 * here stops that; golibevent_bev_input_cb enables it again. The input
	 * callback exists once a high read watermark was set. */
	if (st->input_cb == NULL)
		return;
	bufferevent_lock(bev);
	if (bufferevent_getwatermark(bev, EV_READ, &low, &high) == 0 &&
	    high != 0 &&
	    evbuffer_get_length(bufferevent_get_input(bev)) >= high &&
	    (bufferevent_get_enabled(bev) & EV_READ)) {
		st->paused = 1;
		bufferevent_disable(bev, EV_READ);
	}
	bufferevent_unlock(bev);
}

static void golibevent_bev_write_cb(struct bufferevent *bev, void *arg)
{
	struct golibevent_bev *st = arg;
	(void)bev;
	count_callback();
	goBufferEventWriteCallback(st->key);
}

static void golibevent_bev_event_cb(struct bufferevent *bev, short what,
    void *arg)
{
	struct golibevent_bev *st = arg;
	/* libevent sets errno to the error before it runs the callback, also
	 * for deferred callbacks; read it before any other call can change
	 * it. */
	int err = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
	(void)bev;
	count_callback();
	goBufferEventEventCallback(what, err, st->key);
}

/* Enables reading again once a paused bufferevent's input has dropped below
 * the high watermark. */
static void golibevent_bev_input_cb(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *arg)
{
	struct golibevent_bev *st = arg;
	size_t low, high;
	(void)info;

	__atomic_add_fetch(&st->input_changes, 1, __ATOMIC_RELEASE);
	if (!st->paused)
		return;
	bufferevent_lock(st->bev);
	if (st->paused &&
	    (bufferevent_getwatermark(st->bev, EV_READ, &low, &high) != 0 ||
		high == 0 || evbuffer_get_length(buf) < high)) {
		st->paused = 0;
		bufferevent_enable(st->bev, EV_READ);
	}
	bufferevent_unlock(st->bev);
}

static void golibevent_bev_output_cb(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *arg)
{
	struct golibevent_bev *st = arg;
	(void)buf;
	(void)info;
	__atomic_add_fetch(&st->output_changes, 1, __ATOMIC_RELEASE);
}

/* The evbuffer callbacks are added on first need, because each costs an
 * allocation per bufferevent and a call per buffer change: the input one
 * with a high read watermark or Input, the output one with Output. */
static struct golibevent_bev *bev_state_attach(struct bufferevent *bev,
    void *key)
{
	struct golibevent_bev *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	st->key = key;
	st->bev = bev;
	return st;
}

int golibevent_bev_track(struct golibevent_bev *st, int input)
{
	int r = 0;
	bufferevent_lock(st->bev);
	if (input && st->input_cb == NULL) {
		st->input_cb = evbuffer_add_cb(bufferevent_get_input(st->bev),
		    golibevent_bev_input_cb, st);
		r = st->input_cb ? 0 : -1;
	} else if (!input && st->output_cb == NULL) {
		st->output_cb = evbuffer_add_cb(bufferevent_get_output(st->bev),
		    golibevent_bev_output_cb, st);
		r = st->output_cb ? 0 : -1;
	}
	bufferevent_unlock(st->bev);
	return r;
}

struct golibevent_bev *golibevent_bev_new(struct event_base *base,
    evutil_socket_t fd, int options, void *key)
{
	struct golibevent_bev *st;
	struct bufferevent *bev = bufferevent_socket_new(base, fd, options);
	if (bev == NULL)
		return NULL;
	st = bev_state_attach(bev, key);
	if (st == NULL) {
		bufferevent_free(bev);
		errno = ENOMEM;
	}
	return st;
}

int golibevent_bev_pair_new(struct event_base *base, int options,
    void *key0, void *key1, struct golibevent_bev **pair)
{
	struct bufferevent *bevs[2];
	if (bufferevent_pair_new(base, options, bevs) != 0)
		return -1;
	pair[0] = bev_state_attach(bevs[0], key0);
	pair[1] = bev_state_attach(bevs[1], key1);
	if (pair[0] == NULL || pair[1] == NULL) {
		if (pair[0] != NULL)
			golibevent_bev_free(pair[0]);
		else
			bufferevent_free(bevs[0]);
		if (pair[1] != NULL)
			golibevent_bev_free(pair[1]);
		else
			bufferevent_free(bevs[1]);
		free(pair[0]);
		free(pair[1]);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void golibevent_bev_setcb(struct golibevent_bev *st, int which)
{
	bufferevent_setcb(st->bev,
	    (which & 1) ? golibevent_bev_read_cb : NULL,
	    (which & 2) ? golibevent_bev_write_cb : NULL,
	    (which & 4) ? (!(st->write_through & WRITE_THROUGH_EVENT) &&
		st->u.event_shim ? st->u.event_shim :
		golibevent_bev_event_cb) : NULL, st);
}

void golibevent_bev_free(struct golibevent_bev *st)
{
	bufferevent_lock(st->bev);
	golibevent_bev_write_through_release(st);
	if (st->input_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(st->bev),
		    st->input_cb);
	if (st->output_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(st->bev),
		    st->output_cb);
	st->input_cb = NULL;
	st->output_cb = NULL;
	bufferevent_unlock(st->bev);
	/* bufferevent_free clears the callbacks before it drops its
	 * reference, so no callback starts after it returns. */
	bufferevent_free(st->bev);
	st->bev = NULL;
}

void golibevent_bev_state_free(struct golibevent_bev *st)
{
	/* NOTE: the check and the read shim's own are not one atomic step, so
	 * a free from another thread at the moment the read callback returns
	 * could still race. The package frees from the loop's thread, or after
	 * the loop's callbacks, so this does not arise from Go. */
	if (__atomic_load_n(&st->in_read_cb, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&st->free_pending, 1, __ATOMIC_SEQ_CST);
		return;
	}
	free(st);
}

int golibevent_bev_enable(struct golibevent_bev *st, short what)
{
	int r;
	bufferevent_lock(st->bev);
	/* While paused by the watermark, reading stays off until the input
	 * drains; the user's wish to read is kept in st->paused. */
	if ((what & EV_READ) && st->paused) {
		what &= ~EV_READ;
	}
	r = what ? bufferevent_enable(st->bev, what) : 0;
	bufferevent_unlock(st->bev);
	return r;
}

int golibevent_bev_disable(struct golibevent_bev *st, short what)
{
	int r;
	bufferevent_lock(st->bev);
	if (what & EV_READ)
		st->paused = 0;
	r = bufferevent_disable(st->bev, what);
	bufferevent_unlock(st->bev);
	return r;
}

short golibevent_bev_get_enabled(struct golibevent_bev *st)
{
	short enabled;
	bufferevent_lock(st->bev);
	enabled = bufferevent_get_enabled(st->bev);
	if (st->paused)
		enabled |= EV_READ;
	bufferevent_unlock(st->bev);
	return enabled;
}

int golibevent_bev_connect_ip(struct golibevent_bev *st, int family,
    const uint8_t *ip, int port, uint32_t scope_id)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		memcpy(&sin.sin_addr, ip, 4);
		return bufferevent_socket_connect(st->bev,
		    (struct sockaddr *)&sin, sizeof(sin));
	}
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((uint16_t)port);
	sin6.sin6_scope_id = scope_id;
	memcpy(&sin6.sin6_addr, ip, 16);
	return bufferevent_socket_connect(st->bev, (struct sockaddr *)&sin6,
	    sizeof(sin6));
}

int golibevent_bev_connect_unix(struct golibevent_bev *st, const char *path)
{
	struct sockaddr_un sun;
	size_t n = strlen(path);
	if (n >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	return bufferevent_socket_connect(st->bev, (struct sockaddr *)&sun,
	    (int)(offsetof(struct sockaddr_un, sun_path) + n + 1));
}

int golibevent_bev_set_timeouts(struct bufferevent *bev, int64_t read_usec,
    int64_t write_usec)
{
	struct timeval rtv, wtv;
	if (read_usec >= 0)
		usec_to_timeval(read_usec, &rtv);
	if (write_usec >= 0)
		usec_to_timeval(write_usec, &wtv);
	return bufferevent_set_timeouts(bev, read_usec >= 0 ? &rtv : NULL,
	    write_usec >= 0 ? &wtv : NULL);
}

void golibevent_bev_setwatermark(struct golibevent_bev *st, short events,
    size_t low, size_t high)
{
	if ((events & EV_READ) && high != 0)
		golibevent_bev_track(st, 1);
	bufferevent_lock(st->bev);
	bufferevent_setwatermark(st->bev, events, low, high);
	bufferevent_unlock(st->bev);
	/* A raised or removed high watermark can end a pause; the input
	 * callback decides, as if the input had changed. */
	if ((events & EV_READ) && st->input_cb != NULL)
		golibevent_bev_input_cb(bufferevent_get_input(st->bev), NULL, st);
}

/* ---- listeners ---- */

static void golibevent_listener_cb(struct evconnlistener *lev,
    evutil_socket_t fd, struct sockaddr *sa, int socklen, void *key)
{
	(void)lev;
	count_callback();
	goListenerAcceptCallback(fd, sa, socklen, key);
}

static void golibevent_listener_error_cb(struct evconnlistener *lev,
    void *key)
{
	/* libevent runs this right after accept failed, with errno set. */
	int err = EVUTIL_SOCKET_ERROR();
	(void)lev;
	count_callback();
	goListenerErrorCallback(err, key);
}

struct evconnlistener *golibevent_listener_new(struct event_base *base,
    unsigned flags, int backlog, evutil_socket_t fd, int family,
    const void *addr, int port, uint32_t scope_id, void *key, int with_cb)
{
	struct evconnlistener *lev;
	evconnlistener_cb cb = with_cb ? golibevent_listener_cb : NULL;

	if (fd >= 0) {
		lev = evconnlistener_new(base, cb, key, flags, backlog, fd);
	} else if (family == AF_INET) {
		struct sockaddr_in sin;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		memcpy(&sin.sin_addr, addr, 4);
		lev = evconnlistener_new_bind(base, cb, key, flags, backlog,
		    (struct sockaddr *)&sin, sizeof(sin));
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)port);
		sin6.sin6_scope_id = scope_id;
		memcpy(&sin6.sin6_addr, addr, 16);
		lev = evconnlistener_new_bind(base, cb, key, flags, backlog,
		    (struct sockaddr *)&sin6, sizeof(sin6));
	} else {
		struct sockaddr_un sun;
		size_t n = strlen(addr);
		if (n >= sizeof(sun.sun_path)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, addr, n);
		lev = evconnlistener_new_bind(base, cb, key, flags, backlog,
		    (struct sockaddr *)&sun,
		    (int)(offsetof(struct sockaddr_un, sun_path) + n + 1));
	}
	if (lev != NULL)
		evconnlistener_set_error_cb(lev, golibevent_listener_error_cb);
	return lev;
}

void golibevent_listener_set_cb(struct evconnlistener *lev, void *key,
    int with_cb)
{
	evconnlistener_set_cb(lev, with_cb ? golibevent_listener_cb : NULL, key);
}

void golibevent_buffer_cb(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *key)
{
	(void)buf;
	count_callback();
	goBufferCallback(key, info->orig_size, info->n_added, info->n_deleted);
}

struct evbuffer_cb_entry *golibevent_buffer_add_cb(struct evbuffer *buf,
    void *key)
{
	return evbuffer_add_cb(buf, golibevent_buffer_cb, key);
}

static void golibevent_buffer_reference_cleanup(const void *data, size_t len,
    void *key)
{
	(void)data;
	(void)len;
	goBufferReferenceCleanup(key);
}

int golibevent_buffer_add_reference(struct evbuffer *buf, const void *data,
    size_t len, void *key)
{
	return evbuffer_add_reference(buf, data, len,
	    golibevent_buffer_reference_cleanup, key);
}

static void golibevent_file_segment_cleanup(
    struct evbuffer_file_segment const *seg, int flags, void *key)
{
	(void)seg;
	(void)flags;
	goFileSegmentCleanup(key);
}

struct evbuffer_file_segment *golibevent_file_segment_new(int fd,
    int64_t offset, int64_t length, unsigned flags, void *key)
{
	struct evbuffer_file_segment *seg;

	seg = evbuffer_file_segment_new(fd, (ev_off_t)offset, (ev_off_t)length,
	    flags);
	if (seg != NULL)
		evbuffer_file_segment_add_cleanup_cb(seg,
		    golibevent_file_segment_cleanup, key);
	return seg;
}

/* The cleanup callback of AddFile's segments: arg is the descriptor. */
static void golibevent_close_segment_fd(
    struct evbuffer_file_segment const *seg, int flags, void *arg)
{
	(void)seg;
	(void)flags;
	close((int)(intptr_t)arg);
}

int golibevent_buffer_add_file(struct evbuffer *buf, int fd, int64_t offset,
    int64_t length, int sendfile)
{
	struct evbuffer_file_segment *seg;
	unsigned flags = sendfile ? 0 : EVBUF_FS_DISABLE_SENDFILE;

	/* evbuffer_add_file creates its segment with EVBUF_FS_CLOSE_ON_FREE,
	 * so when evbuffer_add_file_segment fails, freeing the segment closes
	 * fd, while a failure of evbuffer_file_segment_new leaves it open. The
	 * caller cannot tell the two apart. Here the descriptor is closed by a
	 * cleanup callback that is set only after the segment is in the
	 * buffer, so every failure leaves fd open. Without sendfile the
	 * segment maps or reads the file at once, so that
	 * evbuffer_add_file_segment cannot fail on that step, which would
	 * leak the segment. */
	seg = evbuffer_file_segment_new(fd, (ev_off_t)offset, (ev_off_t)length,
	    flags);
	if (seg == NULL)
		return -1;
	if (evbuffer_add_file_segment(buf, seg, 0, (ev_off_t)length) != 0) {
		/* Its failure path has dropped the only reference, which
		 * freed the segment. */
		return -1;
	}
	evbuffer_file_segment_add_cleanup_cb(seg, golibevent_close_segment_fd,
	    (void *)(intptr_t)fd);
	/* The buffer's chain holds the segment now; dropping the creator's
	 * reference lets the segment go with the chain. */
	evbuffer_file_segment_free(seg);
	return 0;
}

void golibevent_buffer_free_deferring(struct evbuffer *buf,
    struct evbuffer_cb_entry **entries, int n)
{
	int i;

	/* A buffer that defers its callbacks holds a reference for each
	 * scheduled run, so evbuffer_free may leave it alive until the base's
	 * loop runs its callbacks. With no callback entries left, emptying it
	 * schedules nothing, and the reference callbacks of its data run now
	 * instead of whenever, if ever, the loop gets to it. */
	for (i = 0; i < n; i++)
		evbuffer_remove_cb_entry(buf, entries[i]);
	evbuffer_unfreeze(buf, 1);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	evbuffer_free(buf);
}

/* ---- filter bufferevents ---- */

static enum bufferevent_filter_result golibevent_filter_input(
    struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *key)
{
	return (enum bufferevent_filter_result)goFilterCallback(key, 0, src, dst,
	    (int64_t)limit, (int)mode);
}

static enum bufferevent_filter_result golibevent_filter_output(
    struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *key)
{
	return (enum bufferevent_filter_result)goFilterCallback(key, 1, src, dst,
	    (int64_t)limit, (int)mode);
}

static void golibevent_filter_free(void *key)
{
	goFilterFree(key);
}

struct golibevent_bev *golibevent_bev_filter_new(struct bufferevent *underlying,
    int with_input, int with_output, int options, void *filter_key,
    void *bev_key, int *context_owned)
{
	struct golibevent_bev *st;
	struct bufferevent *bev = bufferevent_filter_new(underlying,
	    with_input ? golibevent_filter_input : NULL,
	    with_output ? golibevent_filter_output : NULL, options,
	    golibevent_filter_free, filter_key);
	*context_owned = 0;
	if (bev == NULL)
		return NULL;
	*context_owned = 1;
	st = bev_state_attach(bev, bev_key);
	if (st == NULL) {
		bufferevent_free(bev);
		errno = ENOMEM;
	}
	return st;
}

void golibevent_bev_detach_state(struct golibevent_bev *st)
{
	bufferevent_lock(st->bev);
	golibevent_bev_write_through_release(st);
	if (st->input_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(st->bev),
		    st->input_cb);
	if (st->output_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(st->bev),
		    st->output_cb);
	st->input_cb = NULL;
	st->output_cb = NULL;
	bufferevent_unlock(st->bev);
}

/* ---- HTTP ---- */

void golibevent_note_callback(void)
{
	count_callback();
}

/* ---- HTTP client ---- */

static void golibevent_http_done_cb(struct evhttp_request *req, void *key)
{
	count_callback();
	goHTTPRequestDone(req, key);
}

static void golibevent_http_chunk_cb(struct evhttp_request *req, void *key)
{
	count_callback();
	goHTTPRequestChunk(req, key);
}

static void golibevent_http_error_cb(enum evhttp_request_error reason,
    void *key)
{
	/* evhttp_connection_fail_ restores the socket error just before this
	 * callback, so it is read before any other call. */
	int saved_errno = errno;
	count_callback();
	goHTTPRequestError((int)reason, saved_errno, key);
}

static void golibevent_http_close_cb(struct evhttp_connection *evcon,
    void *key)
{
	(void)evcon;
	count_callback();
	goHTTPConnectionClose(key);
}

struct evhttp_request *golibevent_http_request_new(void *key, int with_chunks)
{
	struct evhttp_request *req =
	    evhttp_request_new(golibevent_http_done_cb, key);
	if (req == NULL)
		return NULL;
	evhttp_request_set_error_cb(req, golibevent_http_error_cb);
	if (with_chunks)
		evhttp_request_set_chunked_cb(req, golibevent_http_chunk_cb);
	return req;
}

void golibevent_http_set_closecb(struct evhttp_connection *evcon, void *key)
{
	if (key == NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	else
		evhttp_connection_set_closecb(evcon, golibevent_http_close_cb, key);
}

void golibevent_http_connection_set_timeout(struct evhttp_connection *evcon,
    int64_t usec, int retry)
{
	struct timeval tv;
	usec_to_timeval(usec, &tv);
	if (retry)
		evhttp_connection_set_initial_retry_tv(evcon, &tv);
	else
		evhttp_connection_set_timeout_tv(evcon, &tv);
}

/* ---- OpenSSL bufferevents ---- */

struct golibevent_bev *golibevent_bev_state_new(struct bufferevent *bev,
    void *key, bufferevent_event_cb event_shim)
{
	struct golibevent_bev *st = bev_state_attach(bev, key);
	if (st != NULL)
		st->u.event_shim = event_shim;
	return st;
}

/* ---- DNS resolver and server ---- */

#include <arpa/inet.h>
#include <event2/dns_struct.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void golibevent_dns_cb(int result, char type, int count, int ttl,
    void *addresses, void *key)
{
	count_callback();
	goDNSCallback(result, type, count, ttl, addresses, key);
}

struct evdns_request *golibevent_dns_resolve(struct evdns_base *base,
    int kind, const char *name, const void *addr, int flags, void *key)
{
	struct in_addr in4;
	struct in6_addr in6;

	switch (kind) {
	case GOLIBEVENT_DNS_IPV4:
		return evdns_base_resolve_ipv4(base, name, flags,
		    golibevent_dns_cb, key);
	case GOLIBEVENT_DNS_IPV6:
		return evdns_base_resolve_ipv6(base, name, flags,
		    golibevent_dns_cb, key);
	case GOLIBEVENT_DNS_REVERSE4:
		memcpy(&in4, addr, 4);
		return evdns_base_resolve_reverse(base, &in4, flags,
		    golibevent_dns_cb, key);
	case GOLIBEVENT_DNS_REVERSE6:
		memcpy(&in6, addr, 16);
		return evdns_base_resolve_reverse_ipv6(base, &in6, flags,
		    golibevent_dns_cb, key);
	}
	return NULL;
}

static void golibevent_gai_cb(int result, struct evutil_addrinfo *res,
    void *key)
{
	count_callback();
	goGetAddrInfoCallback(result, res, key);
	if (res != NULL)
		evutil_freeaddrinfo(res);
}

struct evdns_getaddrinfo_request *golibevent_getaddrinfo(
    struct evdns_base *base, const char *node, const char *service,
    int family, int socktype, int protocol, int flags, void *key)
{
	struct evutil_addrinfo hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = socktype;
	hints.ai_protocol = protocol;
	hints.ai_flags = flags;
	return evdns_getaddrinfo(base, node, service, &hints, golibevent_gai_cb,
	    key);
}

int golibevent_dns_nameserver_add(struct evdns_base *base, int family,
    const void *addr, int port)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		memcpy(&sin.sin_addr, addr, 4);
		return evdns_base_nameserver_sockaddr_add(base,
		    (struct sockaddr *)&sin, sizeof(sin), 0);
	}
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((uint16_t)port);
	memcpy(&sin6.sin6_addr, addr, 16);
	return evdns_base_nameserver_sockaddr_add(base,
	    (struct sockaddr *)&sin6, sizeof(sin6), 0);
}

/* Copies the address in ss into addr and *port and returns its family. */
static int golibevent_copy_sockaddr(const struct sockaddr_storage *ss,
    uint8_t *addr, int *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	switch (ss->ss_family) {
	case AF_INET:
		memcpy(addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		return AF_INET;
	case AF_INET6:
		memcpy(addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
		return AF_INET6;
	}
	return -1;
}

int golibevent_dns_nameserver_addr(struct evdns_base *base, int idx,
    uint8_t *addr, int *port)
{
	struct sockaddr_storage ss;
	int n;

	memset(&ss, 0, sizeof(ss));
	n = evdns_base_get_nameserver_addr(base, idx, (struct sockaddr *)&ss,
	    sizeof(ss));
	if (n <= 0 || n > (int)sizeof(ss))
		return -1;
	return golibevent_copy_sockaddr(&ss, addr, port);
}

static void golibevent_dns_server_cb(struct evdns_server_request *req,
    void *key)
{
	count_callback();
	goDNSServerCallback(req, key);
}

struct evdns_server_port *golibevent_dns_server_new(struct event_base *base,
    evutil_socket_t fd, void *key)
{
	return evdns_add_server_port_with_base(base, fd, 0,
	    golibevent_dns_server_cb, key);
}

const char *golibevent_dns_question(const struct evdns_server_request *req,
    int i, int *type, int *dns_class)
{
	const struct evdns_server_question *q = req->questions[i];

	*type = q->type;
	*dns_class = q->dns_question_class;
	return q->name;
}

int golibevent_dns_request_addr(struct evdns_server_request *req,
    uint8_t *addr, int *port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (evdns_server_request_get_requesting_addr(req,
	    (struct sockaddr *)&ss, sizeof(ss)) < 0)
		return -1;
	return golibevent_copy_sockaddr(&ss, addr, port);
}

int golibevent_dns_attach_min_length_filter(int fd)
{
	/* A UDP socket filter sees the datagram from its UDP header on, so
	 * the length it loads is the 8-byte header plus the payload. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 8 + 12, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog;

	prog.len = sizeof(code) / sizeof(code[0]);
	prog.filter = code;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
	    sizeof(prog));
}

int golibevent_dns_respond(struct evdns_server_request *req,
    const uint8_t *recs, size_t len, int set_flags, int flags, int rcode,
    int *failed)
{
	/* A name is at most 254 bytes (the package checks), plus its NUL. */
	char name[256];
	size_t off = 0;
	int i;

	for (i = 0; off < len; i++) {
		uint16_t type, dns_class, name_len, data_len;
		uint32_t ttl;
		int section = recs[off];
		int is_name = recs[off + 1];

		memcpy(&type, recs + off + 2, 2);
		memcpy(&dns_class, recs + off + 4, 2);
		memcpy(&ttl, recs + off + 6, 4);
		memcpy(&name_len, recs + off + 10, 2);
		off += 12;
		if (name_len >= sizeof(name))
			name_len = sizeof(name) - 1;
		memcpy(name, recs + off, name_len);
		name[name_len] = '\0';
		off += name_len;
		memcpy(&data_len, recs + off, 2);
		off += 2;
		if (evdns_server_request_add_reply(req, section, name, type,
		    dns_class, (int)ttl, data_len, is_name,
		    data_len ? (const char *)recs + off : NULL) != 0) {
			*failed = i;
			return GOLIBEVENT_DNS_RECORD_REJECTED;
		}
		off += data_len;
	}
	if (set_flags)
		evdns_server_request_set_flags(req, flags);
	return evdns_server_request_respond(req, rcode);
}

/* ---- wrapped bufferevents ---- */

int golibevent_bev_wrap_check(struct bufferevent *bev,
    struct golibevent_bev_callbacks *saved)
{
	int ours;
	bufferevent_lock(bev);
	bufferevent_getcb(bev, &saved->read, &saved->write, &saved->event,
	    &saved->arg);
	bufferevent_unlock(bev);
	/* OpenSSL bufferevents use their own event shim, but a BufferEvent
	 * with only that one set is found by the Go side's own check. */
	ours = saved->read == golibevent_bev_read_cb ||
	    saved->write == golibevent_bev_write_cb ||
	    saved->event == golibevent_bev_event_cb;
	return ours;
}

void golibevent_bev_unwrap(struct golibevent_bev *st,
    const struct golibevent_bev_callbacks *saved)
{
	bufferevent_data_cb read, write;
	bufferevent_event_cb event;
	void *arg;

	golibevent_bev_detach_state(st);
	bufferevent_lock(st->bev);
	/* Callbacks that C code set after the wrap stay; the argument shows
	 * whether the installed ones are the package's. */
	bufferevent_getcb(st->bev, &read, &write, &event, &arg);
	if (arg == st)
		bufferevent_setcb(st->bev, saved->read, saved->write,
		    saved->event, saved->arg);
	if (st->paused) {
		st->paused = 0;
		bufferevent_enable(st->bev, EV_READ);
	}
	bufferevent_unlock(st->bev);
	st->bev = NULL;
}
