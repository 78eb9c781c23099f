//go:build cgo && !libevent_no_openssl

package libevent

/*
#include "ssl_shims.h"
*/
import "C"

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// OpenSSLBuiltIn reports whether the package was built with OpenSSL
// bufferevents. The libevent_no_openssl build tag leaves them out.
const OpenSSLBuiltIn = true

// OpenSSLVersion returns the version text of the OpenSSL library that the
// program runs with (OpenSSL_version), such as "OpenSSL 3.0.19 27 Jan 2026".
func OpenSSLVersion() string {
	return C.GoString(C.OpenSSL_version(C.OPENSSL_VERSION))
}

// TLSVerifyMode selects how a TLS context checks its peer's certificate.
type TLSVerifyMode int

const (
	// TLSVerifyDefault verifies the server's certificate in a client and
	// asks for no certificate in a server.
	TLSVerifyDefault TLSVerifyMode = iota
	// TLSVerifyNone checks no certificate (SSL_VERIFY_NONE). A client
	// that uses it cannot tell the server from an attacker.
	TLSVerifyNone
	// TLSVerifyPeer verifies the peer's certificate (SSL_VERIFY_PEER). A
	// server requests one from the client but accepts a client without.
	TLSVerifyPeer
	// TLSVerifyRequirePeerCertificate is TLSVerifyPeer, and a server also
	// fails the handshake when the client sends no certificate
	// (SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
	TLSVerifyRequirePeerCertificate
)

// TLSOptions are the settings of a TLS context. PEM fields and files may
// be combined: a file is read and used as if its contents were in the PEM
// field, after it.
type TLSOptions struct {
	// CertificatePEM is the certificate chain in PEM form, leaf first. A
	// server needs one; a client sends it when the server requests one.
	CertificatePEM []byte
	// CertificateFile is a PEM file read into CertificatePEM's place.
	CertificateFile string
	// KeyPEM is the private key of the leaf certificate in PEM form.
	KeyPEM []byte
	// KeyFile is a PEM file read into KeyPEM's place.
	KeyFile string

	// RootCAsPEM are the certificates that verification trusts, in PEM
	// form: the server's roots in a client, the roots of client
	// certificates in a server.
	RootCAsPEM []byte
	// RootCAsFile is a PEM file whose certificates are trusted too.
	RootCAsFile string
	// SystemRoots trusts OpenSSL's default certificate locations as well
	// (SSL_CTX_set_default_verify_paths).
	SystemRoots bool

	// Verify selects how the peer's certificate is checked.
	Verify TLSVerifyMode
	// ServerName is, for a client, the name that the server's certificate
	// must match. It is sent as SNI unless it is an IP address, which is
	// then matched against the certificate's IP addresses. When it is
	// empty, NewHTTPSConnection, NewHTTPSConnectionDNS and HTTPClient
	// match the host that each connection goes to, as crypto/tls does with
	// the address it dials. An OpenSSL bufferevent of a verifying client
	// needs it, because the bufferevent does not know the host.
	ServerName string
	// NextProtos are the ALPN protocols, such as "h2" and "http/1.1": a
	// client offers them, and a server picks the first of its list that
	// the client offers. A server fails the handshake when the client
	// offers ALPN protocols but none of these (no_application_protocol, as
	// RFC 7301 specifies).
	NextProtos []string
	// MinVersion is the oldest TLS version allowed, such as
	// tls.VersionTLS12; 0 keeps OpenSSL's default.
	MinVersion uint16
}

// TLSConfig is an OpenSSL context (SSL_CTX) for clients or for servers.
// Any number of OpenSSL bufferevents on any bases may share one; each keeps
// the context alive as long as it needs it, so the TLSConfig may be closed
// while they run. Its methods are safe from any goroutine.
type TLSConfig struct {
	ctx        *C.SSL_CTX
	life       lifetime
	server     bool
	serverName string
	// verifies records that the context checks the peer's certificate.
	verifies bool
}

