//go:build cgo && !libevent_no_openssl

/*
 * HTTPS on evhttp. A server's bufferevent callback and a client
 * connection's bufferevent are created here in C, so that accepting a TLS
 * connection costs no call into Go. The callback's argument is the server's
 * SSL_CTX, a C pointer whose reference the Go side keeps while the callback
 * is installed. It is not a registry key, because the callback never calls
 * Go.
 */
#include "http_tls_cgo.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>

/* An SSL's ex_data slot that contains the first X509_V_ERR_* code of its
 * handshake, because SSL_get_verify_result is reset by the SSL_clear that
 * evhttp's reset of a failed connection runs before the request's
 * callbacks. */
static int verify_index = -1;
static pthread_once_t verify_index_once = PTHREAD_ONCE_INIT;

static void verify_index_init(void)
{
	verify_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int record_verify_error(int ok, X509_STORE_CTX *store)
{
	SSL *ssl;
	if (ok)
		return ok;
	ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl != NULL && verify_index >= 0 &&
	    SSL_get_ex_data(ssl, verify_index) == NULL)
		SSL_set_ex_data(ssl, verify_index,
		    (void *)(intptr_t)X509_STORE_CTX_get_error(store));
	return ok;
}

/* Sets what every HTTP connection's SSL needs. HTTP marks the end of a
 * message itself (Content-Length or chunked encoding), and many peers close
 * a connection without a TLS close_notify, so such a close is an end of
 * file: SSL_OP_IGNORE_UNEXPECTED_EOF makes OpenSSL 3 report it as one,
 * and libevent's dirty-shutdown flag does the same with OpenSSL 1.1. */
/* Sets TCP_NODELAY on the socket when a handshake starts. An OpenSSL
 * bufferevent writes each chain of its output as a TLS record of its own,
 * so a request with a body, or a reply, goes out in several small writes.
 * With Nagle's algorithm the later writes waited for the peer's delayed
 * ACK: a POST from the HTTPS client took 43 ms, against 0.2 ms for a GET
 * (to Go's TLS server on 127.0.0.1). */
static void set_nodelay_on_handshake(const SSL *ssl, int where, int ret)
{
	int fd, on = 1;

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_START))
		return;
	fd = SSL_get_fd(ssl);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

static void prepare_http_ssl(SSL *ssl)
{
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_set_info_callback(ssl, set_nodelay_on_handshake);
}

/* Returns a bufferevent whose bufferevent_setfd fails, which makes evhttp
 * drop the new connection: a pair end, whose type has no setfd. With
 * BEV_OPT_CLOSE_ON_FREE evhttp leaves closing the socket to its caller,
 * which closes it once. */
static struct bufferevent *refused_connection(struct event_base *base)
{
	struct bufferevent *pair[2];
	if (bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE, pair) != 0)
		return NULL;
	bufferevent_free(pair[1]);
	return pair[0];
}

static struct bufferevent *https_server_bev_cb(struct event_base *base,
    void *arg)
{
	SSL_CTX *ctx = arg;
	SSL *ssl;
	struct bufferevent *bev;

	ERR_clear_error();
	ssl = SSL_new(ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		return refused_connection(base);
	}
	prepare_http_ssl(ssl);
	/* With BEV_OPT_CLOSE_ON_FREE the bufferevent owns the SSL and the
	 * socket, and evhttp frees the bufferevent with its connection. */
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		/* With no descriptor, libevent 2.1.12 fails only in
		 * bufferevent_openssl_new_impl, which frees the SSL when
		 * BEV_OPT_CLOSE_ON_FREE is set. */
		ERR_clear_error();
		return refused_connection(base);
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void golibevent_https_set_server_ctx(struct evhttp *http, SSL_CTX *ctx)
{
	if (ctx == NULL)
		evhttp_set_bevcb(http, NULL, NULL);
	else
		evhttp_set_bevcb(http, https_server_bev_cb, ctx);
}

struct evhttp_connection *golibevent_https_connection_new(
    struct event_base *base, struct evdns_base *dns, SSL_CTX *ctx,
    const char *host, const char *address, unsigned short port,
    struct golibevent_tls_errors *errs)
{
	SSL *ssl;
	struct bufferevent *bev;
	struct evhttp_connection *evcon;

	pthread_once(&verify_index_once, verify_index_init);
	if (verify_index < 0) {
		errno = ENOMEM;
		return NULL;
	}
	ssl = golibevent_tls_ssl_new(ctx, host, errs);
	if (ssl == NULL)
		return NULL;
	prepare_http_ssl(ssl);
	SSL_set_verify(ssl, SSL_get_verify_mode(ssl), record_verify_error);

	errno = 0;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		/* libevent freed the SSL, as in https_server_bev_cb. */
		golibevent_tls_errors_collect(errs);
		if (errno == 0)
			errno = ENOMEM;
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	evcon = evhttp_connection_base_bufferevent_new(base, dns, bev,
	    address, port);
	if (evcon == NULL) {
		/* evhttp frees no bufferevent that it did not take over, and it
		 * takes one over only on success. */
		bufferevent_free(bev);
		if (errno == 0)
			errno = ENOMEM;
		return NULL;
	}
	return evcon;
}

void golibevent_https_connection_errors(struct evhttp_connection *evcon,
    struct golibevent_tls_errors *errs)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long stack[GOLIBEVENT_TLS_MAX_ERRORS];
	unsigned long code;
	int n = 0;
	long verify;

	memset(errs, 0, sizeof(*errs));
	/* bufferevent_get_openssl_error returns the newest first. */
	while ((code = bufferevent_get_openssl_error(bev)) != 0) {
		if (n < GOLIBEVENT_TLS_MAX_ERRORS)
			stack[n++] = code;
	}
	while (n > 0)
		golibevent_tls_errors_add_code(errs, stack[--n]);
	if (ssl == NULL || verify_index < 0)
		return;
	verify = (long)(intptr_t)SSL_get_ex_data(ssl, verify_index);
	SSL_set_ex_data(ssl, verify_index, NULL);
	if (verify != X509_V_OK) {
		errs->verify = verify;
		snprintf(errs->verify_text, sizeof(errs->verify_text), "%s",
		    X509_verify_cert_error_string(verify));
	}
}

void golibevent_https_connection_forget_errors(
    struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct golibevent_tls_errors errs;
	if (bufferevent_getfd(bev) >= 0)
		return;
	golibevent_https_connection_errors(evcon, &errs);
}
