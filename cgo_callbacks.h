/*
 * Declarations shared by the package's cgo files. The C side never stores a
 * Go pointer: every void *arg handed to libevent is a registry key (a small
 * block of C memory allocated by github.com/mattn/go-pointer) that the Go
 * trampolines in cgo_callbacks.go map back to the Go object.
 */
#ifndef GOLIBEVENT_CGO_CALLBACKS_H
#define GOLIBEVENT_CGO_CALLBACKS_H

#include "libevent_version.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

/* Reads a counter that C code updates atomically. */
uint64_t golibevent_load_u64(const uint64_t *p);

/* Runs once from the package's init: turns on pthread locking and routes
 * libevent's log and fatal messages to Go. Returns evthread_use_pthreads's
 * result (0 on success). */
int golibevent_setup(void);

/* Returns an identifier of the calling thread (pthread_self). Unlike
 * gettid it needs no system call. */
uintptr_t golibevent_current_thread(void);

/* Callback shims that libevent calls; each forwards to a Go trampoline. */
void golibevent_event_cb(evutil_socket_t fd, short what, void *key);
void golibevent_once_cb(evutil_socket_t fd, short what, void *key);
void golibevent_post_cb(evutil_socket_t fd, short what, void *key);

/* Timeouts cross the boundary as microseconds; a negative value means no
 * timeout (a NULL struct timeval *). */
struct event *golibevent_event_new(struct event_base *base, evutil_socket_t fd,
    short what, void *key);
struct event *golibevent_post_event_new(struct event_base *base, void *key);
int golibevent_event_add(struct event *ev, int64_t timeout_usec);
int golibevent_event_pending(const struct event *ev, short what,
    int64_t *left_usec);
int golibevent_base_once(struct event_base *base, evutil_socket_t fd,
    short what, void *key, int64_t timeout_usec);
int golibevent_base_loopexit(struct event_base *base, int64_t delay_usec);
int golibevent_config_set_max_dispatch_interval(struct event_config *cfg,
    int64_t interval_usec, int max_callbacks, int min_priority);
int golibevent_init_common_timeout(struct event_base *base,
    int64_t duration_usec, struct timeval *out);
int golibevent_gettimeofday_cached(struct event_base *base, int64_t *sec,
    int32_t *usec);
int golibevent_gettime_monotonic(struct event_base *base, int64_t *sec,
    int32_t *usec);

/* Runs event_base_loop with the calling thread's identifier stored in
 * *thread, so that the Go side can tell which thread runs the callbacks; *thread
 * is 0 again when it returns. */
int golibevent_loop(struct event_base *base, int flags, uintptr_t *thread);

/* Runs one iteration of a loop: event_base_loop with EVLOOP_ONCE added to
 * flags, with the thread stored in *thread as golibevent_loop does. An
 * iteration also ends after PASS_CALLBACK_LIMIT Go callbacks.
 * Returns event_base_loop's result, or 2 when the iteration ended because of
 * event_base_loopbreak or event_base_loopexit. */
int golibevent_loop_iteration(struct event_base *base, int flags,
    uintptr_t *thread);
/* Returns how many iterations ended after PASS_CALLBACK_LIMIT Go
 * callbacks in the process, for tests. */
long golibevent_loop_passes_ended(void);

/* Returns the registry key of an event created by this package, or NULL for
 * an event that C code created with its own callback. */
void *golibevent_event_key(const struct event *ev);

/* One row of event_base_foreach_event, collected under the base lock so that
 * no Go code runs while libevent holds it. */
struct golibevent_event_info {
	evutil_socket_t fd;
	short events;
	short pending;
	int priority;
	int internal;
	void *key;
};

/* Collects the base's added and active events into a malloc'd array that the
 * caller frees. Events whose key is skip_key (the base's own Post event) are
 * left out. Returns -1 when memory runs out. */
int golibevent_collect_events(struct event_base *base, void *skip_key,
    struct golibevent_event_info **rows, int *count);

/* Writes event_base_dump_events's output into a malloc'd buffer that the
 * caller frees. Returns -1 with errno set on failure. */
int golibevent_dump_events(struct event_base *base, char **text, size_t *len);


/* ---- bufferevents ---- */

#include <event2/bufferevent.h>
#include <event2/buffer.h>

/* C side of a BufferEvent's handle: the callback argument that libevent
 * holds. It carries the registry key and the state of the watermark pause,
 * which keeps libevent 2.1 from calling the read callback again and again
 * while the input stays at or above the high read watermark. */
