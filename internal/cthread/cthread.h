/*
 * A test helper: an event_base that C code creates, owns and runs on a
 * thread that C creates, as a C program that hosts Go code would.
 */
#ifndef GOLIBEVENT_CTHREAD_H
#define GOLIBEVENT_CTHREAD_H

#include <pthread.h>
#include <event2/event.h>

struct cthread_loop {
	struct event_base *base;
	pthread_t thread;
	int block_sigpipe;
	int result;
};

/* Creates a base on the backend named method, with the base flags in
 * flags. Returns NULL when libevent cannot create it. */
struct event_base *cthread_base_new(const char *method, int flags);

/* Starts a thread that runs base's loop with EVLOOP_NO_EXIT_ON_EMPTY until
 * cthread_loop_stop. With block_sigpipe set, the thread blocks SIGPIPE
 * first. Returns NULL when the thread cannot be created. */
struct cthread_loop *cthread_loop_start(struct event_base *base,
    int block_sigpipe);

/* Ends the loop with event_base_loopexit, joins the thread, frees the
 * handle and returns event_base_loop's result. */
int cthread_loop_stop(struct cthread_loop *loop);

/* Returns 1 when called on the loop's thread. */
int cthread_on_loop_thread(const struct cthread_loop *loop);

#endif
