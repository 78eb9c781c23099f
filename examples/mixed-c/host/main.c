/*
 * The C half of the mixed-c example: a C program that owns its event_base
 * and HTTP server and runs the loop on its main thread, with Go code from
 * golib.a (built with go build -buildmode=c-archive) on the same loop.
 *
 *   mixed-c [PORT [SECONDS]]
 *
 * It serves 127.0.0.1:PORT (default 0, an ephemeral port) and prints the
 * port. C handles /c and Go handles /go. The program ends after the first
 * /go request, or after SECONDS (default 30), whichever comes first.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "golib.h"

static void serve_c(struct evhttp_request *req, void *arg)
{
	static const char body[] = "hello from C\n";
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add(out, body, sizeof(body) - 1);
	evhttp_send_reply(req, 200, "OK", NULL);
	printf("c: served /c\n");
}

/* Parses argv[i] as an integer in [min, max], or returns fallback when
 * there is no such argument. Exits with status 2 on a bad value. */
static long parse_arg(int argc, char **argv, int i, long min, long max,
    long fallback)
{
	char *end;
	long v;

	if (argc <= i)
		return fallback;
	errno = 0;
	v = strtol(argv[i], &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "mixed-c: invalid argument %s: expected an "
		    "integer from %ld to %ld\nusage: mixed-c [PORT [SECONDS]]\n",
		    argv[i], min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long port = parse_arg(argc, argv, 1, 0, 65535, 0);
	long seconds = parse_arg(argc, argv, 2, 1, 86400, 30);
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct timeval limit;
	sigset_t pipe_set;
	int r;

	/* Output goes to a pipe in the tests; C and Go write lines to it in
	 * turn, so C must not hold a line back. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* A write to a client that has gone away raises SIGPIPE on this
	 * thread, which Go's runtime did not create, so Go would pass it on
	 * to the default action and end the program. Blocked, the write
	 * fails with EPIPE instead. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

	/* The Go package turns libevent's locking on when it initializes, and
	 * only bases created afterwards get locks. */
	if (GoInit() != 0)
		return 1;

	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "mixed-c: event_base_new failed\n");
		return 1;
	}
	http = evhttp_new(base);
	if (http == NULL) {
		fprintf(stderr, "mixed-c: evhttp_new failed\n");
		return 1;
	}
	bound = evhttp_bind_socket_with_handle(http, "127.0.0.1",
	    (ev_uint16_t)port);
	if (bound == NULL) {
		fprintf(stderr, "mixed-c: cannot bind 127.0.0.1:%ld: %s\n",
		    port, strerror(errno));
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
		(struct sockaddr *)&sin, &len) != 0) {
		fprintf(stderr, "mixed-c: getsockname failed: %s\n",
		    strerror(errno));
		return 1;
	}
	evhttp_set_cb(http, "/c", serve_c, NULL);

	if (GoStart(base, http) != 0)
		return 1;

	limit.tv_sec = seconds;
	limit.tv_usec = 0;
	event_base_loopexit(base, &limit);
	printf("mixed-c: listening on 127.0.0.1:%d with %s\n",
	    ntohs(sin.sin_port), event_base_get_method(base));

	r = event_base_dispatch(base);

	GoStop();
	evhttp_free(http);
	event_base_free(base);
	if (r < 0) {
		fprintf(stderr, "mixed-c: event_base_dispatch failed\n");
		return 1;
	}
	printf("mixed-c: done\n");
	return 0;
}
