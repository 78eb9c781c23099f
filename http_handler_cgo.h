/*
 * C side of the http.Handler adapter: one crossing to read a request and
 * one to send a reply, so that each request costs few cgo calls.
 */
#ifndef GOLIBEVENT_HTTP_HANDLER_CGO_H
#define GOLIBEVENT_HTTP_HANDLER_CGO_H

#include "http_cgo.h"

/* The parts of a request that the adapter copies into an *http.Request. */
struct golibevent_http_request_info {
	int method;          /* enum evhttp_cmd_type */
	int major, minor;    /* HTTP version */
	const char *uri;     /* borrowed from the request */
	size_t body_len;     /* bytes in the input buffer */
	char *headers;       /* malloc'd name\0value\0 pairs; the caller frees */
	int headers_in_buf;  /* the pairs are in the caller's buffer instead */
	size_t headers_len;
	int header_count;
	char peer[64];       /* the client's IP address, "" when unknown */
	int peer_port;
};

/* Fills *info from req. The headers go into buf, which has room for cap
 * bytes, when they fit, and into a malloc'd block otherwise. Returns -1
 * when memory for that block runs out. */
int golibevent_http_request_info(struct evhttp_request *req,
    struct golibevent_http_request_info *info, char *buf, size_t cap);

/* Moves up to len bytes of the request body into out; returns the count. */
int golibevent_http_request_body(struct evhttp_request *req, void *out,
    size_t len);

/* Adds the name\0value\0 pairs of block, which has len bytes, to the
 * output headers. Returns -1 when libevent rejects one. */
int golibevent_http_add_output_headers(struct evhttp_request *req,
    const char *block, size_t len);

/* Adds the output headers of block as golibevent_http_add_output_headers
 * does and then sends the reply as golibevent_http_send_reply does, in one
 * crossing. Returns -1 when libevent rejects a header and -2 when the body
 * cannot be buffered, in both cases without sending anything. */
int golibevent_http_send_reply_with_headers(struct evhttp_request *req,
    int code, const char *reason, const char *block, size_t block_len,
    const void *data, size_t len);

/* Returns 1 when the request's connection is gone (the client closed it or
 * it failed), 0 otherwise. */
int golibevent_http_request_detached(struct evhttp_request *req);

/* Frees the request's connection and with it the request, so that the
 * client sees the reply cut off. A request without a connection is freed
 * alone. */
void golibevent_http_abort_request(struct evhttp_request *req);

#endif
