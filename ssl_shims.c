//go:build cgo && !libevent_no_openssl

/*
 * C side of TLS contexts and OpenSSL bufferevents. OpenSSL keeps its error
 * queue per thread, so every helper that can fail clears the queue first
 * and copies the errors out before it returns, within one cgo call.
 */
#include "ssl_shims.h"
#include "_cgo_export.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* Adds one packed OpenSSL error code, with its text, to errs. The
 * SSL_get_error results that libevent records next to real error codes are
 * small numbers from no library; they are kept apart. */
static void tls_errors_add(struct golibevent_tls_errors *errs,
    unsigned long code)
{
	if (ERR_GET_LIB(code) == 0 && code < 0x100) {
		errs->ssl_error = (int)code;
		return;
	}
	if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		errs->unexpected_eof = 1;
	if (errs->count == GOLIBEVENT_TLS_MAX_ERRORS)
		return;
	errs->codes[errs->count] = code;
	ERR_error_string_n(code, errs->text[errs->count],
	    GOLIBEVENT_TLS_ERROR_TEXT);
	errs->count++;
}

/* Moves this thread's OpenSSL error queue into errs, oldest first. */
static void tls_errors_drain(struct golibevent_tls_errors *errs)
{
	unsigned long code;
	while ((code = ERR_get_error()) != 0)
		tls_errors_add(errs, code);
}

static void tls_errors_reset(struct golibevent_tls_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	ERR_clear_error();
}

static void tls_errors_note_verify(struct golibevent_tls_errors *errs,
    const SSL *ssl)
{
	long verify;
	if (ssl == NULL)
		return;
	verify = SSL_get_verify_result(ssl);
	errs->verify = verify;
	if (verify != X509_V_OK)
		snprintf(errs->verify_text, sizeof(errs->verify_text), "%s",
		    X509_verify_cert_error_string(verify));
}

SSL_CTX *golibevent_tls_ctx_new(int server, struct golibevent_tls_errors *errs)
{
	SSL_CTX *ctx;
	tls_errors_reset(errs);
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		tls_errors_drain(errs);
		return NULL;
	}
	/* libevent writes from its own buffers, which can move between two
	 * attempts of a partial write. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_ENABLE_PARTIAL_WRITE);
	return ctx;
}

/* Opens a read-only memory BIO over len bytes of pem. */
static BIO *pem_bio(const void *pem, size_t len,
    struct golibevent_tls_errors *errs)
{
	BIO *bio;
	if (len > INT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		tls_errors_drain(errs);
	return bio;
}

int golibevent_tls_ctx_use_chain(SSL_CTX *ctx, const void *pem, size_t len,
    struct golibevent_tls_errors *errs)
{
	BIO *bio;
	X509 *cert;
	int r = -1;

	tls_errors_reset(errs);
	if ((bio = pem_bio(pem, len, errs)) == NULL)
		return -1;
	/* The first certificate is the leaf; the others are its chain. */
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (cert == NULL || SSL_CTX_use_certificate(ctx, cert) != 1)
		goto done;
	X509_free(cert);
	cert = NULL;
	if (SSL_CTX_clear_chain_certs(ctx) != 1)
		goto done;
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		/* add0 takes the reference on success. */
		if (SSL_CTX_add0_chain_cert(ctx, cert) != 1)
			goto done;
	}
	/* The loop ends with "no start line" at the end of the input, which
	 * is no error. */
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	r = ERR_peek_error() == 0 ? 0 : -1;
done:
	X509_free(cert);
	tls_errors_drain(errs);
	BIO_free(bio);
	return r;
}

int golibevent_tls_ctx_use_key(SSL_CTX *ctx, const void *pem, size_t len,
    struct golibevent_tls_errors *errs)
{
	BIO *bio;
	EVP_PKEY *key;
	int r = -1;

	tls_errors_reset(errs);
	if ((bio = pem_bio(pem, len, errs)) == NULL)
		return -1;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1)
		r = 0;
	EVP_PKEY_free(key);
	BIO_free(bio);
	tls_errors_drain(errs);
	return r;
}

int golibevent_tls_ctx_add_roots(SSL_CTX *ctx, const void *pem, size_t len,
    struct golibevent_tls_errors *errs)
{
	BIO *bio;
	X509 *cert;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int added = 0;

	tls_errors_reset(errs);
	if ((bio = pem_bio(pem, len, errs)) == NULL)
		return -1;
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(store, cert);
		X509_free(cert);
		if (ok != 1) {
			added = -1;
			break;
		}
		added++;
	}
	if (added >= 0 &&
	    ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	if (ERR_peek_error() != 0)
		added = -1;
	tls_errors_drain(errs);
	BIO_free(bio);
	return added;
}