struct golibevent_bev {
	void *key;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *input_cb;
	struct evbuffer_cb_entry *output_cb;
	union {
		/* The event callback shim to install in place of the
		 * package's default, or NULL. OpenSSL bufferevents use one
		 * that reads their OpenSSL errors before Go code runs. */
		bufferevent_event_cb event_shim;
		/* On a socket bufferevent, which has no shim, once
		 * write_through has WRITE_THROUGH_EVENT: the event that runs
		 * the write callback after a write at once
		 * (bufferevent_writethrough.c). */
		struct event *write_event;
	} u;
	/* Changes to the input and output buffers, counted from evbuffer
	 * callbacks so that positions and reservations that Go code holds in
	 * them go stale when libevent reads or writes. Updated atomically. */
	uint64_t input_changes;
	uint64_t output_changes;
	/* The flags come last and small: a server keeps one of these structs
	 * per connection, and at 64 bytes it takes an 80-byte glibc malloc
	 * chunk, where 80 bytes would take 96. */
	/* 1 while the package has disabled reading because the input reached
	 * the high watermark; the input buffer's callback enables it again
	 * once the input drops below. Accessed under the bufferevent's lock. */
	int paused;
	/* 1 while golibevent_bev_read_cb runs, which reads the state after the
	 * Go callback; golibevent_bev_state_free then leaves the free to it
	 * by setting free_pending. Accessed atomically. */
	unsigned char in_read_cb;
	unsigned char free_pending;
	/* WRITE_THROUGH_* bits (bufferevent_writethrough.c). Accessed under
	 * the bufferevent's lock. */
	unsigned char write_through;
};

/* Write-through is on. */
#define WRITE_THROUGH_ON 1
/* u contains write_event. */
#define WRITE_THROUGH_EVENT 2

struct golibevent_bev *golibevent_bev_new(struct event_base *base,
    evutil_socket_t fd, int options, void *key);
int golibevent_bev_pair_new(struct event_base *base, int options,
    void *key0, void *key1, struct golibevent_bev **pair);
/* Installs the shims for the callbacks whose bit is set in which: 1 read,
 * 2 write, 4 event. */
void golibevent_bev_setcb(struct golibevent_bev *st, int which);
/* Clears the callbacks and frees the bufferevent. The state itself is freed
 * with golibevent_bev_state_free once no callback can use it. */
void golibevent_bev_free(struct golibevent_bev *st);
/* Moves all of src's input buffer to dst's output buffer and returns the
 * bytes moved, or -1 when evbuffer_add_buffer fails. With write-through on
 * for dst, it first writes what dst's socket takes at once. */
long long golibevent_bev_move_input(struct bufferevent *src,
    struct golibevent_bev *dst);
void golibevent_bev_state_free(struct golibevent_bev *st);
/* Adds the evbuffer callback of the input (input 1) or the output buffer if
 * it is missing. Returns -1 when memory runs out. */
int golibevent_bev_track(struct golibevent_bev *st, int input);

/* ---- write-through (bufferevent_writethrough.c) ---- */

/* Turns write-through on or off. Turning it on fails with EOPNOTSUPP
 * unless the bufferevent is a socket one. */
int golibevent_bev_set_write_through(struct golibevent_bev *st, int on);
/* Returns 1 while write-through is on. */
int golibevent_bev_write_through(struct golibevent_bev *st);
/* Frees the write-through event, if any, and turns write-through off. The
 * caller holds the bufferevent's lock. */
void golibevent_bev_write_through_release(struct golibevent_bev *st);
/* Writes at most max bytes of src to the descriptor of the socket
 * bufferevent bev, as libevent's write callback does: it thaws the start
 * of src when src is bev's output, and counts the bytes against bev's
 * write buckets. Returns the bytes written, 0 when none were. The caller
 * holds bev's lock and src's. */
int golibevent_bev_write_atmost(struct bufferevent *bev, struct evbuffer *src,
    ev_ssize_t max);

/* ---- reads without FIONREAD (bufferevent_fixedread.c) ---- */

/* Gives the read event of the socket bufferevent bev the package's read
 * callback, which reads without first querying how many bytes are waiting
 * (FIONREAD). Returns 0 when bev reads that way, -1 when bev is not a socket
 * bufferevent or its read event is added or active. */
int golibevent_bev_use_fixed_reads(struct bufferevent *bev);
/* Returns 1 when bev reads through the package's callback. */
int golibevent_bev_fixed_reads(struct bufferevent *bev);
/* What the package's read callback did in the process, for tests: reads
 * that took data, ends of reading, and ends of the stream held back while a
 * reply was written. */
