/*
 * A test helper: an HTTP server (evhttp) that C code creates and owns, with
 * handlers written in C, as a C program that hosts Go code would have.
 */
#ifndef GOLIBEVENT_CHTTP_H
#define GOLIBEVENT_CHTTP_H

#include <event2/event.h>
#include <event2/http.h>

/* Creates an evhttp on base, bound to 127.0.0.1 on an ephemeral port, with
 * C handlers: "/c" replies "from C", "/handover" passes the request to the
 * Go function chttpHandOver, and every other path gets "C default". Stores
 * the port in *port. Returns NULL when libevent fails. */
struct evhttp *chttp_server_new(struct event_base *base, int *port);

/* Returns evhttp_request_get_uri(req), or NULL for a NULL req. */
const char *chttp_request_uri(struct evhttp_request *req);

#endif
