/*
 * echo-c: the C reference server of the echo benchmarks. It uses libevent
 * 2.1 directly, with no Go, and listens on 127.0.0.1 only.
 *
 * usage: echo-c [-t] [-m bufferevent|bufferevent-direct|event] PORT
 *
 * PORT 0 lets the kernel choose a free port. Once the server listens it
 * prints "listening 127.0.0.1:PORT" on standard output. It runs until it is
 * killed.
 *
 *   -m bufferevent  (default) one bufferevent per connection. The read
 *                   callback moves the input buffer's chains to the output
 *                   buffer with evbuffer_add_buffer, without copying.
 *   -m bufferevent-direct
 *                   the same, but while the output is empty the read
 *                   callback writes the input to the socket itself with
 *                   evbuffer_write, and moves only what the socket did not
 *                   take to the output. It makes the system calls of the
 *                   package's write-through (BufferEvent.SetWriteThrough):
 *                   no write event, so no epoll_ctl, while the socket takes
 *                   everything.
 *   -m event        one persistent EV_READ event per connection. Its
 *                   callback calls recv and send itself. Only when send
 *                   takes less than all does it wait for an EV_WRITE event.
 *   -t              call evthread_use_pthreads first, so the base gets the
 *                   lock that the Go package's bases have.
 *
 * Both modes close the connection at EOF or on an error. scripts/bench-echo.sh
 * builds it with gcc and links libevent's static archives.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

/* The maximum size of one recv in event mode: 16 KiB, as a bufferevent
 * reads at most 16 KiB at a time by default. */
#define READ_SIZE 16384

static struct event_base *base;
static char read_buffer[READ_SIZE];

/* ---- bufferevent mode ---- */

static void bev_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(bufferevent_get_output(bev),
	    bufferevent_get_input(bev));
}

static void bev_read_direct_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *input = bufferevent_get_input(bev);
	struct evbuffer *output = bufferevent_get_output(bev);
	(void)arg;

	/* A write error leaves the data in the input; moved to the output,
	 * the bufferevent's own write then reports the error. */
	if (evbuffer_get_length(output) == 0)
		evbuffer_write(input, bufferevent_getfd(bev));
	if (evbuffer_get_length(input) > 0)
		evbuffer_add_buffer(output, input);
}

static void bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static bufferevent_data_cb bev_read = bev_read_cb;

static void bev_accept_cb(struct evconnlistener *listener,
    evutil_socket_t fd, struct sockaddr *peer, int peer_len, void *arg)
{
	struct bufferevent *bev;
	(void)listener;
	(void)peer;
	(void)peer_len;
	(void)arg;

	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		fprintf(stderr, "echo-c: bufferevent_socket_new failed\n");
		close(fd);
		return;
	}
	bufferevent_setcb(bev, bev_read, NULL, bev_event_cb, NULL);
	if (bufferevent_enable(bev, EV_READ) != 0) {
		fprintf(stderr, "echo-c: bufferevent_enable failed\n");
		bufferevent_free(bev);
	}
}

/* ---- event mode ---- */

struct conn {
	evutil_socket_t fd;
	struct event *read_event;
	struct event *write_event; /* created at the first short send */
	char *pending;             /* bytes that send has not taken yet */
	size_t pending_len;
};

static void conn_close(struct conn *c)
{
	event_free(c->read_event);
	if (c->write_event != NULL)
		event_free(c->write_event);
	close(c->fd);
	free(c->pending);
	free(c);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg);

/* Sends data. Keeps the bytes that send did not take and waits for
 * EV_WRITE. Returns -1 after an error, and the caller then closes. */
