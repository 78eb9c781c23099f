/*
 * C shims of the http.Handler adapter. None of them calls Go.
 */
#include "http_handler_cgo.h"

#include <string.h>

int golibevent_http_request_info(struct evhttp_request *req,
    struct golibevent_http_request_info *info)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *address = NULL;
	ev_uint16_t port = 0;

	info->method = (int)evhttp_request_get_command(req);
	info->major = req->major;
	info->minor = req->minor;
	info->uri = evhttp_request_get_uri(req);
	info->body_len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
	info->peer[0] = '\0';
	info->peer_port = 0;
	if (evcon != NULL) {
		evhttp_connection_get_peer(evcon, &address, &port);
		if (address != NULL) {
			strncpy(info->peer, address, sizeof(info->peer) - 1);
			info->peer[sizeof(info->peer) - 1] = '\0';
			info->peer_port = port;
		}
	}
	return golibevent_headers_snapshot(evhttp_request_get_input_headers(req),
	    &info->headers, &info->headers_len, &info->header_count);
}

int golibevent_http_request_body(struct evhttp_request *req, void *out,
    size_t len)
{
	return evbuffer_remove(evhttp_request_get_input_buffer(req), out, len);
}

int golibevent_http_add_output_headers(struct evhttp_request *req,
    const char *block, size_t len)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	const char *end = block + len;

	while (block < end) {
		const char *name = block;
		const char *value = name + strlen(name) + 1;
		if (value >= end)
			return -1;
		if (evhttp_add_header(headers, name, value) != 0)
			return -1;
		block = value + strlen(value) + 1;
	}
	return 0;
}

int golibevent_http_request_detached(struct evhttp_request *req)
{
	return evhttp_request_get_connection(req) == NULL;
}

void golibevent_http_abort_request(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon == NULL)
		evhttp_request_free(req);
	else
		evhttp_connection_free(evcon);
}
