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

/* The operations of socket bufferevents: be_ops of every bufferevent that
 * bufferevent_socket_new creates. */
extern const struct bufferevent_ops bufferevent_ops_socket;

#endif