static int conn_send(struct conn *c, const char *data, size_t len)
{
	ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		n = 0;
	}
	if ((size_t)n == len)
		return 0;

	char *copy = malloc(len - n);
	if (copy == NULL)
		return -1;
	memcpy(copy, data + n, len - n);
	c->pending = copy;
	c->pending_len = len - n;
	if (c->write_event == NULL) {
		c->write_event = event_new(base, c->fd, EV_WRITE | EV_PERSIST,
		    conn_write_cb, c);
		if (c->write_event == NULL)
			return -1;
	}
	event_del(c->read_event);
	return event_add(c->write_event, NULL);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n;
	(void)what;

	n = recv(fd, read_buffer, sizeof(read_buffer), 0);
	if (n > 0) {
		if (conn_send(c, read_buffer, (size_t)n) != 0)
			conn_close(c);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	conn_close(c); /* EOF or an error */
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char *data = c->pending;
	size_t len = c->pending_len;
	(void)fd;
	(void)what;

	c->pending = NULL;
	c->pending_len = 0;
	if (conn_send(c, data, len) != 0) {
		free(data);
		conn_close(c);
		return;
	}
	free(data);
	if (c->pending == NULL) {
		event_del(c->write_event);
		if (event_add(c->read_event, NULL) != 0)
			conn_close(c);
	}
}

static void event_accept_cb(struct evconnlistener *listener,
    evutil_socket_t fd, struct sockaddr *peer, int peer_len, void *arg)
{
	struct conn *c;
	(void)listener;
	(void)peer;
	(void)peer_len;
	(void)arg;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->read_event = event_new(base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	if (c->read_event == NULL || event_add(c->read_event, NULL) != 0) {
		fprintf(stderr, "echo-c: cannot watch a new connection\n");
		if (c->read_event != NULL)
			event_free(c->read_event);
		close(fd);
		free(c);
	}
}

/* ---- setup ---- */

/* Raises the soft limit on descriptors to the hard limit, so that the
 * idle-connection run can hold many connections. */
static void raise_file_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			perror("echo-c: setrlimit");
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: echo-c [-t] [-m bufferevent|bufferevent-direct|event] PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	evconnlistener_cb accept_cb = bev_accept_cb;
	struct evconnlistener *listener;
	struct sockaddr_in sin;
	socklen_t sin_len = sizeof(sin);
	char *end;
	long port;
	int opt;

	while ((opt = getopt(argc, argv, "tm:")) != -1) {
		switch (opt) {
		case 't':
			if (evthread_use_pthreads() != 0) {
				fprintf(stderr, "echo-c: evthread_use_pthreads failed\n");
				return 1;
			}
			break;
		case 'm':
			if (strcmp(optarg, "bufferevent") == 0) {
				accept_cb = bev_accept_cb;
				bev_read = bev_read_cb;
			} else if (strcmp(optarg, "bufferevent-direct") == 0) {
				accept_cb = bev_accept_cb;
				bev_read = bev_read_direct_cb;
			} else if (strcmp(optarg, "event") == 0) {
				accept_cb = event_accept_cb;
			} else {
				usage();
			}
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	port = strtol(argv[optind], &end, 10);
	if (*argv[optind] == '\0' || *end != '\0' || port < 0 || port > 65535) {
		fprintf(stderr, "echo-c: invalid port %s\n", argv[optind]);
		return 2;
	}

	/* evbuffer_write uses writev, which has no MSG_NOSIGNAL. */
	signal(SIGPIPE, SIG_IGN);
	raise_file_limit();
	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "echo-c: event_base_new failed\n");
		return 1;
	}

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = evconnlistener_new_bind(base, accept_cb, NULL,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&sin, sizeof(sin));
	if (listener == NULL) {
		fprintf(stderr, "echo-c: cannot listen on 127.0.0.1:%ld: %s\n",
		    port, strerror(errno));
		return 1;
	}
	if (getsockname(evconnlistener_get_fd(listener),
		(struct sockaddr *)&sin, &sin_len) != 0) {
		perror("echo-c: getsockname");
		return 1;
	}
	printf("listening 127.0.0.1:%d\n", ntohs(sin.sin_port));
	fflush(stdout);

	event_base_dispatch(base);
	evconnlistener_free(listener);
	event_base_free(base);
	return 0;
}