enum {
	GOLIBEVENT_FIXED_READ_DATA = 0,
	GOLIBEVENT_FIXED_READ_EOF = 1,
	GOLIBEVENT_FIXED_READ_ERROR = 2,
	GOLIBEVENT_FIXED_READ_TIMEOUT = 3,
	GOLIBEVENT_FIXED_READ_EOF_HELD = 4
};
long golibevent_bev_fixed_read_count(int kind);
/* Add data or a buffer's contents to the output, as bufferevent_write and
 * bufferevent_write_buffer do, but first write what the socket takes at
 * once when write-through is on. Each returns 0, or -1 when the add
 * fails. */
int golibevent_bev_write(struct golibevent_bev *st, const void *data,
    size_t len);
int golibevent_bev_write_buffer(struct golibevent_bev *st,
    struct evbuffer *src);
int golibevent_bev_enable(struct golibevent_bev *st, short what);
int golibevent_bev_disable(struct golibevent_bev *st, short what);
short golibevent_bev_get_enabled(struct golibevent_bev *st);
int golibevent_bev_connect_ip(struct golibevent_bev *st, int family,
    const uint8_t *ip, int port, uint32_t scope_id);
int golibevent_bev_connect_unix(struct golibevent_bev *st, const char *path);
int golibevent_bev_set_timeouts(struct bufferevent *bev, int64_t read_usec,
    int64_t write_usec);
void golibevent_bev_setwatermark(struct golibevent_bev *st, short events,
    size_t low, size_t high);

/* ---- listeners ---- */

#include <event2/listener.h>

/* Creates a listener on fd, or on a new socket bound to the address given by
 * family (AF_INET, AF_INET6 or AF_UNIX), addr (4 or 16 address bytes, or a
 * NUL-terminated path) and port when fd is -1. key is the callbacks'
 * argument; with_cb installs the accept shim, so that 0 makes libevent close
 * accepted connections. */
struct evconnlistener *golibevent_listener_new(struct event_base *base,
    unsigned flags, int backlog, evutil_socket_t fd, int family,
    const void *addr, int port, uint32_t scope_id, void *key, int with_cb);
void golibevent_listener_set_cb(struct evconnlistener *lev, void *key,
    int with_cb);

/* evbuffer callbacks. key is the registry key of a BufferCallback, a
 * buffer reference or a FileSegment. */
void golibevent_buffer_cb(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *key);
struct evbuffer_cb_entry *golibevent_buffer_add_cb(struct evbuffer *buf,
    void *key);
int golibevent_buffer_add_reference(struct evbuffer *buf, const void *data,
    size_t len, void *key);

/* Creates a file segment whose cleanup callback reports to the Go
 * FileSegment with registry key key. */
struct evbuffer_file_segment *golibevent_file_segment_new(int fd,
    int64_t offset, int64_t length, unsigned flags, void *key);

/* Adds length bytes of fd from offset, as evbuffer_add_file does, but
 * leaves fd open when it fails. On success the buffer closes fd once the
 * data has left every buffer. sendfile must be nonzero exactly when the
 * buffer has EVBUFFER_FLAG_DRAINS_TO_FD. */
int golibevent_buffer_add_file(struct evbuffer *buf, int fd, int64_t offset,
    int64_t length, int sendfile);

/* Frees a buffer that defers its callbacks: removes the n callback entries
 * and empties the buffer before evbuffer_free. */
void golibevent_buffer_free_deferring(struct evbuffer *buf,
    struct evbuffer_cb_entry **entries, int n);

/* ---- filter bufferevents ---- */

/* Creates a filter bufferevent over underlying whose filter callbacks and
 * free_context report to the Go filter context with registry key
 * filter_key; with_input and with_output select which direction has a Go
 * filter (the other passes data through). *context_owned is set to 1 once
 * libevent has taken filter_key, after which it calls free_context for it
 * even if this function then fails. */
struct golibevent_bev *golibevent_bev_filter_new(struct bufferevent *underlying,
    int with_input, int with_output, int options, void *filter_key,
    void *bev_key, int *context_owned);
/* Removes the package's evbuffer callbacks from a bufferevent that a filter
 * took over, so that its state can be freed before libevent frees it. */
void golibevent_bev_detach_state(struct golibevent_bev *st);

/* ---- HTTP ---- */

/* Counts a Go callback run on this thread, for shims in other C files. */
void golibevent_note_callback(void);

/* ---- HTTP client ---- */

#include <event2/http.h>

/* Creates a client request whose completion and error callbacks, and with
 * with_chunks its chunk callback, report to the Go HTTPCall with registry
 * key key. */
struct evhttp_request *golibevent_http_request_new(void *key, int with_chunks);
/* Sets or, with a NULL key, clears the connection's close callback. */
void golibevent_http_set_closecb(struct evhttp_connection *evcon, void *key);
/* Sets the connection's timeout, or its initial retry delay when retry is
 * nonzero, to usec microseconds. */
