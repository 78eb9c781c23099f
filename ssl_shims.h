/*
 * Declarations of the OpenSSL side of the package: TLS contexts and OpenSSL
 * bufferevents. Only files built without the libevent_no_openssl tag
 * include it, so a build with that tag needs no OpenSSL headers.
 */
#ifndef GOLIBEVENT_SSL_SHIMS_H
#define GOLIBEVENT_SSL_SHIMS_H

#include "cgo_callbacks.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <event2/bufferevent_ssl.h>

#if OPENSSL_VERSION_NUMBER < 0x10101000L
#error "golibevent needs OpenSSL 1.1.1 or later (Debian and Ubuntu: libssl-dev); or build with -tags libevent_no_openssl"
/* Adds one packed OpenSSL error code to errs, and moves this thread's
 * OpenSSL error queue into errs, for the HTTPS shims. */
void golibevent_tls_errors_add_code(struct golibevent_tls_errors *errs,
    unsigned long code);
void golibevent_tls_errors_collect(struct golibevent_tls_errors *errs);

#endif

/* The most OpenSSL errors that one failure reports; older ones are
 * dropped. */
#define GOLIBEVENT_TLS_MAX_ERRORS 8
#define GOLIBEVENT_TLS_ERROR_TEXT 256

/* OpenSSL's errors of one failure, read on the thread where it happened
 * because OpenSSL keeps its error queue per thread. */
struct golibevent_tls_errors {
	int count;
	unsigned long codes[GOLIBEVENT_TLS_MAX_ERRORS];
	char text[GOLIBEVENT_TLS_MAX_ERRORS][GOLIBEVENT_TLS_ERROR_TEXT];
	/* SSL_get_verify_result of the connection, X509_V_OK when the failure
	 * had nothing to do with certificate verification. */
	long verify;
	char verify_text[GOLIBEVENT_TLS_ERROR_TEXT];
	/* The SSL_get_error result that libevent recorded with the errors
	 * (SSL_ERROR_SSL, SSL_ERROR_SYSCALL, ...), or 0. */
	int ssl_error;
	/* 1 when the errors include SSL_R_UNEXPECTED_EOF_WHILE_READING: the
	 * peer closed the connection without a TLS close_notify. */
	int unexpected_eof;
};

/* Creates a client (server 0) or server context with no certificate. */
SSL_CTX *golibevent_tls_ctx_new(int server, struct golibevent_tls_errors *errs);
int golibevent_tls_ctx_use_chain(SSL_CTX *ctx, const void *pem, size_t len,
    struct golibevent_tls_errors *errs);
int golibevent_tls_ctx_use_key(SSL_CTX *ctx, const void *pem, size_t len,
    struct golibevent_tls_errors *errs);
/* Adds every certificate of a PEM bundle to the context's trust store and
 * returns how many it added, or -1. */
int golibevent_tls_ctx_add_roots(SSL_CTX *ctx, const void *pem, size_t len,
    struct golibevent_tls_errors *errs);
int golibevent_tls_ctx_use_system_roots(SSL_CTX *ctx,
    struct golibevent_tls_errors *errs);
/* Sets the ALPN protocols in wire format (length-prefixed names): the
 * client's offer, or the server's list in order of preference. */
int golibevent_tls_ctx_set_alpn(SSL_CTX *ctx, int server,
    const unsigned char *wire, size_t len, struct golibevent_tls_errors *errs);
int golibevent_tls_ctx_set_min_version(SSL_CTX *ctx, int version,
    struct golibevent_tls_errors *errs);

/* Creates the SSL of one connection. For a client, host (or NULL) is
 * checked against the peer's certificate and sent as SNI unless it is an
 * IP address. */
SSL *golibevent_tls_ssl_new(SSL_CTX *ctx, const char *host,
    struct golibevent_tls_errors *errs);

/* Create OpenSSL bufferevents over fd or underlying. On success libevent
 * uses ssl and the package's state refers to the new bufferevent. */
struct golibevent_bev *golibevent_tls_bev_socket_new(struct event_base *base,
    evutil_socket_t fd, SSL *ssl, int state, int options, void *key,
    struct golibevent_tls_errors *errs);
struct golibevent_bev *golibevent_tls_bev_filter_new(struct event_base *base,
    struct bufferevent *underlying, SSL *ssl, int state, int options,
    void *key, struct golibevent_tls_errors *errs);

/* Copies the peer's leaf certificate in DER form into a malloc'd buffer
 * that the caller frees. Returns 0 with *der NULL when there is none. */
int golibevent_tls_peer_certificate(SSL *ssl, unsigned char **der,
    int *len);
/* Copies the negotiated ALPN protocol into out (at most 255 bytes) and
 * returns its length, 0 when none was negotiated. */
int golibevent_tls_alpn_selected(SSL *ssl, char *out);

/* Adds one packed OpenSSL error code to errs, and moves this thread's
 * OpenSSL error queue into errs, for the HTTPS shims. */
void golibevent_tls_errors_add_code(struct golibevent_tls_errors *errs,
    unsigned long code);
void golibevent_tls_errors_collect(struct golibevent_tls_errors *errs);

#endif
