/*
 * C shims of the HTTP binding. Each shim that calls Go counts the call in
 * golibevent_callbacks_run through golibevent_note_callback, which the loop
 * helpers compare around a non-blocking pass.
 */
#include "http_cgo.h"
#include "_cgo_export.h"

#include <event2/bufferevent.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct evkeyvalq *golibevent_headers_new(void)
{
	struct evkeyvalq *headers = calloc(1, sizeof(*headers));
	/* An empty TAILQ: no first entry, and the last-link pointer at the
	 * head. <sys/queue.h> is not part of libevent's public headers. */
	if (headers != NULL) {
		headers->tqh_first = NULL;
		headers->tqh_last = &headers->tqh_first;
	}
	return headers;
}

void golibevent_headers_free(struct evkeyvalq *headers)
{
	evhttp_clear_headers(headers);
	free(headers);
}

int golibevent_headers_snapshot(const struct evkeyvalq *headers, char **block,
    size_t *len, int *count)
{
	struct evkeyval *kv;
	size_t total = 0, at = 0;
	int n = 0;
	char *out;

	for (kv = headers->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		total += strlen(kv->key) + 1 + strlen(kv->value) + 1;
		n++;
	}
	*block = NULL;
	*len = 0;
	*count = n;
	if (n == 0)
		return 0;
	out = malloc(total);
	if (out == NULL)
		return -1;
	for (kv = headers->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		size_t k = strlen(kv->key) + 1, v = strlen(kv->value) + 1;
		memcpy(out + at, kv->key, k);
		at += k;
		memcpy(out + at, kv->value, v);
		at += v;
	}
	*block = out;
	*len = total;
	return 0;
}

int golibevent_headers_remove_all(struct evkeyvalq *headers, const char *name)
{
	int n = 0;
	while (evhttp_remove_header(headers, name) == 0)
		n++;
	return n;
}

/* A request whose connection has failed has no connection left and is
 * freed by its final reply. The shims free it themselves rather than rely
 * on each libevent reply function to check for the missing connection. */
static int detached(struct evhttp_request *req)
{
	return evhttp_request_get_connection(req) == NULL;
}

/* reply_has_body mirrors evhttp_response_needs_body, which is static in
 * libevent 2.1.12's http.c: no body in a reply to HEAD, nor with status
 * 1xx, 204 or 304. evhttp_make_header still writes the output buffer after
 * the headers in those cases, so the shims drop it themselves. */
static int status_has_body(int code)
{
	return code != 204 && code != 304 && (code < 100 || code >= 200);
}

static int reply_has_body(struct evhttp_request *req, int code)
{
	return status_has_body(code) &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD;
}

/* drop_body empties the output buffer of a reply that must have no body.
 * A reply to HEAD gets the Content-Length that the body would have had, as
 * net/http sends it, unless the handler set one. */
static void drop_body(struct evhttp_request *req, int code, size_t extra)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	size_t len = evbuffer_get_length(out) + extra;
	char value[24];

	evbuffer_drain(out, evbuffer_get_length(out));
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD && len > 0 &&
	    status_has_body(code) &&
	    evhttp_find_header(headers, "Content-Length") == NULL) {
		snprintf(value, sizeof(value), "%zu", len);
		evhttp_add_header(headers, "Content-Length", value);
	}
}