int golibevent_tls_ctx_use_system_roots(SSL_CTX *ctx,
    struct golibevent_tls_errors *errs)
{
	int r;
	tls_errors_reset(errs);
	r = SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -1;
	tls_errors_drain(errs);
	return r;
}

/* The server's ALPN list lives in ex_data of its context, so that it is
 * freed with the context and not before: connections hold references to
 * the context after the Go TLSConfig is closed. */
static int alpn_index = -1;
static pthread_once_t alpn_index_once = PTHREAD_ONCE_INIT;

static void alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void alpn_index_init(void)
{
	alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, alpn_free);
}

/* Stored list: a 2-byte length, then the wire-format names. */
static int alpn_select(SSL *ssl, const unsigned char **out,
    unsigned char *outlen, const unsigned char *in, unsigned int inlen,
    void *arg)
{
	const unsigned char *list;
	unsigned char *selected;
	unsigned int len;
	(void)arg;

	list = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index);
	if (list == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	len = (unsigned int)list[0] << 8 | list[1];
	/* The server's order wins: SSL_select_next_proto walks its first
	 * list and picks the first name that the second contains. */
	if (SSL_select_next_proto(&selected, outlen, list + 2, len, in,
		inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = selected;
	return SSL_TLSEXT_ERR_OK;
}

int golibevent_tls_ctx_set_alpn(SSL_CTX *ctx, int server,
    const unsigned char *wire, size_t len, struct golibevent_tls_errors *errs)
{
	unsigned char *list;

	tls_errors_reset(errs);
	if (len == 0 || len > 0xffff) {
		errno = EINVAL;
		return -1;
	}
	if (!server) {
		/* SSL_CTX_set_alpn_protos returns 0 on success. */
		if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned int)len) != 0) {
			tls_errors_drain(errs);
			return -1;
		}
		return 0;
	}
	pthread_once(&alpn_index_once, alpn_index_init);
	if (alpn_index < 0) {
		tls_errors_drain(errs);
		return -1;
	}
	list = malloc(len + 2);
	if (list == NULL) {
		errno = ENOMEM;
		return -1;
	}
	list[0] = (unsigned char)(len >> 8);
	list[1] = (unsigned char)len;
	memcpy(list + 2, wire, len);
	free(SSL_CTX_get_ex_data(ctx, alpn_index));
	if (SSL_CTX_set_ex_data(ctx, alpn_index, list) != 1) {
		free(list);
		tls_errors_drain(errs);
		return -1;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return 0;
}

int golibevent_tls_ctx_set_min_version(SSL_CTX *ctx, int version,
    struct golibevent_tls_errors *errs)
{
	tls_errors_reset(errs);
	if (SSL_CTX_set_min_proto_version(ctx, version) != 1) {
		tls_errors_drain(errs);
		return -1;
	}
	return 0;
}

SSL *golibevent_tls_ssl_new(SSL_CTX *ctx, const char *host,
    struct golibevent_tls_errors *errs)
{
	SSL *ssl;
	unsigned char ip[16];
	int is_ip;

	tls_errors_reset(errs);
	ssl = SSL_new(ctx);
	if (ssl == NULL) {
		tls_errors_drain(errs);
		return NULL;
	}
	if (host == NULL || host[0] == '\0')
		return ssl;
	is_ip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	if (is_ip) {
		/* SNI carries host names only (RFC 6066, section 3). */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
			goto fail;
		return ssl;
	}
	if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    SSL_set1_host(ssl, host) != 1)
		goto fail;
	/* A name must match a whole label; "*.example.com" matches one level
	 * only. */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return ssl;
fail:
	tls_errors_drain(errs);
	SSL_free(ssl);
	return NULL;
}

/* The event callback shim of OpenSSL bufferevents. libevent keeps the
 * OpenSSL errors of a failed read, write or handshake with the bufferevent;
 * they are read here, on the loop thread, before Go code runs. With dirty
 * shutdowns allowed, a peer that closed without close_notify is an end of
 * file: OpenSSL 3 reports that as SSL_R_UNEXPECTED_EOF_WHILE_READING, which
 * libevent 2.1.12 passes on as an error. */
