#include "chttp.h"
#include "_cgo_export.h"

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>

static void reply_text(struct evhttp_request *req, const char *text)
{
	struct evbuffer *body = evhttp_request_get_output_buffer(req);

	evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void c_path_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	reply_text(req, "from C");
}

static void generic_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	reply_text(req, "C default");
}

static void handover_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	chttpHandOver(req);
}

struct evhttp *chttp_server_new(struct event_base *base, int *port)
{
	struct evhttp *http = evhttp_new(base);
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (http == NULL)
		return NULL;
	bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (bound == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bound),
		(struct sockaddr *)&sin, &len) != 0) {
		evhttp_free(http);
		return NULL;
	}
	*port = ntohs(sin.sin_port);
	evhttp_set_cb(http, "/c", c_path_cb, NULL);
	evhttp_set_cb(http, "/handover", handover_cb, NULL);
	evhttp_set_gencb(http, generic_cb, NULL);
	return http;
}

const char *chttp_request_uri(struct evhttp_request *req)
{
	return req == NULL ? NULL : evhttp_request_get_uri(req);
}