static const char day_names[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char month_names[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* The Date value of the second date_second, formatted on the thread's
 * first reply in that second. */
static __thread time_t date_second = -1;
static __thread char date_value[32];

/* current_date returns the current time as an HTTP date in the IMF-fixdate
 * format that Go's http.TimeFormat also uses, or NULL when the clock cannot
 * be read. It spells the names
 * itself, so a locale that C code sets does not change them. */
static const char *current_date(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now == (time_t)-1)
		return NULL;
	if (now != date_second) {
		if (gmtime_r(&now, &tm) == NULL)
			return NULL;
		snprintf(date_value, sizeof(date_value),
		    "%s, %02d %s %04d %02d:%02d:%02d GMT",
		    day_names[tm.tm_wday], tm.tm_mday, month_names[tm.tm_mon],
		    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		date_second = now;
	}
	return date_value;
}

/* format_size writes n in decimal to out, which has room for 21 bytes. */
static void format_size(char *out, size_t n)
{
	char digits[21];
	int i = 0;

	do {
		digits[i++] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	while (i > 0)
		*out++ = digits[--i];
	*out = '\0';
}

/* add_reply_headers adds the Date and Content-Length headers that
 * evhttp_make_header adds to a full reply to HTTP/1.1 when the handler set
 * none, in the same order and with the same values. Here Date is formatted
 * once a second, and Content-Length without printf. */
static void add_reply_headers(struct evhttp_request *req, int code)
{
	struct evkeyvalq *headers;
	const char *date;
	char length[24];

	if (req->major != 1 || req->minor < 1)
		return;
	headers = evhttp_request_get_output_headers(req);
	if (evhttp_find_header(headers, "Date") == NULL &&
	    (date = current_date()) != NULL)
		evhttp_add_header(headers, "Date", date);
	if (reply_has_body(req, code) &&
	    evhttp_find_header(headers, "Transfer-Encoding") == NULL &&
	    evhttp_find_header(headers, "Content-Length") == NULL) {
		format_size(length, evbuffer_get_length(
		    evhttp_request_get_output_buffer(req)));
		evhttp_add_header(headers, "Content-Length", length);
	}
}

int golibevent_http_send_reply(struct evhttp_request *req, int code,
    const char *reason, const void *data, size_t len)
{
	if (detached(req)) {
		evhttp_request_free(req);
		return 0;
	}
	if (!reply_has_body(req, code))
		drop_body(req, code, len);
	else if (len > 0 &&
	    evbuffer_add(evhttp_request_get_output_buffer(req), data, len) != 0)
		return -1;
	add_reply_headers(req, code);
	golibevent_http_reply_direct(req, code, reason);
	return 0;
}

static void golibevent_http_chunk_cb(struct evhttp_connection *evcon, void *key)
{
	golibevent_note_callback();
	goHTTPChunkCallback(evcon, key);
}

int golibevent_http_send_chunk(struct evhttp_request *req, const void *data,
    size_t len, void *key)
{
	struct evbuffer *buf;

	if (detached(req))
		return 0;
	buf = evbuffer_new();
	if (buf == NULL)
		return -1;
	if (len > 0 && evbuffer_add(buf, data, len) != 0) {
		evbuffer_free(buf);
		return -1;
	}
	if (key != NULL)
		evhttp_send_reply_chunk_with_cb(req, buf, golibevent_http_chunk_cb,
		    key);
	else
		evhttp_send_reply_chunk(req, buf);
	evbuffer_free(buf);
	return 0;
}

void golibevent_http_send_error(struct evhttp_request *req, int code,
    const char *reason)
{
	if (detached(req))
		evhttp_request_free(req);
	else
		evhttp_send_error(req, code, reason);
}

void golibevent_http_send_reply_start(struct evhttp_request *req, int code,
    const char *reason)
{
	if (detached(req))
		return;
	if (!reply_has_body(req, code))
		drop_body(req, code, 0);
	evhttp_send_reply_start(req, code, reason);
}

/* The write callback of a chunked reply's last chunk. An OpenSSL
 * bufferevent in libevent 2.1.12 always defers its write callback, and the
 * deferred call does not check the output again. So a callback from the
 * write of an earlier chunk can run after the last chunk was queued, and
 * evhttp's own end (evhttp_send_reply_end) would take it for the end of the
 * reply: it finished the request, turned writing off for the next one, and
 * left the last chunk unsent. This callback waits for an empty output. */
static void finish_chunked_reply_cb(struct evhttp_connection *evcon,
    void *arg)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	/* With chunked cleared and the output empty, this ends the request
	 * at once. */
	evhttp_send_reply_end(arg);
}

void golibevent_http_send_reply_end(struct evhttp_request *req)
{
	struct evbuffer *last;

	if (detached(req)) {
		evhttp_request_free(req);
		return;
	}
	if (!req->chunked) {
		/* NOTE: a streamed reply to an HTTP/1.0 client, which is not
		 * chunked, still ends here, and over TLS a stale write callback
		 * can end it before its last data is written. */
		evhttp_send_reply_end(req);
		return;
	}
	last = evbuffer_new();
	if (last == NULL || evbuffer_add(last, "0\r\n\r\n", 5) != 0) {
		if (last != NULL)
			evbuffer_free(last);
		evhttp_send_reply_end(req);
		return;
	}
	/* The last chunk goes out as plain data. The request then counts as
	 * finished by its user, as evhttp_send_reply_end marks it, so evhttp
	 * frees it if the connection fails first. */
	req->chunked = 0;
	req->userdone = 1;
	evhttp_send_reply_chunk_with_cb(req, last, finish_chunked_reply_cb, req);
	evbuffer_free(last);
}

/* Every request that reaches a Go handler gets this completion callback,
 * whose key is NULL until OnComplete requests one. Without a key it still
 * calls Go for every EMPTY_COMPLETIONS_PER_CALL-th completion in a row,
 * because each call into Go shows the Go scheduler that the loop's thread is not
 * blocked in C. A loop pass that writes many replies in C alone lasts long
 * enough for the scheduler to hand the loop's processor to another thread,
 * which with GOMAXPROCS=1 costs more than the empty calls. Calling Go for
 * every fourth completion instead of every one made bench/cmd/http-pkg 1.3%
 * faster side by side, with as many context switches per request. */
#define EMPTY_COMPLETIONS_PER_CALL 4
static __thread unsigned golibevent_empty_completions;

static void golibevent_http_complete_cb(struct evhttp_request *req, void *key)
{
	golibevent_note_callback();
	if (key == NULL &&
	    ++golibevent_empty_completions < EMPTY_COMPLETIONS_PER_CALL)
		return;
	golibevent_empty_completions = 0;
	goHTTPCompleteCallback(req, key);
}

void golibevent_http_set_on_complete(struct evhttp_request *req, void *key)
{
	evhttp_request_set_on_complete_cb(req, golibevent_http_complete_cb, key);
}

int golibevent_http_request_peer(struct evhttp_request *req, char *host,
    size_t size, int *port)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *address = NULL;
	ev_uint16_t p = 0;

	if (evcon == NULL || size == 0)
		return -1;
	evhttp_connection_get_peer(evcon, &address, &p);
	if (address == NULL)
		return -1;
	strncpy(host, address, size - 1);
	host[size - 1] = '\0';
	*port = p;
	return 0;
}

static void golibevent_http_request_cb(struct evhttp_request *req, void *key)
{
	golibevent_note_callback();
	/* Done here rather than from Go to save a cgo call per request. A
	 * callback that C code set first is left alone. */
	if (req->on_complete_cb == NULL)
		evhttp_request_set_on_complete_cb(req, golibevent_http_complete_cb,
		    NULL);
	goHTTPRequestCallback(req, key);
}

/* The request callback of a server that the package owns, whose
 * connection then reads without FIONREAD (bufferevent_fixedread.c). A
 * connection whose bufferevent is not a socket one keeps its reads. */
static void golibevent_http_request_own_cb(struct evhttp_request *req,
    void *key)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon != NULL)
		golibevent_bev_use_fixed_reads(
		    evhttp_connection_get_bufferevent(evcon));
	golibevent_http_request_cb(req, key);
}

