/*
 * C side of HTTPS: evhttp servers and client connections over OpenSSL
 * bufferevents. Only files built without the libevent_no_openssl tag
 * include it.
 */
#ifndef GOLIBEVENT_HTTP_TLS_CGO_H
#define GOLIBEVENT_HTTP_TLS_CGO_H

#include "http_cgo.h"
#include "ssl_shims.h"

/* Makes every new connection of http speak TLS as a server with ctx
 * (evhttp_set_bevcb), or removes that when ctx is NULL. evhttp keeps ctx
 * as the callback's argument, so the caller holds a reference to ctx until
 * the callback is removed or the server is freed. */
void golibevent_https_set_server_ctx(struct evhttp *http, SSL_CTX *ctx);

/* Creates a client connection to address and port whose bufferevent speaks
 * TLS with ctx (evhttp_connection_base_bufferevent_new over an OpenSSL
 * bufferevent). address is looked up with dns when dns is not NULL. host,
 * when not NULL, is the name or IP address that the server's certificate
 * must match. Returns NULL with errs or errno set. */
struct evhttp_connection *golibevent_https_connection_new(
    struct event_base *base, struct evdns_base *dns, SSL_CTX *ctx,
    const char *host, const char *address, unsigned short port,
    struct golibevent_tls_errors *errs);

/* Moves the TLS errors of the connection's last failure into errs: the
 * OpenSSL errors that the bufferevent kept and the first certificate
 * verification error of the handshake. */
void golibevent_https_connection_errors(struct evhttp_connection *evcon,
    struct golibevent_tls_errors *errs);

/* Clears the errors of an earlier connection when evcon has no socket,
 * so that the next failure reports only its own. */
void golibevent_https_connection_forget_errors(
    struct evhttp_connection *evcon);

#endif
