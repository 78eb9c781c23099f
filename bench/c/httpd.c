/*
 * httpd-c: the C reference server of the HTTP benchmarks. It serves
 * "Hello, World!" as text/plain with libevent 2.1's evhttp directly, with
 * no Go, and listens on 127.0.0.1 only.
 *
 * usage: httpd-c [-c] PORT
 *
 * PORT 0 lets the kernel choose a free port. Once the server listens it
 * prints "listening 127.0.0.1:PORT" on standard output. It runs until it is
 * killed.
 *
 * The base is set up as the Go package sets up its own: evthread_use_pthreads
 * first, so the base is locked, and libevent's default configuration, or
 * with -c the flag EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST. The server gets the
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
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

static const char hello[] = "Hello, World!";

static void hello_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	(void)arg;

	evbuffer_add(body, hello, sizeof(hello) - 1);
	evhttp_send_reply(req, 200, NULL, NULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: httpd-c [-c] PORT\n");
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

	while ((opt = getopt(argc, argv, "c")) != -1) {
		if (opt == 'c')
			changelist = 1;
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
