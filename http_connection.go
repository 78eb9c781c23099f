//go:build cgo

package libevent

/*
#include <stdlib.h>
#include "cgo_callbacks.h"
#include <event2/bufferevent.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// HTTPConnection is an evhttp_connection: a client connection to one HTTP
// server that sends requests one after another, reconnects when the server
// closes it, and keeps it open between requests (keep-alive). Create one
// with [NewHTTPConnection] and send requests with [HTTPConnection.Do] or
// through an [HTTPClient].
//
// evhttp has no locks, so every method that touches the C connection runs on
// the base's loop goroutine: called from another goroutine while the loop
// runs, it waits for the loop to run it.
//
// NOTE: libevent 2.1.12 can keep a connection open after an HTTP/1.0
// response that the server follows by closing it (Python's http.server
// does), and a request sent before libevent notices the close fails with
// HTTPErrEOF. Such servers need a new connection, or a retry, per request.
type HTTPConnection struct {
	base *Base
	ptr  *C.struct_evhttp_connection
	key  unsafe.Pointer // registry key, the close callback's argument
	life lifetime

	// dns is the resolver of a connection by host name, or nil.
	dns *DNSBase
	// host is the host name, or the IP literal in its canonical form.
	host string
	// port is the server's TCP port.
	port int
	// addr is the server's address (the zero value for a host name), and
	// hostHeader the value of the Host header that requests without one
	// get, such as "[::1]:8080".
	addr       netip.AddrPort
	hostHeader string
	// released is set once release has freed the C connection.
	released atomic.Bool

	// tls is set on a connection from NewHTTPSConnection.
	tls httpConnectionTLS

	mu      sync.Mutex
	onClose func(*HTTPConnection)
	// pending are the requests that libevent may still call back for.
	pending map[*HTTPCall]struct{}
	// closeCause is the error of the requests that release fails, when it
	// is not a plain Close.
	closeCause error
}

// NewHTTPConnection creates a connection to the server at host and port on
// base (evhttp_connection_base_new). host must be an IPv4 or IPv6 literal,
// such as "127.0.0.1", "::1" or "[::1]". The connection is made when the
// first request is sent.
//
// NOTE: host names are rejected, because libevent resolves them with
// blocking getaddrinfo when it has no evdns_base, which would stall the
// loop. Use [NewHTTPConnectionDNS] to connect by name.
func NewHTTPConnection(base *Base, host string, port int) (*HTTPConnection, error) {
	return NewHTTPConnectionDNS(base, nil, host, port)
}

// NewHTTPConnectionDNS creates a connection to the server at host and port
// on base that looks host up with the resolver dns
// (evhttp_connection_base_new with an evdns_base). host is a host name such
// as "www.example.test", or an IP literal, which needs no lookup and does
// not use dns. With a nil dns it behaves as [NewHTTPConnection]. The name is
// looked up, for IPv4 and IPv6 addresses, each time the connection
// connects, and the connection uses the first address of the answer.
//
// A request that fails because the name does not resolve gets an error that
// matches ErrConnectFailed and holds a *DNSError with libevent's
// getaddrinfo code. libevent 2.1.12 reports a lookup that timed out as
// EVUTIL_EAI_FAIL.
//
// NOTE: when more requests wait behind one whose lookup failed, libevent
// starts the next lookup before it reports the failure, which clears the
// DNS error; that request then fails with HTTPErrEOF only.
//
// The connection depends on dns: closing dns closes the connection too,
// and its requests in flight fail with an error that matches both
// ErrDNSShutdown and ErrClosed. dns and the connection must run on the same
// base.
func NewHTTPConnectionDNS(base *Base, dns *DNSBase, host string, port int) (*HTTPConnection, error) {
	const op = "evhttp_connection_base_new"
	return createHTTPConnection(op, base, dns, host, port,
		func(address *C.char, port C.ev_uint16_t, dnsPtr *C.struct_evdns_base) (*C.struct_evhttp_connection, error) {
			ptr, errno := C.evhttp_connection_base_new(base.ptr, dnsPtr, address, port)
			if ptr == nil {
				return nil, opError(op, errno)
			}
			return ptr, nil
		})
}

// httpConnectionTLS is the TLS side of an HTTPS connection, which the
// client calls on the loop's goroutine.
type httpConnectionTLS interface {
	// beforeRequest clears the TLS errors of an earlier socket.
	beforeRequest(c *HTTPConnection)
	// failure returns the TLS errors of the failure that just ended a
	// request, or nil.
	failure(c *HTTPConnection) error
}

// createHTTPConnection checks host and port and creates the C connection with
// create on the loop's goroutine. dns, which may be nil, looks host names
// up; without it host must be an IP literal.
func createHTTPConnection(op string, base *Base, dns *DNSBase, host string, port int,
	create func(address *C.char, port C.ev_uint16_t, dns *C.struct_evdns_base) (*C.struct_evhttp_connection, error)) (*HTTPConnection, error) {
	addr, name, err := parseHTTPHost(op, host, dns != nil)
	if err != nil {
		return nil, err
	}
	if port < 1 || port > 65535 {
		return nil, invalidError(op, "port %d out of range [1, 65535]", port)
	}
	if name == "" {
		// An IP literal needs no resolver, and then does not depend on it.
		dns = nil
	}
	if dns != nil {
		if dns.ptr == nil {
			return nil, invalidError(op, "the DNSBase was not created by NewDNSBase")
		}
		if dns.base != base {
			return nil, invalidError(op, "the DNSBase runs on another Base")
		}
		if err := dns.enter(op); err != nil {
			return nil, err
		}
		defer dns.leave()
	}
	if err := base.enter(op); err != nil {
		return nil, err
	}
	defer base.leave()

	c := &HTTPConnection{
		base:    base,
		dns:     dns,
		port:    port,
		pending: make(map[*HTTPCall]struct{}),
	}
	target := name
	if name == "" {
		c.addr = netip.AddrPortFrom(addr, uint16(port))
		c.host = addr.String()
		c.hostHeader = c.addr.String()
		target = c.host
	} else {
		c.host = name
		c.hostHeader = net.JoinHostPort(name, strconv.Itoa(port))
	}
	cs := C.CString(target)
	defer C.free(unsafe.Pointer(cs))

	var createErr error
	var dnsPtr *C.struct_evdns_base
	if dns != nil {
		dnsPtr = dns.ptr
	}
	if err := base.callOnLoop(func() {
		c.ptr, createErr = create(cs, C.ev_uint16_t(port), dnsPtr)
	}); err != nil {
		return nil, err
	}
	if c.ptr == nil {
		return nil, createErr
	}
	if dns != nil && !dns.addHTTPConnection(c) {
		// The resolver is shutting down; nothing has used the connection.
		base.callOnLoop(func() { C.evhttp_connection_free(c.ptr) })
		return nil, wrapError(op, ErrClosed)
	}
	c.key = handles.register(c)
	base.callOnLoop(func() { C.golibevent_http_set_closecb(c.ptr, c.key) })
	base.addChild(c)
	return c, nil
}

// parseHTTPHost splits host into an IP literal or, when names are allowed,
// a host name. Exactly one of the results is set on success.
func parseHTTPHost(op, host string, namesAllowed bool) (netip.Addr, string, error) {
	addr, err := parseIPLiteral(op, host)
	if err == nil {
		return addr, "", nil
	}
	if !namesAllowed || !errors.Is(err, errNotIPLiteral) {
		return netip.Addr{}, "", err
	}
	if err := checkDNSName(op, host); err != nil {
		return netip.Addr{}, "", err
	}
	for i := 0; i < len(host); i++ {
		if ch := host[i]; ch <= ' ' || ch >= 0x7f || strings.IndexByte("/?#@\\\"", ch) >= 0 {
			return netip.Addr{}, "", invalidError(op, "host name %q contains the byte %q", host, ch)
		}
	}
	return netip.Addr{}, host, nil
}

// errNotIPLiteral marks a host that is neither an IP literal nor a
// malformed one, which makes it a host name.
var errNotIPLiteral = errors.New("host names need a DNS resolver: pass a DNSBase to NewHTTPConnectionDNS, NewHTTPSConnectionDNS or NewHTTPClientDNS")

// parseIPLiteral parses an IP address with or without the brackets of a
// URI's host.
func parseIPLiteral(op, host string) (netip.Addr, error) {
	literal := host
	bracketed := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	if bracketed {
		literal = host[1 : len(host)-1]
	}
	addr, err := netip.ParseAddr(literal)
	if err != nil || addr.Zone() != "" || (bracketed && !addr.Is6()) {
		if err == nil || strings.ContainsAny(literal, ":[]") || net.ParseIP(literal) != nil || looksNumeric(literal) {
			return netip.Addr{}, invalidError(op, "invalid IP literal %q", host)
		}
		return netip.Addr{}, &Error{Op: op, Err: fmt.Errorf("%w: host %q is not an IP literal; %w", ErrInvalid, host, errNotIPLiteral)}
	}
	return addr.Unmap(), nil
}

// looksNumeric reports whether s has only digits and dots, like a malformed
// IPv4 address such as "1.2.3", which getaddrinfo could read as an address.
func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

func (c *HTTPConnection) enter(op string) error {
	if c == nil || c.ptr == nil {
		return invalidError(op, "the HTTPConnection was not created by NewHTTPConnection")
	}
	if err := c.base.enter(op); err != nil {
		return err
	}
	if !c.life.acquire() {
		c.base.leave()
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (c *HTTPConnection) leave() {
	if c.life.release() {
		c.free()
	}
	c.base.leave()
}

// onLoop runs fn on the loop's goroutine with the connection held.
func (c *HTTPConnection) onLoop(op string, fn func()) error {
	if err := c.enter(op); err != nil {
		return err
	}
	defer c.leave()
	return c.base.callOnLoop(fn)
}

func (c *HTTPConnection) free() {
	if !c.base.removeChild(c) {
		return
	}
	c.release()
}

func (c *HTTPConnection) freeWithBase() {
	c.life.close()
	c.release()
}

// release frees the C connection, once. evhttp_connection_free frees the
// requests still queued without calling their callbacks, so release fails
// them itself with ErrClosed, or the cause that closeByResolver set, on the
// loop's goroutine like other callbacks.
func (c *HTTPConnection) release() {
	if !c.released.CompareAndSwap(false, true) {
		return
	}
	free := func() {
		if c.dns != nil {
			c.cancelLookup()
		}
		C.evhttp_connection_free(c.ptr)
		c.mu.Lock()
		pending := c.pending
		c.pending = nil
		cause := c.closeCause
		c.mu.Unlock()
		if cause == nil {
			cause = ErrClosed
		}
		for call := range pending {
			call.abandon(wrapError("evhttp_connection_free", cause))
		}
	}
	if c.base.callOnLoop(free) != nil {
		free()
	}
	if c.dns != nil {
		c.dns.removeHTTPConnection(c)
	}
	key := c.key
	c.base.releaseAfterCallbacks(func() { handles.release(key) })
}

// cancelLookup cancels the lookup of the connection's host name, if one is
// in flight. evhttp_connection_free frees the bufferevent without
// cancelling it, and the lookup would then outlive the connection and keep
// using the evdns_base. Setting no descriptor on a bufferevent cancels its
// lookup; the bufferevent has no descriptor while it looks a name up, and
// is not given one here otherwise.
func (c *HTTPConnection) cancelLookup() {
	bev := C.evhttp_connection_get_bufferevent(c.ptr)
	if bev != nil && C.bufferevent_getfd(bev) < 0 {
		C.bufferevent_setfd(bev, -1)
	}
}

// closeByResolver closes the connection because its resolver is closing.
// Its requests in flight fail with an error that names that cause. On the loop's
// goroutine the free waits for a Post, as Close does from a callback,
// because the resolver may be closed from one of the connection's own
// callbacks.
func (c *HTTPConnection) closeByResolver() {
	c.mu.Lock()
	if c.closeCause == nil {
		c.closeCause = errResolverClosed
	}
	c.mu.Unlock()
	c.Close()
}

// errResolverClosed fails the requests of a connection whose DNSBase was
// closed, which closed the connection.
var errResolverClosed error = &resolverClosedError{}

type resolverClosedError struct{}

func (*resolverClosedError) Error() string {
	return "the connection's DNSBase was closed, which closed the connection"
}

func (*resolverClosedError) Unwrap() []error {
	return []error{ErrDNSShutdown, ErrClosed}
}

// Close frees the connection (evhttp_connection_free), which closes its
// socket. Requests still in flight fail with an error that matches
// ErrClosed, and the close callback does not run. Closing twice is harmless.
//
// Called from one of the connection's own callbacks, Close marks the
// connection closed at once and frees it after the callback returns, because
// libevent still uses the connection then.
func (c *HTTPConnection) Close() error {
	if c == nil || c.ptr == nil {
		return nil
	}
	b := c.base
	if !b.life.acquire() {
		c.life.close()
		return nil
	}
	defer b.leave()
	if b.onLoopThread() {
		first, _ := c.life.close()
		if first {
			// The Post runs after the callback returns; if the base
			// closes first, it frees the connection as its child.
			if b.Post(func() { c.afterClose() }) != nil {
				c.afterClose()
			}
		}
		return nil
	}
	if first, idle := c.life.close(); first && idle {
		c.free()
	}
	return nil
}

// afterClose frees a connection that Close marked closed from a callback,
// once no call is in flight.
func (c *HTTPConnection) afterClose() {
	if c.life.state.Load() == lifetimeClosed {
		c.free()
	}
}

// Base returns the base the connection runs on.
func (c *HTTPConnection) Base() *Base {
	return c.base
}

// Addr returns the server's address and port, or the zero AddrPort for a
// connection by host name.
func (c *HTTPConnection) Addr() netip.AddrPort {
	return c.addr
}

// Host returns the host name that the connection looks up, or the server's
// IP address in its canonical form, such as "::1".
func (c *HTTPConnection) Host() string {
	return c.host
}

// DNSBase returns the resolver that looks the host name up, or nil.
func (c *HTTPConnection) DNSBase() *DNSBase {
	return c.dns
}

// SetTimeout sets how long connecting, writing a request and reading each
// part of its response may take before the request fails with
// HTTPErrTimeout (evhttp_connection_set_timeout_tv). libevent's default is
// 50 seconds.
func (c *HTTPConnection) SetTimeout(d time.Duration) error {
	const op = "evhttp_connection_set_timeout_tv"
	if d <= 0 {
		return invalidError(op, "timeout %v is not positive", d)
	}
	return c.onLoop(op, func() { C.golibevent_http_connection_set_timeout(c.ptr, C.int64_t(durationToMicros(d)), 0) })
}

// SetRetries sets how many times libevent reconnects when connecting fails
// before it fails the request (evhttp_connection_set_retries); -1 retries
// forever and 0, the default, never retries.
func (c *HTTPConnection) SetRetries(n int) error {
	const op = "evhttp_connection_set_retries"
	if n < -1 || n > 1<<30 {
		return invalidError(op, "retry count %d out of range [-1, %d]", n, 1<<30)
	}
	return c.onLoop(op, func() { C.evhttp_connection_set_retries(c.ptr, C.int(n)) })
}

// SetInitialRetryDelay sets the delay before the first reconnection; each
// later one waits twice as long as the one before, up to an hour
// (evhttp_connection_set_initial_retry_tv). The default is 2 seconds.
func (c *HTTPConnection) SetInitialRetryDelay(d time.Duration) error {
	const op = "evhttp_connection_set_initial_retry_tv"
	if d <= 0 {
		return invalidError(op, "delay %v is not positive", d)
	}
	return c.onLoop(op, func() { C.golibevent_http_connection_set_timeout(c.ptr, C.int64_t(durationToMicros(d)), 1) })
}

// SetMaxHeadersSize limits the size of a response's status line and headers
// together, in bytes (evhttp_connection_set_max_headers_size). libevent
// 2.1.12 fails a response with larger headers with HTTPErrInvalidHeader.
// A negative n removes the limit, which is libevent's default.
func (c *HTTPConnection) SetMaxHeadersSize(n int64) error {
	const op = "evhttp_connection_set_max_headers_size"
	return c.onLoop(op, func() { C.evhttp_connection_set_max_headers_size(c.ptr, C.ev_ssize_t(n)) })
}

// SetMaxBodySize limits the size of a response's body, in bytes
// (evhttp_connection_set_max_body_size). A larger body fails the request
// with HTTPErrDataTooLong. A negative n removes the limit, which is
// libevent's default.
func (c *HTTPConnection) SetMaxBodySize(n int64) error {
	const op = "evhttp_connection_set_max_body_size"
	return c.onLoop(op, func() { C.evhttp_connection_set_max_body_size(c.ptr, C.ev_ssize_t(n)) })
}

// SetLocalAddress sets the IP address that the connection's socket binds to
// before it connects (evhttp_connection_set_local_address). It fails while
// the connection is connected or connecting.
func (c *HTTPConnection) SetLocalAddress(ip string) error {
	const op = "evhttp_connection_set_local_address"
	addr, err := parseIPLiteral(op, ip)
	if err != nil {
		return err
	}
	cs := C.CString(addr.String())
	defer C.free(unsafe.Pointer(cs))
	return c.whileDisconnected(op, func() { C.evhttp_connection_set_local_address(c.ptr, cs) })
}

// SetLocalPort sets the port that the connection's socket binds to before
// it connects (evhttp_connection_set_local_port). It fails while the
// connection is connected or connecting.
func (c *HTTPConnection) SetLocalPort(port int) error {
	const op = "evhttp_connection_set_local_port"
	if port < 0 || port > 65535 {
		return invalidError(op, "port %d out of range [0, 65535]", port)
	}
	return c.whileDisconnected(op, func() { C.evhttp_connection_set_local_port(c.ptr, C.ev_uint16_t(port)) })
}

// errConnectionInUse reports a setting that libevent accepts only while the
// connection has no socket.
var errConnectionInUse = errors.New("connection is connected or connecting")

// whileDisconnected runs fn on the loop if the connection has no socket.
// libevent 2.1.12 aborts the process when the local address or port is set
// in any other state. The connection's bufferevent has a descriptor exactly
// while the connection is connecting or connected.
func (c *HTTPConnection) whileDisconnected(op string, fn func()) error {
	var inUse bool
	err := c.onLoop(op, func() {
		bev := C.evhttp_connection_get_bufferevent(c.ptr)
		if C.bufferevent_getfd(bev) >= 0 {
			inUse = true
			return
		}
		fn()
	})
	if err == nil && inUse {
		return &Error{Op: op, Err: errConnectionInUse}
	}
	return err
}

// Peer returns the address and port that the connection was created with
// (evhttp_connection_get_peer).
func (c *HTTPConnection) Peer() (string, int, error) {
	const op = "evhttp_connection_get_peer"
	var host string
	var port int
	err := c.onLoop(op, func() {
		var address *C.char
		var cport C.ev_uint16_t
		C.evhttp_connection_get_peer(c.ptr, &address, &cport)
		host = C.GoString(address)
		port = int(cport)
	})
	return host, port, err
}

// LocalAddr returns the local address of the connection's socket, or nil
// while it is not connected.
func (c *HTTPConnection) LocalAddr() (net.Addr, error) {
	const op = "getsockname"
	var addr net.Addr
	var sockErr error
	err := c.onLoop(op, func() {
		bev := C.evhttp_connection_get_bufferevent(c.ptr)
		fd := int(C.bufferevent_getfd(bev))
		if fd < 0 {
			return
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			sockErr = &Error{Op: op, Err: err}
			return
		}
		addr = sockaddrToAddr(sa)
	})
	if err != nil {
		return nil, err
	}
	return addr, sockErr
}

// SetCloseCallback sets fn to run on the loop's goroutine when the server
// or libevent closes the connection (evhttp_connection_set_closecb). A nil
// fn removes it. It does not run when Close frees the connection.
func (c *HTTPConnection) SetCloseCallback(fn func(*HTTPConnection)) error {
	const op = "evhttp_connection_set_closecb"
	if err := c.enter(op); err != nil {
		return err
	}
	defer c.leave()
	c.mu.Lock()
	c.onClose = fn
	c.mu.Unlock()
	return nil
}

func (c *HTTPConnection) runCloseCallback() {
	c.mu.Lock()
	fn := c.onClose
	c.mu.Unlock()
	if fn != nil {
		fn(c)
	}
}

func (c *HTTPConnection) addPending(call *HTTPCall) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return false
	}
	c.pending[call] = struct{}{}
	return true
}

func (c *HTTPConnection) removePending(call *HTTPCall) {
	c.mu.Lock()
	delete(c.pending, call)
	c.mu.Unlock()
}

// String describes the connection by the address or host name and port
// that it connects to, such as "HTTPConnection(127.0.0.1:8080)".
func (c *HTTPConnection) String() string {
	if c == nil {
		return "<nil>"
	}
	if c.addr.IsValid() {
		return "HTTPConnection(" + c.addr.String() + ")"
	}
	return "HTTPConnection(" + net.JoinHostPort(c.host, strconv.Itoa(c.port)) + ")"
}