static void golibevent_tls_event_cb(struct bufferevent *bev, short what,
    void *arg)
{
	struct golibevent_bev *st = arg;
	struct golibevent_tls_errors errs;
	unsigned long stack[GOLIBEVENT_TLS_MAX_ERRORS];
	unsigned long code;
	int n = 0;
	int err = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;

	memset(&errs, 0, sizeof(errs));
	if (what & BEV_EVENT_ERROR) {
		/* bufferevent_get_openssl_error returns the newest first. */
		while ((code = bufferevent_get_openssl_error(bev)) != 0) {
			if (n < GOLIBEVENT_TLS_MAX_ERRORS)
				stack[n++] = code;
		}
		while (n > 0)
			tls_errors_add(&errs, stack[--n]);
		tls_errors_note_verify(&errs, bufferevent_openssl_get_ssl(bev));
		/* errno belongs to the failure only when OpenSSL reported a
		 * system call error, or nothing at all. */
		if (errs.ssl_error != SSL_ERROR_SYSCALL &&
		    (errs.count > 0 || errs.ssl_error != 0))
			err = 0;
		if (err == EAGAIN || err == EINPROGRESS)
			err = 0;
		/* An SSL_ERROR_SYSCALL with neither errno nor an error code is
		 * how OpenSSL 1.1 reports a missing close_notify. */
		if (errs.ssl_error == SSL_ERROR_SYSCALL && errs.count == 0 &&
		    err == 0)
			errs.unexpected_eof = 1;
		if (errs.unexpected_eof &&
		    bufferevent_openssl_get_allow_dirty_shutdown(bev) == 1 &&
		    (errs.count == 0 ||
			(errs.count == 1 &&
			    ERR_GET_REASON(errs.codes[0]) ==
				SSL_R_UNEXPECTED_EOF_WHILE_READING))) {
			what = (what & ~BEV_EVENT_ERROR) | BEV_EVENT_EOF;
			memset(&errs, 0, sizeof(errs));
			err = 0;
		}
	}
	golibevent_note_callback();
	goTLSEventCallback(what, err, &errs, st->key);
}

struct golibevent_bev *golibevent_tls_bev_socket_new(struct event_base *base,
    evutil_socket_t fd, SSL *ssl, int state, int options, void *key,
    struct golibevent_tls_errors *errs)
{
	struct bufferevent *bev;
	struct golibevent_bev *st;

	tls_errors_reset(errs);
	errno = 0;
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    (enum bufferevent_ssl_state)state, options);
	if (bev == NULL) {
		tls_errors_drain(errs);
		return NULL;
	}
	st = golibevent_bev_state_new(bev, key, golibevent_tls_event_cb);
	if (st == NULL) {
		bufferevent_free(bev);
		errno = ENOMEM;
	}
	return st;
}

struct golibevent_bev *golibevent_tls_bev_filter_new(struct event_base *base,
    struct bufferevent *underlying, SSL *ssl, int state, int options,
    void *key, struct golibevent_tls_errors *errs)
{
	struct bufferevent *bev;
	struct golibevent_bev *st;

	tls_errors_reset(errs);
	errno = 0;
	bev = bufferevent_openssl_filter_new(base, underlying, ssl,
	    (enum bufferevent_ssl_state)state, options);
	if (bev == NULL) {
		tls_errors_drain(errs);
		return NULL;
	}
	st = golibevent_bev_state_new(bev, key, golibevent_tls_event_cb);
	if (st == NULL) {
		bufferevent_free(bev);
		errno = ENOMEM;
	}
	return st;
}

int golibevent_tls_peer_certificate(SSL *ssl, unsigned char **der, int *len)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	X509 *cert = SSL_get1_peer_certificate(ssl);
#else
	X509 *cert = SSL_get_peer_certificate(ssl);
#endif
	*der = NULL;
	*len = 0;
	if (cert == NULL)
		return 0;
	*len = i2d_X509(cert, der);
	X509_free(cert);
	if (*len <= 0) {
		*der = NULL;
		*len = 0;
		ERR_clear_error();
		return -1;
	}
	return 0;
}

int golibevent_tls_alpn_selected(SSL *ssl, char *out)
{
	const unsigned char *data;
	unsigned int len;
	SSL_get0_alpn_selected(ssl, &data, &len);
	if (data == NULL || len == 0)
		return 0;
	memcpy(out, data, len);
	return (int)len;
}

void golibevent_tls_errors_add_code(struct golibevent_tls_errors *errs,
    unsigned long code)
{
	tls_errors_add(errs, code);
}

void golibevent_tls_errors_collect(struct golibevent_tls_errors *errs)
{
	tls_errors_drain(errs);
}
