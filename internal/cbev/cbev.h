/*
 * A test helper: a socket bufferevent that C code creates, owns and frees,
 * with C callbacks that count their calls, as a C program that lends a
 * bufferevent to Go code would have.
 */
#ifndef GOLIBEVENT_CBEV_H
#define GOLIBEVENT_CBEV_H

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>

struct cbev {
	struct bufferevent *bev;
	/* The other end of the socket pair, blocking, for the test to use as
	 * the peer. */
	int peer;
	/* Calls of C's read, write and event callbacks, updated atomically
	 * because the loop may run on another thread. */
	int reads;
	int writes;
	int events;
	/* The data that C's read callback took from the input, with a lock. */
	struct evbuffer *received;
};

/* Creates a socket pair and a bufferevent on base over one end, with the
 * bufferevent options in options plus BEV_OPT_CLOSE_ON_FREE, C's counting
 * callbacks, and reading and writing enabled. Returns NULL on failure. */
struct cbev *cbev_new(struct event_base *base, int options);

/* Frees the bufferevent, which closes its end, and closes the peer. */
void cbev_free(struct cbev *c);

/* Returns the count of C's read (0), write (1) or event (2) callback. */
int cbev_count(struct cbev *c, int which);

/* Moves up to len bytes of what C's read callback received into out and
 * returns their number. */
size_t cbev_take_received(struct cbev *c, char *out, size_t len);

/* Returns 1 when the bufferevent has C's own callbacks and argument. */
int cbev_has_own_callbacks(struct cbev *c);

#endif
