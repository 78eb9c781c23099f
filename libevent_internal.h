/*
 * Functions and data of libevent 2.1.12 that its installed headers do not
 * declare. They come from bufferevent-internal.h and bufferevent_sock.c,
 * and both the static archives and the shared libraries of the libevent-dev
 * package export them. libevent_version.h admits only the 2.1 series from
 * 2.1.12 on, and 2.1.12 is that series' last release so far. A later 2.1
 * release would need these declarations checked against its sources.
 */
#ifndef GOLIBEVENT_LIBEVENT_INTERNAL_H
#define GOLIBEVENT_LIBEVENT_INTERNAL_H

#include "libevent_version.h"

#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>

/* The BEV_SUSPEND_* flags of bufferevent-internal.h: libevent's own use
 * the low five bits. */
typedef uint16_t bufferevent_suspend_flags;

/* BEV_SUSPEND_WM: reading stopped at the high watermark. */
#define BEV_SUSPEND_WM ((bufferevent_suspend_flags)0x01)

/* Stop reading for the reasons in what. */
void bufferevent_suspend_read_(struct bufferevent *bufev,
    bufferevent_suspend_flags what);

/* Stop and restart writing for the reasons in what; writing resumes once no
 * reason is left and EV_WRITE is enabled. */
void bufferevent_suspend_write_(struct bufferevent *bufev,
    bufferevent_suspend_flags what);
void bufferevent_unsuspend_write_(struct bufferevent *bufev,
    bufferevent_suspend_flags what);

/* Counts bytes written against the bufferevent's and its group's write
 * buckets. It takes a struct bufferevent_private *, whose first member is
 * the struct bufferevent. */
int bufferevent_decrement_write_buckets_(struct bufferevent *bev,
    ev_ssize_t bytes);

/* Returns how many bytes the next read may take under the maximum single
 * read and the rate limits. It takes a struct bufferevent_private *, and the caller
 * holds the bufferevent's lock. */
ev_ssize_t bufferevent_get_read_max_(struct bufferevent *bev);

/* Counts bytes read against the read buckets, like the write function
 * above. */
int bufferevent_decrement_read_buckets_(struct bufferevent *bev,
    ev_ssize_t bytes);

/* Run the read callback and the event callback, or schedule them when the
 * bufferevent defers its callbacks, as libevent's own read callback does
 * (options 0). */
void bufferevent_run_readcb_(struct bufferevent *bufev, int options);
void bufferevent_run_eventcb_(struct bufferevent *bufev, short what,
    int options);

/* Take and drop a reference with the lock, around a callback that may
 * free the bufferevent. */
void bufferevent_incref_and_lock_(struct bufferevent *bufev);
int bufferevent_decref_and_unlock_(struct bufferevent *bufev);

/* The operations of socket bufferevents: be_ops of every bufferevent that
 * bufferevent_socket_new creates. */
extern const struct bufferevent_ops bufferevent_ops_socket;

#endif