// NewTLSClientConfig creates a context for the client side of TLS
// connections (SSL_CTX_new with TLS_client_method). Unless opts.Verify is
// TLSVerifyNone, the server's certificate is verified against opts' root
// CAs and opts.ServerName, which must both be given.
func NewTLSClientConfig(opts TLSOptions) (*TLSConfig, error) {
	return newTLSConfig("NewTLSClientConfig", false, opts)
}

// NewTLSServerConfig creates a context for the server side of TLS
// connections (SSL_CTX_new with TLS_server_method). It needs a certificate
// and its private key.
func NewTLSServerConfig(opts TLSOptions) (*TLSConfig, error) {
	return newTLSConfig("NewTLSServerConfig", true, opts)
}

func newTLSConfig(op string, server bool, opts TLSOptions) (*TLSConfig, error) {
	if err := readTLSFiles(op, &opts); err != nil {
		return nil, err
	}
	if err := checkTLSOptions(op, server, opts); err != nil {
		return nil, err
	}

	var errs C.struct_golibevent_tls_errors
	ctx, errno := C.golibevent_tls_ctx_new(boolInt(server), &errs)
	if ctx == nil {
		return nil, tlsError("SSL_CTX_new", &errs, errno)
	}
	c := &TLSConfig{ctx: ctx, server: server, serverName: opts.ServerName,
		verifies: tlsVerifies(server, opts.Verify)}
	if err := c.configure(opts); err != nil {
		C.SSL_CTX_free(ctx)
		return nil, err
	}
	return c, nil
}

// readTLSFiles appends the contents of the files named in opts to the
// matching PEM fields.
func readTLSFiles(op string, opts *TLSOptions) error {
	files := []struct {
		name string
		pem  *[]byte
	}{
		{opts.CertificateFile, &opts.CertificatePEM},
		{opts.KeyFile, &opts.KeyPEM},
		{opts.RootCAsFile, &opts.RootCAsPEM},
	}
	for _, f := range files {
		if f.name == "" {
			continue
		}
		data, err := os.ReadFile(f.name)
		if err != nil {
			return &Error{Op: op, Err: err}
		}
		joined := make([]byte, 0, len(*f.pem)+1+len(data))
		joined = append(joined, *f.pem...)
		if len(joined) > 0 {
			joined = append(joined, '\n')
		}
		*f.pem = append(joined, data...)
	}
	return nil
}

// tlsVerifies reports whether a context checks the peer's certificate.
func tlsVerifies(server bool, mode TLSVerifyMode) bool {
	return mode == TLSVerifyPeer || mode == TLSVerifyRequirePeerCertificate ||
		(mode == TLSVerifyDefault && !server)
}

func checkTLSOptions(op string, server bool, opts TLSOptions) error {
	if opts.Verify < TLSVerifyDefault || opts.Verify > TLSVerifyRequirePeerCertificate {
		return invalidError(op, "unknown verify mode %d", int(opts.Verify))
	}
	if (len(opts.CertificatePEM) == 0) != (len(opts.KeyPEM) == 0) {
		return invalidError(op, "a certificate needs its private key and a key needs its certificate")
	}
	if server && len(opts.CertificatePEM) == 0 {
		return invalidError(op, "a server needs a certificate and its private key")
	}
	if tlsVerifies(server, opts.Verify) && len(opts.RootCAsPEM) == 0 && !opts.SystemRoots {
		return invalidError(op, "verification needs root CAs; set RootCAsPEM, RootCAsFile or SystemRoots, or use TLSVerifyNone")
	}
	if server && opts.ServerName != "" {
		return invalidError(op, "ServerName is a client setting")
	}
	if strings.IndexByte(opts.ServerName, 0) >= 0 {
		return invalidError(op, "server name %q contains a NUL byte", opts.ServerName)
	}
	if opts.MinVersion != 0 && (opts.MinVersion < tls.VersionTLS10 || opts.MinVersion > tls.VersionTLS13) {
		return invalidError(op, "unknown TLS version 0x%04x; use tls.VersionTLS10 to tls.VersionTLS13", opts.MinVersion)
	}
	for _, p := range opts.NextProtos {
		if len(p) == 0 || len(p) > 255 {
			return invalidError(op, "ALPN protocol %q must be 1 to 255 bytes long", p)
		}
	}
	return nil
}

