/*
 * dnsserver-c: the C reference server of the DNS benchmarks. It uses
 * libevent 2.1's evdns server directly, with no Go, on 127.0.0.1 only.
 *
 * usage: dnsserver-c [-t] PORT
 *
 * PORT 0 lets the kernel choose a free port. Once the server is bound it
 * prints "listening 127.0.0.1:PORT" on standard output. It runs until it is
 * killed. It answers an A question for "a.test" with 127.0.0.2 and a TTL of
 * 60 s, sets the authoritative flag, and answers other names with NXDOMAIN,
 * as the package's server in cmd/dns-pkg does.
 *
 *   -t  call evthread_use_pthreads first, so the base gets the lock that
 *       the Go package's bases have.
 *
 * scripts/bench-dns.sh builds it with gcc and links libevent's static
 * archives.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>
#include <event2/thread.h>

static const unsigned char answer_addr[4] = { 127, 0, 0, 2 };

static void on_request(struct evdns_server_request *req, void *arg)
{
	int i, known = 0;

	(void)arg;
	for (i = 0; i < req->nquestions; i++) {
		const struct evdns_server_question *q = req->questions[i];
		if (strcasecmp(q->name, "a.test") != 0)
			continue;
		known = 1;
		if (q->type == EVDNS_TYPE_A)
			evdns_server_request_add_a_reply(req, q->name, 1,
			    answer_addr, 60);
	}
	evdns_server_request_set_flags(req, EVDNS_FLAGS_AA);
	if (evdns_server_request_respond(req, known ? 0 : 3) < 0)
		evdns_server_request_drop(req);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct event_base *base;
	struct evdns_server_port *port;
	int fd, opt, port_number;

	while ((opt = getopt(argc, argv, "t")) != -1) {
		switch (opt) {
		case 't':
			if (evthread_use_pthreads() != 0) {
				fprintf(stderr, "dnsserver-c: evthread_use_pthreads failed\n");
				return 1;
			}
			break;
		default:
			fprintf(stderr, "usage: dnsserver-c [-t] PORT\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: dnsserver-c [-t] PORT\n");
		return 2;
	}
	port_number = atoi(argv[optind]);
	if (port_number < 0 || port_number > 65535) {
		fprintf(stderr, "dnsserver-c: invalid port %s\n", argv[optind]);
		return 2;
	}

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("dnsserver-c: socket");
		return 1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port_number);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		perror("dnsserver-c: bind");
		return 1;
	}

	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "dnsserver-c: event_base_new failed\n");
		return 1;
	}
	port = evdns_add_server_port_with_base(base, fd, 0, on_request, NULL);
	if (port == NULL) {
		fprintf(stderr, "dnsserver-c: evdns_add_server_port_with_base failed\n");
		return 1;
	}
	printf("listening 127.0.0.1:%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	event_base_dispatch(base);
	evdns_close_server_port(port);
	event_base_free(base);
	return 0;
}
