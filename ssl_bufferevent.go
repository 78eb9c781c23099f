//go:build cgo && !libevent_no_openssl

package libevent

/*
#include "ssl_shims.h"
*/
import "C"

import (
	"crypto/x509"
	"syscall"
	"unsafe"
)

// sslReference is the package's reference to an SSL object that libevent
// uses. libevent frees the SSL only with BEVOptCloseOnFree, so the package
// takes a reference of its own (SSL_up_ref) and drops it once the
// bufferevent is gone; OpenSSL frees the SSL with the last reference.
type sslReference struct {
	ssl *C.SSL
}

func (r *sslReference) drop() {
	C.SSL_free(r.ssl)
}

// newSSL creates the SSL of a new connection with cfg, with the package's
// reference and the one that libevent takes over.
func newSSL(op string, cfg *TLSConfig) (*C.SSL, error) {
	if !cfg.server && cfg.verifies && cfg.serverName == "" {
		return nil, invalidError(op, "a verifying client context needs ServerName for a bufferevent, which does not know the host it connects to")
	}
	var host *C.char
	if !cfg.server && cfg.serverName != "" {
		host = C.CString(cfg.serverName)
		defer C.free(unsafe.Pointer(host))
	}
	var errs C.struct_golibevent_tls_errors
	ssl, errno := C.golibevent_tls_ssl_new(cfg.ctx, host, &errs)
	if ssl == nil {
		return nil, tlsError(op, &errs, errno)
	}
	C.SSL_up_ref(ssl)
	return ssl, nil
}

// dropFailedSSL drops the references of an SSL whose bufferevent could not
// be created. Without BEVOptCloseOnFree libevent never frees the SSL, so
// both references go.
// NOTE: with BEVOptCloseOnFree, libevent 2.1.12 frees the SSL on some of
// its failure paths and not on others. Only the package's reference is
// dropped then, so a failure can leak one SSL but never frees it twice.
func dropFailedSSL(ssl *C.SSL, options BufferEventOptions) {
	C.SSL_free(ssl)
	if options&BEVOptCloseOnFree == 0 {
		C.SSL_free(ssl)
	}
}

// tlsHandshakeState returns the libevent state that starts the handshake
// of cfg's side.
func tlsHandshakeState(cfg *TLSConfig) C.int {
	if cfg.server {
		return C.BUFFEREVENT_SSL_ACCEPTING
	}
	return C.BUFFEREVENT_SSL_CONNECTING
}

// NewBufferEventOpenSSL creates a bufferevent that speaks TLS on the
// socket fd (bufferevent_openssl_socket_new), or on no descriptor when fd
// is -1, for a later Connect. A client cfg starts the handshake as a client
// (BUFFEREVENT_SSL_CONNECTING), a server cfg as a server
// (BUFFEREVENT_SSL_ACCEPTING). The event callback reports
// BEVEventConnected once the handshake is done, and a failed handshake as
// BEVEventError with a *TLSError. As with NewBufferEvent, writing starts
// enabled and reading disabled: call Enable(EvRead) to receive data. With
// BEVOptCloseOnFree, Close also closes fd.
func (b *Base) NewBufferEventOpenSSL(fd int, cfg *TLSConfig, options BufferEventOptions) (*BufferEvent, error) {
	const op = "bufferevent_openssl_socket_new"
	if err := checkBufferEventOptions(op, options); err != nil {
		return nil, err
	}
	if fd < -1 {
		return nil, invalidError(op, "invalid descriptor %d", fd)
	}
	if fd >= 0 {
		if err := checkDescriptor(op, fd, b); err != nil {
			return nil, err
		}
		if err := checkNonBlocking(op, fd); err != nil {
			return nil, err
		}
	}
	if err := cfg.enter(op); err != nil {
		return nil, err
	}
	defer cfg.leave()
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	ssl, err := newSSL(op, cfg)
	if err != nil {
		return nil, err
	}
	bev := &BufferEvent{base: b, options: options}
	bev.key = handles.register(bev)
	var errs C.struct_golibevent_tls_errors
	st, errno := C.golibevent_tls_bev_socket_new(b.ptr, C.evutil_socket_t(fd), ssl,
		tlsHandshakeState(cfg), C.int(options), bev.key, &errs)
	if st == nil {
		handles.release(bev.key)
		dropFailedSSL(ssl, options)
		return nil, tlsError(op, &errs, errno)
	}
	bev.linksLocked().tls = &sslReference{ssl: ssl}
	bev.attach(st)
	return bev, nil
}