// configure applies opts to the new context.
func (c *TLSConfig) configure(opts TLSOptions) error {
	var errs C.struct_golibevent_tls_errors
	if len(opts.CertificatePEM) > 0 {
		r, errno := C.golibevent_tls_ctx_use_chain(c.ctx, cBytes(opts.CertificatePEM),
			C.size_t(len(opts.CertificatePEM)), &errs)
		if r != 0 {
			return tlsError("SSL_CTX_use_certificate", &errs, errno)
		}
		r, errno = C.golibevent_tls_ctx_use_key(c.ctx, cBytes(opts.KeyPEM), C.size_t(len(opts.KeyPEM)), &errs)
		if r != 0 {
			return tlsError("SSL_CTX_use_PrivateKey", &errs, errno)
		}
	}
	if len(opts.RootCAsPEM) > 0 {
		n, errno := C.golibevent_tls_ctx_add_roots(c.ctx, cBytes(opts.RootCAsPEM), C.size_t(len(opts.RootCAsPEM)), &errs)
		if n < 0 {
			return tlsError("X509_STORE_add_cert", &errs, errno)
		}
		if n == 0 {
			return invalidError("X509_STORE_add_cert", "no PEM certificate found in the root CAs")
		}
	}
	if opts.SystemRoots {
		if r, errno := C.golibevent_tls_ctx_use_system_roots(c.ctx, &errs); r != 0 {
			return tlsError("SSL_CTX_set_default_verify_paths", &errs, errno)
		}
	}

	mode := C.int(C.SSL_VERIFY_NONE)
	switch opts.Verify {
	case TLSVerifyDefault:
		if !c.server {
			mode = C.SSL_VERIFY_PEER
		}
	case TLSVerifyPeer:
		mode = C.SSL_VERIFY_PEER
	case TLSVerifyRequirePeerCertificate:
		mode = C.SSL_VERIFY_PEER | C.SSL_VERIFY_FAIL_IF_NO_PEER_CERT
	}
	C.SSL_CTX_set_verify(c.ctx, mode, nil)

	if len(opts.NextProtos) > 0 {
		var wire []byte
		for _, p := range opts.NextProtos {
			wire = append(wire, byte(len(p)))
			wire = append(wire, p...)
		}
		r, errno := C.golibevent_tls_ctx_set_alpn(c.ctx, boolInt(c.server),
			(*C.uchar)(unsafe.Pointer(&wire[0])), C.size_t(len(wire)), &errs)
		if r != 0 {
			return tlsError("SSL_CTX_set_alpn_protos", &errs, errno)
		}
	}
	if opts.MinVersion != 0 {
		if r, errno := C.golibevent_tls_ctx_set_min_version(c.ctx, C.int(opts.MinVersion), &errs); r != 0 {
			return tlsError("SSL_CTX_set_min_proto_version", &errs, errno)
		}
	}
	return nil
}

