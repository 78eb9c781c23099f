/*
 * C shims of the http.Handler adapter. None of them calls Go.
 */
#include "http_handler_cgo.h"

#include <string.h>

/* Copies the headers into out as name\0value\0 pairs if they fit in cap
 * bytes. Returns the size of the pairs, which is more than cap when
 * nothing was copied, and their number in *count. */
static size_t copy_headers(const struct evkeyvalq *headers, char *out,
    size_t cap, int *count)
{
	const struct evkeyval *kv;
	size_t total = 0, at = 0;
	int n = 0;

	for (kv = headers->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		total += strlen(kv->key) + 1 + strlen(kv->value) + 1;
		n++;
	}
	*count = n;
	if (total > cap)
		return total;
	for (kv = headers->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		size_t k = strlen(kv->key) + 1, v = strlen(kv->value) + 1;
		memcpy(out + at, kv->key, k);
		at += k;
		memcpy(out + at, kv->value, v);
		at += v;
	}
	return total;
}

int golibevent_http_request_info(struct evhttp_request *req,
    struct golibevent_http_request_info *info, char *buf, size_t cap)
{
	const struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
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
	info->headers = NULL;
	info->headers_len = copy_headers(headers, buf, cap, &info->header_count);
	info->headers_in_buf = info->headers_len <= cap;
	if (info->headers_in_buf)
		return 0;
	return golibevent_headers_snapshot(headers, &info->headers,
	    &info->headers_len, &info->header_count);
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

int golibevent_http_send_reply_with_headers(struct evhttp_request *req,
    int code, const char *reason, const char *block, size_t block_len,
    const void *data, size_t len)
{
	if (golibevent_http_add_output_headers(req, block, block_len) != 0)
		return -1;
	if (golibevent_http_send_reply(req, code, reason, data, len) != 0)
		return -2;
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