/* The request callback of a server that the package owns on the epoll
 * backend, which also keeps the connection's descriptor polled for reading
 * (http_keeper.c). */
static void golibevent_http_request_keep_cb(struct evhttp_request *req,
    void *key)
{
	golibevent_http_keep_polled(req);
	golibevent_http_request_own_cb(req, key);
}

static void (*request_cb_for(int conn))(struct evhttp_request *, void *)
{
	switch (conn) {
	case GOLIBEVENT_HTTP_CONN_FIXED_READS:
		return golibevent_http_request_own_cb;
	case GOLIBEVENT_HTTP_CONN_KEPT:
		return golibevent_http_request_keep_cb;
	default:
		return golibevent_http_request_cb;
	}
}

void golibevent_http_set_gencb(struct evhttp *http, void *key, int conn)
{
	evhttp_set_gencb(http, request_cb_for(conn), key);
}

int golibevent_http_set_cb(struct evhttp *http, const char *path, void *key,
    int conn)
{
	return evhttp_set_cb(http, path, request_cb_for(conn), key);
}

static struct bufferevent *golibevent_http_bev_cb(struct event_base *base,
    void *key)
{
	golibevent_note_callback();
	return goHTTPBufferEventCallback(base, key);
}

void golibevent_http_set_bevcb(struct evhttp *http, void *key)
{
	if (key == NULL)
		evhttp_set_bevcb(http, NULL, NULL);
	else
		evhttp_set_bevcb(http, golibevent_http_bev_cb, key);
}

void golibevent_http_set_timeout(struct evhttp *http, int64_t timeout_usec)
{
	struct timeval tv;
	tv.tv_sec = (time_t)(timeout_usec / 1000000);
	tv.tv_usec = (suseconds_t)(timeout_usec % 1000000);
	evhttp_set_timeout_tv(http, &tv);
}

void golibevent_http_clear_listener_error_cb(struct evconnlistener *lev)
{
	evconnlistener_set_error_cb(lev, NULL);
}

int golibevent_http_bound_addr(struct evhttp_bound_socket *bound,
    struct sockaddr_storage *ss, int *len)
{
	socklen_t n = sizeof(*ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);
	if (getsockname(fd, (struct sockaddr *)ss, &n) != 0)
		return -1;
	*len = (int)n;
	return 0;
}

int golibevent_http_bound_nodelay(struct evhttp_bound_socket *bound)
{
	int on = 1;
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

int golibevent_http_connection_nodelay(struct evhttp_connection *evcon)
{
	int on = 0;
	socklen_t n = sizeof(on);
	evutil_socket_t fd;

	if (evcon == NULL)
		return -1;
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &n) != 0)
		return -1;
	return on != 0;
}

int golibevent_http_request_nodelay(struct evhttp_request *req)
{
	return golibevent_http_connection_nodelay(
	    evhttp_request_get_connection(req));
}

/* ---- interop with C code that owns the server or the request ---- */

void golibevent_http_clear_gencb(struct evhttp *http)
{
	evhttp_set_gencb(http, NULL, NULL);
}

struct event_base *golibevent_http_request_base(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	return evcon == NULL ? NULL : evhttp_connection_get_base(evcon);
}

int golibevent_http_request_is_incoming(struct evhttp_request *req)
{
	return req->kind == EVHTTP_REQUEST;
}
