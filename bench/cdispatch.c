/*
 * Pure-C dispatch reference; see cdispatch.h.
 */
#include "cdispatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct bench_dispatch {
	struct event_base *base;
	struct event **events;
	int count;
	evutil_socket_t fd;
	int64_t calls;
	int64_t target;
};

static void count_call(evutil_socket_t fd, short what, void *arg)
{
	struct bench_dispatch *d = arg;
	(void)fd;
	(void)what;
	d->calls++;
	if (d->calls == d->target)
		event_base_loopbreak(d->base);
}

/* Creates a base that can only use the backend named method. */
static struct event_base *new_base(const char *method, int no_lock)
{
	struct event_config *cfg = event_config_new();
	const char **methods = event_get_supported_methods();
	struct event_base *base = NULL;
	int flags = EVENT_BASE_FLAG_IGNORE_ENV;

	if (cfg == NULL)
		return NULL;
	for (int i = 0; methods != NULL && methods[i] != NULL; i++) {
		if (strcmp(methods[i], method) != 0 &&
		    event_config_avoid_method(cfg, methods[i]) != 0)
			goto done;
	}
	if (no_lock)
		flags |= EVENT_BASE_FLAG_NOLOCK;
	if (event_config_set_flag(cfg, flags) != 0)
		goto done;
	base = event_base_new_with_config(cfg);
done:
	event_config_free(cfg);
	return base;
}

/* Frees what bench_dispatch_open created so far and returns code, keeping
 * the errno of the call that failed for the Go caller. */
static int fail_open(struct bench_dispatch *d, int code)
{
	int saved_errno = errno;
	bench_dispatch_close(d);
	errno = saved_errno;
	return code;
}

int bench_dispatch_open(const char *method, int no_lock, evutil_socket_t fd,
    int count, struct bench_dispatch **out)
{
	struct bench_dispatch *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return BENCH_ERR_MEMORY;
	d->fd = fd;
	d->events = calloc((size_t)count, sizeof(*d->events));
	if (d->events == NULL) {
		free(d);
		return BENCH_ERR_MEMORY;
	}

	d->base = new_base(method, no_lock);
	if (d->base == NULL)
		return fail_open(d, BENCH_ERR_BASE);
	if (strcmp(event_base_get_method(d->base), method) != 0)
		return fail_open(d, BENCH_ERR_METHOD);

	for (int i = 0; i < count; i++) {
		struct event *ev = event_new(d->base, fd, EV_READ | EV_PERSIST,
		    count_call, d);
		if (ev == NULL)
			return fail_open(d, BENCH_ERR_EVENT);
		d->events[d->count++] = ev;
		if (event_add(ev, NULL) != 0)
			return fail_open(d, BENCH_ERR_EVENT);
	}
	*out = d;
	return 0;
}

int64_t bench_dispatch_run(struct bench_dispatch *d, int64_t n)
{
	d->calls = 0;
	d->target = n;
	while (d->calls < n) {
		event_base_active_by_fd(d->base, d->fd, EV_READ);
		if (event_base_loop(d->base, EVLOOP_ONCE | EVLOOP_NONBLOCK) < 0)
			return -1;
	}
	return d->calls;
}

void bench_dispatch_close(struct bench_dispatch *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < d->count; i++)
		event_free(d->events[i]);
	if (d->base != NULL)
		event_base_free(d->base);
	free(d->events);
	free(d);
}
