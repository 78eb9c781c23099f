/*
 * Pure-C dispatch reference for the benchmarks in dispatch_test.go: an
 * event_base with persistent EV_READ events on one descriptor, all with the
 * same static C callback, which counts its calls.
 */
#ifndef BENCH_CDISPATCH_H
#define BENCH_CDISPATCH_H

#include <stdint.h>
#include <event2/event.h>

/* Results of bench_dispatch_open other than 0. */
enum {
	BENCH_ERR_BASE = -1,   /* event_config or event_base creation failed */
	BENCH_ERR_METHOD = -2, /* libevent chose another backend */
	BENCH_ERR_EVENT = -3,  /* event_new or event_add failed */
	BENCH_ERR_MEMORY = -4  /* malloc failed */
};

struct bench_dispatch;

/* Creates a base that uses only the backend named method, with
 * EVENT_BASE_FLAG_IGNORE_ENV and, if no_lock is nonzero,
 * EVENT_BASE_FLAG_NOLOCK, and adds count persistent EV_READ events on fd.
 * Returns 0 and stores the result in *out, or one of the BENCH_ERR_ codes. */
int bench_dispatch_open(const char *method, int no_lock, evutil_socket_t fd,
    int count, struct bench_dispatch **out);

/* Runs rounds of event_base_active_by_fd(fd, EV_READ) and
 * event_base_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK) until the callbacks have run
 * n times. The n-th callback breaks the loop, so exactly n run. Returns the
 * number of callbacks that ran, or -1 if event_base_loop failed. */
int64_t bench_dispatch_run(struct bench_dispatch *d, int64_t n);

/* Frees the events, the base and d. */
void bench_dispatch_close(struct bench_dispatch *d);

#endif
