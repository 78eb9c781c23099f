//go:build cgo

package libevent

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// HTTPClient sends requests to HTTP servers over libevent connections, one
// [HTTPConnection] per server address, kept open between requests. Its
// methods may be called from any goroutine but the loop's, while the base's
// loop runs on another goroutine, for example in [Base.Run].
//
// Requests to one server share its connection, so libevent sends them one
// after another. The client follows no redirects and sets no cookies.
type HTTPClient struct {
	base *Base

	mu    sync.Mutex
	conns map[clientConnKey]*HTTPConnection
	// dialTLS creates the connections of https URLs; SetTLSConfig sets
	// it.
	dialTLS func(addr string, port int) (*HTTPConnection, error)
	closed  bool
}

// clientConnKey names one of a client's connections.
type clientConnKey struct {
	https bool
	addr  netip.AddrPort
}

// NewHTTPClient creates a client whose connections run on base.
func NewHTTPClient(base *Base) (*HTTPClient, error) {
	const op = "NewHTTPClient"
	if err := base.enter(op); err != nil {
		return nil, err
	}
	base.leave()
	return &HTTPClient{base: base, conns: make(map[clientConnKey]*HTTPConnection)}, nil
}

// Do sends req and waits for the whole response. req.URL must be an
// absolute "http" or "https" URL whose host is an IP literal; the port
// defaults to 80 and 443. An https URL needs the TLS configuration of
// SetTLSConfig. req.Context() is ignored in favor of ctx. When ctx ends
// first, Do cancels the request on the loop and returns an error that
// matches ctx.Err().
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
	addr, err := parseIPLiteral(op, host)
	if err != nil {
		return nil, err
	}
	if port < 1 || port > 65535 {
		return nil, invalidError(op, "port %d out of range [1, 65535]", port)
	}
	key := clientConnKey{https: https, addr: netip.AddrPortFrom(addr, uint16(port))}

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
		conn, err = NewHTTPConnection(c.base, addr.String(), port)
	case c.dialTLS == nil:
		err = invalidError(op, "an https URL needs a TLS configuration; call SetTLSConfig (builds with OpenSSL only)")
	default:
		conn, err = c.dialTLS(addr.String(), port)
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
