//go:build cgo

package libevent

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// HTTPClient sends requests to HTTP servers over libevent connections, one
// [HTTPConnection] per server address or host name and port, kept open
// between requests. Its
// methods may be called from any goroutine but the loop's, while the base's
// loop runs on another goroutine, for example in [Base.Run].
//
// Requests to one server share its connection, so libevent sends them one
// after another. The client follows no redirects and sets no cookies.
type HTTPClient struct {
	base *Base
	dns  *DNSBase

	mu    sync.Mutex
	conns map[httpServerKey]*HTTPConnection
	// dialTLS creates the connections of https URLs; SetTLSConfig sets
	// it.
	dialTLS func(addr string, port int) (*HTTPConnection, error)
	closed  bool
}

// httpServerKey names a server: its IP literal in canonical form or its
// host name in lower case, and its port, and whether the client speaks
// HTTPS to it.
type httpServerKey struct {
	https bool
	host  string
	port  int
}

// NewHTTPClient creates a client whose connections run on base. It sends
// requests only to URLs whose host is an IP literal; [NewHTTPClientDNS]
// creates one that also looks host names up.
func NewHTTPClient(base *Base) (*HTTPClient, error) {
	return NewHTTPClientDNS(base, nil)
}

// NewHTTPClientDNS creates a client whose connections run on base and look
// the host names of URLs up with the resolver dns, as
// [NewHTTPConnectionDNS] does. With a nil dns it behaves as
// [NewHTTPClient]. Closing dns closes the client's connections by name;
// requests to names fail with ErrClosed afterwards.
func NewHTTPClientDNS(base *Base, dns *DNSBase) (*HTTPClient, error) {
	const op = "NewHTTPClient"
	if dns != nil {
		if err := dns.enter(op); err != nil {
			return nil, err
		}
		dnsBase := dns.base
		dns.leave()
		if dnsBase != base {
			return nil, invalidError(op, "the DNSBase runs on another Base")
		}
	}
	if err := base.enter(op); err != nil {
		return nil, err
	}
	base.leave()
	return &HTTPClient{base: base, dns: dns, conns: make(map[httpServerKey]*HTTPConnection)}, nil
}

// Do sends req and waits for the whole response. req.URL must be an
// absolute "http" or "https" URL. Its host is an IP literal or, when the
// client has a resolver, a host name; the port defaults to 80 and 443. An
// https URL needs the TLS configuration of SetTLSConfig.
// req.Context() is ignored in favor of ctx. When ctx ends first, Do
// cancels the request on the loop and returns an error that matches
// ctx.Err().
func (c *HTTPClient) Do(ctx context.Context, req *http.Request) (*HTTPResponse, error) {
	const op = "evhttp_make_request"
	if req == nil || req.URL == nil {
		return nil, invalidError(op, "nil request or request URL")
	}
	https := strings.EqualFold(req.URL.Scheme, "https")
	if !https && !strings.EqualFold(req.URL.Scheme, "http") {
		return nil, invalidError(op, "URL %q: only the http and https schemes are supported", req.URL.Redacted())
	}
	port := 80
	if https {
		port = 443
	}
	if p := req.URL.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, invalidError(op, "URL %q: invalid port %q", req.URL.Redacted(), p)
		}
		port = n
	}
	conn, err := c.connection(req.URL.Hostname(), port, https)
	if err != nil {
		return nil, err
	}
	return conn.Do(ctx, req)
}

// Get sends a GET request for rawURL and waits for the whole response, as
// [HTTPClient.Do] does.
func (c *HTTPClient) Get(ctx context.Context, rawURL string) (*HTTPResponse, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, invalidError("evhttp_make_request", "%v", err)
	}
	return c.Do(ctx, req)
}

// connection returns the client's connection to host and port, over TLS
// when https is set, creating it on first use.
func (c *HTTPClient) connection(host string, port int, https bool) (*HTTPConnection, error) {
	const op = "evhttp_connection_base_new"
	addr, name, err := parseHTTPHost(op, host, c.dns != nil)
	if err != nil {
		return nil, err
	}
	if port < 1 || port > 65535 {
		return nil, invalidError(op, "port %d out of range [1, 65535]", port)
	}
	key := httpServerKey{https: https, host: strings.ToLower(name), port: port}
	if name == "" {
		key.host = addr.String()
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, wrapError(op, ErrClosed)
	}
	if conn := c.conns[key]; conn != nil && !conn.life.isClosed() {
		return conn, nil
	}
	var conn *HTTPConnection
	switch {
	case !https:
		conn, err = NewHTTPConnectionDNS(c.base, c.dns, key.host, port)
	case c.dialTLS == nil:
		err = invalidError(op, "an https URL needs a TLS configuration; call SetTLSConfig (builds with OpenSSL only)")
	default:
		conn, err = c.dialTLS(key.host, port)
	}
	if err != nil {
		return nil, err
	}
	c.conns[key] = conn
	return conn, nil
}

// Close closes the client's connections, and requests in flight on them
// fail with an error that matches ErrClosed. Closing twice is harmless.
func (c *HTTPClient) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	conns := c.conns
	c.conns = nil
	c.closed = true
	c.mu.Unlock()
	for _, conn := range conns {
		conn.Close()
	}
	return nil
}
