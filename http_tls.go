//go:build cgo && !libevent_no_openssl

package libevent

/*
#include "http_tls_cgo.h"
*/
import "C"

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"
)

// sslContextReference is a reference to an SSL_CTX (SSL_CTX_up_ref), which
// outlives the TLSConfig's own when that is closed.
type sslContextReference struct {
	ctx *C.SSL_CTX
}

func (r *sslContextReference) drop() {
	C.SSL_CTX_free(r.ctx)
}

// takeContext returns a new reference to cfg's context, which must be a
// server context when server is set and a client context otherwise.
func takeContext(op string, cfg *TLSConfig, server bool) (*sslContextReference, error) {
	if err := cfg.enter(op); err != nil {
		return nil, err
	}
	defer cfg.leave()
	if cfg.server != server {
		if server {
			return nil, invalidError(op, "the TLSConfig is for clients; use NewTLSServerConfig")
		}
		return nil, invalidError(op, "the TLSConfig is for servers; use NewTLSClientConfig")
	}
	C.SSL_CTX_up_ref(cfg.ctx)
	return &sslContextReference{ctx: cfg.ctx}, nil
}

// SetTLS makes the server speak HTTPS: every connection accepted
// afterwards is a TLS connection with cfg, a context from
// NewTLSServerConfig (evhttp_set_bevcb with an OpenSSL bufferevent in
// accepting state). It replaces a function from SetBufferEventFunc, and a
// nil cfg makes new connections plain HTTP again. The server keeps its own
// reference to cfg's context, so cfg may be closed afterwards.
//
// A client that closes its connection without a TLS close_notify ends it
// as cleanly as one that sends it (a dirty shutdown is allowed): HTTP
// marks the end of each message itself, and many clients skip
// close_notify. A failed handshake closes the connection without calling
// any handler. When OpenSSL cannot create a connection's SSL object, the
// connection is closed.
//
// NOTE: libevent 2.1.12 falls back to a plain bufferevent when even the
// refused connection's placeholder cannot be allocated, so under memory
// exhaustion one connection could be served in plain HTTP.
func (s *HTTPServer) SetTLS(cfg *TLSConfig) error {
	const op = "evhttp_set_bevcb"
	var ref *sslContextReference
	if cfg != nil {
		var err error
		if ref, err = takeContext(op, cfg, true); err != nil {
			return err
		}
	}
	err := s.do(op, func() error {
		if s.parent != nil {
			return invalidError(op, "a virtual host has no connections of its own; call SetTLS on its server")
		}
		s.mu.Lock()
		old := s.tlsContext
		s.tlsContext = nil
		s.bevFn = nil
		if ref != nil {
			s.tlsContext = ref
		}
		s.mu.Unlock()
		if ref != nil {
			C.golibevent_https_set_server_ctx(s.ptr, ref.ctx)
		} else {
			C.golibevent_https_set_server_ctx(s.ptr, nil)
		}
		// No connection can reach the old context through the callback
		// now; connections that use it hold their own references.
		if old != nil {
			old.drop()
		}
		return nil
	})
	if err != nil && ref != nil {
		ref.drop()
	}
	return err
}

// httpsConnection is the TLS side of a connection from NewHTTPSConnection.
type httpsConnection struct{}

func (httpsConnection) beforeRequest(c *HTTPConnection) {
	C.golibevent_https_connection_forget_errors(c.ptr)
}

func (httpsConnection) failure(c *HTTPConnection) error {
	var errs C.struct_golibevent_tls_errors
	C.golibevent_https_connection_errors(c.ptr, &errs)
	if e := newTLSError(&errs, 0); e != nil {
		return e
	}
	return nil
}

// NewHTTPSConnection creates a connection to the HTTPS server at host and
// port on base (evhttp_connection_base_bufferevent_new with an OpenSSL
// bufferevent in connecting state). host must be an IP literal, as for
// [NewHTTPConnection]; [NewHTTPSConnectionDNS] connects by name. cfg is a
// context from NewTLSClientConfig. The server's certificate must match
// cfg's ServerName, a host name or an IP address, or host when cfg has no
// ServerName, unless cfg verifies nothing (TLSVerifyNone). The Host header
// of requests without one is ServerName and port when ServerName is a
// name. The connection keeps its
// own reference to cfg's context.
//
// A request whose handshake fails gets an error that wraps a *TLSError,
// whose text names the verification failure, such as "certificate has
// expired" or "hostname mismatch". A server that closes the connection
// without a TLS close_notify ends it as cleanly as one that sends it.
func NewHTTPSConnection(base *Base, host string, port int, cfg *TLSConfig) (*HTTPConnection, error) {
	return NewHTTPSConnectionDNS(base, nil, host, port, cfg)
}

// NewHTTPSConnectionDNS creates a connection to the HTTPS server at host
// and port on base that looks host up with the resolver dns, as
// [NewHTTPConnectionDNS] does, and otherwise works as [NewHTTPSConnection].
// The certificate is verified against cfg's ServerName, or against host
// when cfg has none. When ServerName is a name, requests without a Host header get ServerName
// and port as their Host, while HTTPClient sets Host from the URL. With a
// nil dns it behaves as NewHTTPSConnection.
func NewHTTPSConnectionDNS(base *Base, dns *DNSBase, host string, port int, cfg *TLSConfig) (*HTTPConnection, error) {
	const op = "evhttp_connection_base_bufferevent_new"
	ref, err := takeContext(op, cfg, false)
	if err != nil {
		return nil, err
	}
	// Every SSL of the connection holds its own reference to the
	// context, so this one is needed only while the SSL is created.
	defer ref.drop()

	// Without a ServerName, the certificate must match host, as in
	// crypto/tls.
	serverName := cfg.serverName
	if serverName == "" && !cfg.server {
		serverName = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	var name *C.char
	if serverName != "" {
		name = C.CString(serverName)
		defer C.free(unsafe.Pointer(name))
	}
	c, err := createHTTPConnection(op, base, dns, host, port,
		func(address *C.char, cport C.ev_uint16_t, dnsPtr *C.struct_evdns_base) (*C.struct_evhttp_connection, error) {
			var errs C.struct_golibevent_tls_errors
			ptr, errno := C.golibevent_https_connection_new(base.ptr, dnsPtr, ref.ctx, name, address,
				C.ushort(cport), &errs)
			if ptr == nil {
				return nil, tlsError(op, &errs, errno)
			}
			return ptr, nil
		})
	if err != nil {
		return nil, err
	}
	c.tls = httpsConnection{}
	if _, err := netip.ParseAddr(cfg.serverName); cfg.serverName != "" && err != nil {
		c.hostHeader = net.JoinHostPort(cfg.serverName, strconv.Itoa(port))
	}
	return c, nil
}

// SetTLSConfig sets cfg, a context from NewTLSClientConfig, for the
// client's https URLs. Every https connection verifies the server's
// certificate against cfg's root CAs and its ServerName, or, when cfg has
// no ServerName, against the host of the URL, as net/http does. A
// ServerName therefore suits a client of one server, and a config without
// one serves any number of hosts.
//
// The client uses cfg whenever it creates a connection, so cfg must stay
// open while the client may still need new connections.
func (c *HTTPClient) SetTLSConfig(cfg *TLSConfig) error {
	const op = "SetTLSConfig"
	ref, err := takeContext(op, cfg, false)
	if err != nil {
		return err
	}
	ref.drop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return wrapError(op, ErrClosed)
	}
	c.dialTLS = func(addr string, port int) (*HTTPConnection, error) {
		return NewHTTPSConnectionDNS(c.base, c.dns, addr, port, cfg)
	}
	return nil
}