func (c *TLSConfig) enter(op string) error {
	if c == nil || c.ctx == nil {
		return invalidError(op, "the TLSConfig was not created by NewTLSClientConfig or NewTLSServerConfig")
	}
	if !c.life.acquire() {
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (c *TLSConfig) leave() {
	if c.life.release() {
		c.free()
	}
}

func (c *TLSConfig) free() {
	// OpenSSL counts references: each SSL of a bufferevent holds one, so
	// the context lives on until the last connection that uses it ends.
	C.SSL_CTX_free(c.ctx)
}

// Close drops the package's reference to the context (SSL_CTX_free).
// Bufferevents created with it keep working; new ones cannot be created.
// Closing twice is harmless.
func (c *TLSConfig) Close() error {
	if c == nil || c.ctx == nil {
		return nil
	}
	if first, idle := c.life.close(); first && idle {
		c.free()
	}
	return nil
}

// IsServer reports whether the context is for servers.
func (c *TLSConfig) IsServer() bool {
	return c != nil && c.server
}

// C returns the SSL_CTX, for C code that configures it further. It stays
// valid until Close.
func (c *TLSConfig) C() unsafe.Pointer {
	if c == nil || c.life.isClosed() {
		return nil
	}
	return unsafe.Pointer(c.ctx)
}

// TLSError is a failure that OpenSSL reported: its error queue, the result
// of certificate verification, and the errno of a failed system call. It
// matches io.ErrUnexpectedEOF with errors.Is when the peer closed the
// connection without a TLS close_notify, and the errno when there is one.
type TLSError struct {
	// Codes are OpenSSL's packed error codes, oldest first (ERR_get_error).
	Codes []uint64
	// Messages are OpenSSL's texts of Codes (ERR_error_string_n).
	Messages []string
	// VerifyResult is the X509_V_ERR_* code of a failed certificate
	// verification, or 0 (X509_V_OK).
	VerifyResult int
	// VerifyMessage is OpenSSL's text of VerifyResult
	// (X509_verify_cert_error_string), such as "certificate has expired".
	VerifyMessage string
	// Errno is the error of a failed system call, or 0.
	Errno syscall.Errno
	// UnexpectedEOF reports that the peer closed the connection without a
	// TLS close_notify.
	UnexpectedEOF bool
}

func (e *TLSError) Error() string {
	var parts []string
	parts = append(parts, e.Messages...)
	if e.VerifyResult != 0 {
		parts = append(parts, fmt.Sprintf("certificate verification failed: %s (X509_V_ERR %d)", e.VerifyMessage, e.VerifyResult))
	}
	if e.UnexpectedEOF && len(e.Messages) == 0 {
		parts = append(parts, "peer closed the connection without a TLS close_notify")
	}
	if e.Errno != 0 {
		parts = append(parts, e.Errno.Error())
	}
	if len(parts) == 0 {
		return "TLS failed without an OpenSSL error"
	}
	return "tls: " + strings.Join(parts, "; ")
}

// Unwrap returns the errno and io.ErrUnexpectedEOF where they apply.
func (e *TLSError) Unwrap() []error {
	var out []error
	if e.Errno != 0 {
		out = append(out, e.Errno)
	}
	if e.UnexpectedEOF {
		out = append(out, io.ErrUnexpectedEOF)
	}
	return out
}

// newTLSError converts errs, copied out on the thread of the failure, and
// errnum. It returns nil when they hold nothing.
func newTLSError(errs *C.struct_golibevent_tls_errors, errnum syscall.Errno) *TLSError {
	e := &TLSError{
		VerifyResult:  int(errs.verify),
		Errno:         errnum,
		UnexpectedEOF: errs.unexpected_eof != 0,
	}
	for i := 0; i < int(errs.count); i++ {
		e.Codes = append(e.Codes, uint64(errs.codes[i]))
		e.Messages = append(e.Messages, C.GoString(&errs.text[i][0]))
	}
	if e.VerifyResult != 0 {
		e.VerifyMessage = C.GoString(&errs.verify_text[0])
	}
	if len(e.Codes) == 0 && e.VerifyResult == 0 && e.Errno == 0 && !e.UnexpectedEOF {
		return nil
	}
	return e
}

// tlsError wraps the failure of the package's OpenSSL call op: OpenSSL's
// errors when it reported any, the errno otherwise.
func tlsError(op string, errs *C.struct_golibevent_tls_errors, cause error) error {
	if e := newTLSError(errs, 0); e != nil {
		return &Error{Op: op, Err: e}
	}
	return opError(op, cause)
}