// NewBufferEventOpenSSLFilter creates a bufferevent that speaks TLS over
// underlying, which carries the encrypted bytes
// (bufferevent_openssl_filter_new). libevent takes over underlying's
// callbacks. With BEVOptCloseOnFree, closing the new bufferevent closes
// underlying too, and underlying's own Close does nothing from then on.
func (b *Base) NewBufferEventOpenSSLFilter(underlying *BufferEvent, cfg *TLSConfig, options BufferEventOptions) (*BufferEvent, error) {
	const op = "bufferevent_openssl_filter_new"
	if err := checkBufferEventOptions(op, options); err != nil {
		return nil, err
	}
	if err := cfg.enter(op); err != nil {
		return nil, err
	}
	defer cfg.leave()
	if err := underlying.enter(op); err != nil {
		return nil, err
	}
	defer underlying.leave()
	if underlying.base != b {
		return nil, invalidError(op, "the underlying bufferevent belongs to another base")
	}
	if options&BEVOptCloseOnFree != 0 && underlying.isForeign() {
		return nil, invalidError(op, "BEVOptCloseOnFree over a bufferevent that C code owns (from WrapBufferEvent)")
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	ssl, err := newSSL(op, cfg)
	if err != nil {
		return nil, err
	}
	bev := &BufferEvent{base: b, options: options}
	bev.key = handles.register(bev)
	var errs C.struct_golibevent_tls_errors
	st, errno := C.golibevent_tls_bev_filter_new(b.ptr, underlying.ptr, ssl,
		tlsHandshakeState(cfg), C.int(options), bev.key, &errs)
	if st == nil {
		handles.release(bev.key)
		dropFailedSSL(ssl, options)
		return nil, tlsError(op, &errs, errno)
	}
	bev.linksLocked().tls = &sslReference{ssl: ssl}
	bev.attach(st)
	if options&BEVOptCloseOnFree != 0 {
		underlying.mu.Lock()
		underlying.linksLocked().ownedBy = bev
		underlying.mu.Unlock()
		bev.mu.Lock()
		bev.linksLocked().owns = underlying
		bev.mu.Unlock()
		// libevent frees underlying with the new bufferevent, so the
		// package's evbuffer callbacks on it go now.
		C.golibevent_bev_detach_state(underlying.st)
	}
	return bev, nil
}

// ssl returns the SSL of an OpenSSL bufferevent. The caller has entered
// bev.
func (bev *BufferEvent) ssl(op string) (*C.SSL, error) {
	bev.mu.Lock()
	ref, _ := bev.linked().tls.(*sslReference)
	bev.mu.Unlock()
	if ref == nil {
		return nil, invalidError(op, "not an OpenSSL bufferevent")
	}
	return ref.ssl, nil
}

// SetAllowDirtyShutdown selects how an OpenSSL bufferevent reports a peer
// that closes the connection without a TLS close_notify
// (bufferevent_openssl_set_allow_dirty_shutdown): as BEVEventEOF when
// allowed, as BEVEventError with a *TLSError that matches
// io.ErrUnexpectedEOF otherwise. libevent 2.1.12 with OpenSSL 3 reports
// such a close as an error even when it is allowed; the package turns it
// into BEVEventEOF.
func (bev *BufferEvent) SetAllowDirtyShutdown(allow bool) error {
	const op = "bufferevent_openssl_set_allow_dirty_shutdown"
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	if _, err := bev.ssl(op); err != nil {
		return err
	}
	C.bufferevent_openssl_set_allow_dirty_shutdown(bev.ptr, boolInt(allow))
	return nil
}

// AllowDirtyShutdown reports whether an OpenSSL bufferevent treats a close
// without close_notify as the end of the stream
// (bufferevent_openssl_get_allow_dirty_shutdown).
func (bev *BufferEvent) AllowDirtyShutdown() (bool, error) {
	const op = "bufferevent_openssl_get_allow_dirty_shutdown"
	if err := bev.enter(op); err != nil {
		return false, err
	}
	defer bev.leave()
	if _, err := bev.ssl(op); err != nil {
		return false, err
	}
	return C.bufferevent_openssl_get_allow_dirty_shutdown(bev.ptr) == 1, nil
}

// TLSPeerCertificate returns the certificate that the peer presented, or
// nil when it sent none or the handshake has not finished
// (SSL_get1_peer_certificate, parsed by crypto/x509).
func (bev *BufferEvent) TLSPeerCertificate() (*x509.Certificate, error) {
	const op = "SSL_get1_peer_certificate"
	if err := bev.enter(op); err != nil {
		return nil, err
	}
	defer bev.leave()
	ssl, err := bev.ssl(op)
	if err != nil {
		return nil, err
	}
	var der *C.uchar
	var n C.int
	if C.golibevent_tls_peer_certificate(ssl, &der, &n) != 0 {
		return nil, opError("i2d_X509", nil)
	}
	if der == nil {
		return nil, nil
	}
	defer C.free(unsafe.Pointer(der))
	cert, err := x509.ParseCertificate(C.GoBytes(unsafe.Pointer(der), n))
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	return cert, nil
}

// TLSNegotiatedProtocol returns the ALPN protocol that the handshake
// agreed on, or "" (SSL_get0_alpn_selected).
func (bev *BufferEvent) TLSNegotiatedProtocol() (string, error) {
	const op = "SSL_get0_alpn_selected"
	if err := bev.enter(op); err != nil {
		return "", err
	}
	defer bev.leave()
	ssl, err := bev.ssl(op)
	if err != nil {
		return "", err
	}
	var name [255]C.char
	n := C.golibevent_tls_alpn_selected(ssl, &name[0])
	return C.GoStringN(&name[0], n), nil
}

// TLSVersion returns the TLS version of the connection, such as
// tls.VersionTLS13 (SSL_version); tls.VersionName names it. Before the
// handshake ends it is the version that the handshake attempts.
func (bev *BufferEvent) TLSVersion() (uint16, error) {
	const op = "SSL_version"
	if err := bev.enter(op); err != nil {
		return 0, err
	}
	defer bev.leave()
	ssl, err := bev.ssl(op)
	if err != nil {
		return 0, err
	}
	return uint16(C.SSL_version(ssl)), nil
}

//export goTLSEventCallback
func goTLSEventCallback(what C.short, errnum C.int, errs *C.struct_golibevent_tls_errors, key unsafe.Pointer) {
	bev, _ := handles.lookup(key).(*BufferEvent)
	if bev == nil || bev.life.isClosed() {
		noteDropped("bufferevent event", -1)
		return
	}
	var err error
	if BEVEvents(what)&BEVEventError != 0 {
		if e := newTLSError(errs, syscall.Errno(errnum)); e != nil {
			err = e
		}
	}
	bev.runEventCallback(BEVEvents(what), err)
}
