/*
 * httpd-c: the C reference server of the HTTP benchmarks. It serves
 * "Hello, World!" as text/plain with libevent 2.1's evhttp directly, with
 * no Go, and listens on 127.0.0.1 only.
 *
 * usage: httpd-c [-c] [-k] PORT
 *
 * PORT 0 lets the kernel choose a free port. Once the server listens it
 * prints "listening 127.0.0.1:PORT" on standard output. It runs until it is
 * killed.
 *
 * The base is set up as the Go package sets up its own: evthread_use_pthreads
 * first, so the base is locked, and libevent's default configuration, or
 * with -c the flag EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST. With -k each
 * connection gets a second persistent read event, as the package's servers
 * do (http_keeper.c, written again here in short), so that evhttp's turns of
 * reading off and on make no epoll_ctl call. The server gets the
 * header and body limits that the package's NewHTTPServer sets (1 MiB and
 * 8 MiB). scripts/bench-http.sh builds it with gcc and links libevent's
 * static archives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

static const char hello[] = "Hello, World!";

/* The keeper of -k: a persistent read event on a connection's descriptor
 * that steps aside after two readable passes in which the bufferevent read
 * nothing, and comes back when its input gets data. */
struct keeper {
	struct event *ev;
	struct evbuffer *input;
	struct evbuffer_cb_entry *input_cb;
	unsigned idle_passes;
};

#define MAX_KEPT_FD 65536
static int use_keepers;
static struct keeper *keepers[MAX_KEPT_FD];

static void keeper_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct keeper *k = arg;
	(void)fd;
	(void)what;

	if (++k->idle_passes >= 2)
		event_del(k->ev);
}

static void keeper_input_cb(struct evbuffer *input,
    const struct evbuffer_cb_info *info, void *arg)
{
	struct keeper *k = arg;
	(void)input;

	if (info->n_added == 0)
		return;
	k->idle_passes = 0;
	if (!event_pending(k->ev, EV_READ, NULL))
		event_add(k->ev, NULL);
}

static void keeper_close_cb(struct evhttp_connection *evcon, void *arg)
{
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	struct keeper *k = arg;

	if (fd >= 0 && fd < MAX_KEPT_FD)
		keepers[fd] = NULL;
	evbuffer_remove_cb_entry(k->input, k->input_cb);
	event_free(k->ev);
	free(k);
}

static void keep_polled(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	evutil_socket_t fd = bufferevent_getfd(bev);
	struct keeper *k;

	if (fd < 0 || fd >= MAX_KEPT_FD || keepers[fd] != NULL)
		return;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return;
	k->ev = event_new(bufferevent_get_base(bev), fd, EV_READ | EV_PERSIST,
	    keeper_read_cb, k);
	k->input = bufferevent_get_input(bev);
	k->input_cb = evbuffer_add_cb(k->input, keeper_input_cb, k);
	event_add(k->ev, NULL);
	keepers[fd] = k;
	evhttp_connection_set_closecb(evcon, keeper_close_cb, k);
}

static void hello_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	(void)arg;

	if (use_keepers)
		keep_polled(req);
	evbuffer_add(body, hello, sizeof(hello) - 1);
	evhttp_send_reply(req, 200, NULL, NULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: httpd-c [-c] [-k] PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct event_config *cfg;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int changelist = 0, opt;
	long port;
	char *end;

	while ((opt = getopt(argc, argv, "ck")) != -1) {
		if (opt == 'c')
			changelist = 1;
		else if (opt == 'k')
			use_keepers = 1;
		else
			usage();
	}
	if (optind != argc - 1)
		usage();
	port = strtol(argv[optind], &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
		usage();

	if (evthread_use_pthreads() != 0) {
		fprintf(stderr, "httpd-c: evthread_use_pthreads failed\n");
		return 1;
	}
	cfg = event_config_new();
	if (cfg == NULL) {
		fprintf(stderr, "httpd-c: event_config_new failed\n");
		return 1;
	}
	if (changelist)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL) {
		fprintf(stderr, "httpd-c: event_base_new_with_config failed\n");
		return 1;
	}
	http = evhttp_new(base);
	if (http == NULL) {
		fprintf(stderr, "httpd-c: evhttp_new failed\n");
		return 1;
	}
	evhttp_set_max_headers_size(http, 1 << 20);
	evhttp_set_max_body_size(http, 8 << 20);
	evhttp_set_default_content_type(http, "text/plain");
	evhttp_set_gencb(http, hello_cb, NULL);
	bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
	if (bound == NULL) {
		perror("httpd-c: evhttp_bind_socket_with_handle");
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) != 0) {
		perror("httpd-c: getsockname");
		return 1;
	}
	printf("listening 127.0.0.1:%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
