/*
 * C side of the HTTP binding (evhttp). As in cgo_callbacks.h, every void *
 * that libevent hands back is a registry key, never a Go pointer.
 */
#ifndef GOLIBEVENT_HTTP_CGO_H
#define GOLIBEVENT_HTTP_CGO_H

#include "cgo_callbacks.h"

#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sys/socket.h>

/* ---- headers (struct evkeyvalq) ---- */

/* Allocates an empty header list; free it with golibevent_headers_free. */
struct evkeyvalq *golibevent_headers_new(void);
void golibevent_headers_free(struct evkeyvalq *headers);

/* Copies the headers into one malloc'd block of NUL-terminated strings,
 * name then value for each header in order, so that Go reads them in one
 * crossing. The caller frees *block. Returns -1 when memory runs out. */
int golibevent_headers_snapshot(const struct evkeyvalq *headers, char **block,
    size_t *len, int *count);

/* Removes every header called name; returns how many were removed. */
int golibevent_headers_remove_all(struct evkeyvalq *headers, const char *name);

/* ---- requests ---- */

/* Copies data into the request's output buffer and sends the reply
 * (evhttp_send_reply). reason NULL means the standard phrase. Returns -1,
 * sending nothing, when the data cannot be buffered. A request whose
 * connection has failed is freed instead. */
int golibevent_http_send_reply(struct evhttp_request *req, int code,
    const char *reason, const void *data, size_t len);

/* evhttp_send_error, evhttp_send_reply_start and evhttp_send_reply_end,
 * for a request whose connection may have failed: such a request is freed
 * by the final reply and ignores the others. */
void golibevent_http_send_error(struct evhttp_request *req, int code,
    const char *reason);
void golibevent_http_send_reply_start(struct evhttp_request *req, int code,
    const char *reason);
void golibevent_http_send_reply_end(struct evhttp_request *req);

/* Sends one chunk of a chunked reply. With key non-NULL, libevent calls the
 * package's chunk callback with key once the chunk has been written. */
int golibevent_http_send_chunk(struct evhttp_request *req, const void *data,
    size_t len, void *key);

/* Installs the package's completion callback with key as its argument.
 * The request callback installs it with NULL, which calls no Go code. */
void golibevent_http_set_on_complete(struct evhttp_request *req, void *key);

/* Copies the peer's address of the request's connection into host, which
 * has room for size bytes, and its port into *port. Returns -1 when the
 * request has no connection. */
int golibevent_http_request_peer(struct evhttp_request *req, char *host,
    size_t size, int *port);

/* ---- servers ---- */

/* What the request callback of golibevent_http_set_gencb and
 * golibevent_http_set_cb does to a connection besides calling Go. On a
 * server that C code owns, nothing. On a server of the package's own, its
 * reads skip FIONREAD (bufferevent_fixedread.c), and on the epoll backend
 * it also gets a keeper (http_keeper.c). */
enum {
	GOLIBEVENT_HTTP_CONN_AS_IS = 0,
	GOLIBEVENT_HTTP_CONN_FIXED_READS = 1,
	GOLIBEVENT_HTTP_CONN_KEPT = 2
};

/* Installs the package's generic request callback (evhttp_set_gencb) or a
 * per-path one (evhttp_set_cb) with key as the argument, and with conn one
 * of the values above. */
void golibevent_http_set_gencb(struct evhttp *http, void *key, int conn);
int golibevent_http_set_cb(struct evhttp *http, const char *path, void *key,
    int conn);
/* Installs the package's bufferevent callback, or removes it when key is
 * NULL. */
void golibevent_http_set_bevcb(struct evhttp *http, void *key);
void golibevent_http_set_timeout(struct evhttp *http, int64_t timeout_usec);

/* Clears the error callback that the package set on a listener before evhttp
 * takes the listener over with its own argument. */
void golibevent_http_clear_listener_error_cb(struct evconnlistener *lev);

/* Copies the bound socket's local address into *ss; returns -1 with errno
 * set when getsockname fails. */
int golibevent_http_bound_addr(struct evhttp_bound_socket *bound,
    struct sockaddr_storage *ss, int *len);

/* ---- keepers (http_keeper.c) ---- */

/* Adds a persistent read event to the descriptor of the request's
 * connection, once per connection, so that evhttp's turns of reading off and
 * on make no epoll_ctl call. The connection's close callback removes it. */
void golibevent_http_keep_polled(struct evhttp_request *req);

/* Return how many keepers exist and how many times a keeper's read
 * callback has run in the process, for tests. */
long golibevent_http_keepers_live(void);
long golibevent_http_keeper_passes(void);

/* ---- replies written at once (http_direct.c) ---- */

/* Sends a reply with evhttp_send_reply and, on a socket bufferevent with
 * nothing else queued, writes it to the descriptor at once. */
void golibevent_http_reply_direct(struct evhttp_request *req, int code,
    const char *reason);
/* Returns how many replies were written at once in the process, for
 * tests. */
long golibevent_http_direct_replies(void);

/* Sets TCP_NODELAY on the bound socket, which the connections that it
 * accepts inherit on Linux. Returns setsockopt's result, with errno. */
int golibevent_http_bound_nodelay(struct evhttp_bound_socket *bound);

/* Return 1 when the socket of the connection, or of the request's
 * connection, has TCP_NODELAY, 0 when it has not, and -1 when there is no
 * connection or getsockopt failed. For tests. */
int golibevent_http_connection_nodelay(struct evhttp_connection *evcon);
int golibevent_http_request_nodelay(struct evhttp_request *req);

/* ---- interop with C code that owns the server or the request ---- */

/* Removes the generic callback (evhttp_set_gencb with NULL), so that
 * requests no path matches get 404. */
void golibevent_http_clear_gencb(struct evhttp *http);

/* Returns the base of the request's connection, or NULL when the request
 * has no connection. */
struct event_base *golibevent_http_request_base(struct evhttp_request *req);

/* Returns 1 for a request that a server received, 0 for one that a client
 * sends. */
int golibevent_http_request_is_incoming(struct evhttp_request *req);

#endif