void golibevent_http_connection_set_timeout(struct evhttp_connection *evcon,
    int64_t usec, int retry);

/* ---- OpenSSL bufferevents ---- */

/* Allocates the package's state for bev, whose event callback shim will be
 * event_shim (NULL for the default). Returns NULL when memory runs out. */
struct golibevent_bev *golibevent_bev_state_new(struct bufferevent *bev,
    void *key, bufferevent_event_cb event_shim);

/* ---- DNS resolver and server ---- */

#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <netdb.h>

/* Kinds of golibevent_dns_resolve. */
enum {
	GOLIBEVENT_DNS_IPV4 = 1,
	GOLIBEVENT_DNS_IPV6 = 2,
	GOLIBEVENT_DNS_REVERSE4 = 3,
	GOLIBEVENT_DNS_REVERSE6 = 4
};

/* Starts a lookup of the given kind: name for the forward lookups, addr
 * (4 or 16 bytes) for the reverse ones. The reply goes to goDNSCallback
 * with key. Returns NULL, without calling back, when it cannot start. */
struct evdns_request *golibevent_dns_resolve(struct evdns_base *base,
    int kind, const char *name, const void *addr, int flags, void *key);

/* Runs evdns_getaddrinfo with the given hints; the result goes to
 * goGetAddrInfoCallback with key, and the shim frees the addrinfo list
 * after it returns. service may be NULL. */
struct evdns_getaddrinfo_request *golibevent_getaddrinfo(
    struct evdns_base *base, const char *node, const char *service,
    int family, int socktype, int protocol, int flags, void *key);

/* Adds a nameserver from raw address bytes (4 or 16) and a port. */
int golibevent_dns_nameserver_add(struct evdns_base *base, int family,
    const void *addr, int port);

/* Copies the address of nameserver idx into addr (16 bytes) and returns its
 * family, or -1 when idx is out of range. */
int golibevent_dns_nameserver_addr(struct evdns_base *base, int idx,
    uint8_t *addr, int *port);

/* Creates a DNS server port on the UDP socket fd; requests go to
 * goDNSServerCallback with key. The port closes fd when it is freed. */
struct evdns_server_port *golibevent_dns_server_new(struct event_base *base,
    evutil_socket_t fd, void *key);

/* Reads question i of a server request. */
const char *golibevent_dns_question(const struct evdns_server_request *req,
    int i, int *type, int *dns_class);

/* Copies the address of a server request's client into addr (16 bytes) and
 * returns its family, or -1. */
int golibevent_dns_request_addr(struct evdns_server_request *req,
    uint8_t *addr, int *port);

/* golibevent_dns_respond's result when libevent rejected a record. */
#define GOLIBEVENT_DNS_RECORD_REJECTED (-2)

/* Adds the records serialized in recs (the layout is described at
 * appendRecord in evdns_server_reply.go), sets the reply's flags when
 * set_flags is nonzero, and sends the reply with rcode. Returns
 * evdns_server_request_respond's result, or GOLIBEVENT_DNS_RECORD_REJECTED
 * with *failed set to the index of the record that libevent rejected. The
 * request stays open when the result is negative. */
int golibevent_dns_respond(struct evdns_server_request *req,
    const uint8_t *recs, size_t len, int set_flags, int flags, int rcode,
    int *failed);

/* Attaches a socket filter that drops UDP datagrams shorter than a DNS
 * header (12 bytes): libevent 2.1.12's server dereferences NULL on them. */
int golibevent_dns_attach_min_length_filter(int fd);

/* ---- wrapped bufferevents ---- */

/* A bufferevent's read, write and event callbacks and their argument, as
 * bufferevent_getcb reports them. */
struct golibevent_bev_callbacks {
	bufferevent_data_cb read;
	bufferevent_data_cb write;
	bufferevent_event_cb event;
	void *arg;
};

/* Stores bev's callbacks in saved. Returns 1 when one of them is a shim of
 * this package, which means that a BufferEvent already has bev, and 0
 * otherwise. */
int golibevent_bev_wrap_check(struct bufferevent *bev,
    struct golibevent_bev_callbacks *saved);
/* Hands a wrapped bufferevent back to C code: removes the package's
 * evbuffer callbacks, puts the saved callbacks back if the package's shims
 * are installed, and enables reading again if the watermark pause had
 * stopped it. The state is freed later with golibevent_bev_state_free. */
void golibevent_bev_unwrap(struct golibevent_bev *st,
    const struct golibevent_bev_callbacks *saved);

#endif
