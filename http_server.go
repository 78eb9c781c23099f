//go:build cgo

package libevent

/*
#include "http_cgo.h"
*/
import "C"

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// DefaultMaxHeaderBytes is the limit a new HTTPServer puts on the size of a
	// request's start line and headers, the same as net/http's
	// DefaultMaxHeaderBytes (1 MiB). libevent's own default is no limit.
	DefaultMaxHeaderBytes = 1 << 20
	// DefaultMaxBodyBytes is the limit a new HTTPServer puts on a request body:
	// 8 MiB, which fits form posts and small uploads while bounding the
	// memory one request can take. libevent's own default is no limit.
	// A larger body gets 413 Payload Too Large.
	DefaultMaxBodyBytes = 8 << 20
)

// HandlerFunc handles an HTTP request on the loop goroutine. It must reply to
// the request exactly once, now or later from any goroutine.
type HandlerFunc func(r *HTTPRequest)

// HTTPServer is an evhttp: an HTTP server whose connections the base's loop
// serves. Create one with [NewHTTPServer], give it sockets with Bind,
// Accept or AcceptNet and handlers with Handle and HandleDefault, and run
// the loop. Requests with no handler get 404 Not Found. libevent replies to
// malformed requests and requests over the size limits with 400 or 413, and
// to methods it does not know or allow with 501 Not Implemented, without
// calling a handler.
//
// Methods may be called from any goroutine; they run their libevent calls
// on the loop goroutine, because evhttp has no locks of its own.
type HTTPServer struct {
	ptr  *C.struct_evhttp
	base *Base
	key  unsafe.Pointer
	life lifetime
	// root is the server whose sockets accept the connections: the server
	// itself, or for a virtual host the top server above it. The root
	// tracks the requests.
	root *HTTPServer
	// parent is the server a virtual host was added to, or nil.
	parent *HTTPServer
	// borrowed marks a server from WrapHTTPServer, which C code owns: Close
	// removes what Go added to it instead of freeing it.
	borrowed bool

	mu      sync.Mutex // guards the fields below
	generic HandlerFunc
	paths   map[string]*pathHandler
	vhosts  map[*HTTPServer]string // virtual hosts added to this server
	bevFn   func(b *Base) (*BufferEvent, error)
	// tlsContext is the server's reference to the SSL_CTX that SetTLS
	// installed as the bufferevent callback's argument, or nil.
	tlsContext tlsReference
	// requests are the requests handed to handlers and not yet replied to.
	// completing maps the C request of each request whose handler called
	// OnComplete to its HTTPRequest, for the completion callback, which
	// only those requests get. libevent frees a request silently when its
	// connection fails after the reply, so an entry of completing can
	// outlive its request. A new request at the same address replaces it,
	// and Close drops the rest.
	requests   requestList
	completing map[*C.struct_evhttp_request]*HTTPRequest
	freed      bool

	// closed is cancelled when the server is freed, which cancels the
	// contexts of the requests that the http.Handler adapter is serving.
	closed       context.Context
	cancelClosed context.CancelFunc
	// gencbSet records that HandleDefault installed the package's generic
	// callback on a borrowed server, in place of the one C code set.
	gencbSet bool
}

// pathHandler is the callback argument of one evhttp_set_cb path.
type pathHandler struct {
	server *HTTPServer
	path   string
	fn     HandlerFunc
	key    unsafe.Pointer
}

// NewHTTPServer creates an HTTP server on b (evhttp_new) with the limits
// DefaultMaxHeaderBytes and DefaultMaxBodyBytes.
//
// On the epoll backend, from its first request on, each connection of the
// server has one more persistent read event on its descriptor besides its
// bufferevent's, which Base.NumEvents, Dump and ForEachEvent count. evhttp
// turns reading off when it has read a request and on when it sends the
// reply. Because the extra event keeps the descriptor's read interest,
// neither turn makes an epoll_ctl call, and a keep-alive request makes two
// instead of four, or none when SendReply writes the reply at once. The
// event removes itself while the bufferevent does not
// read and the descriptor stays readable, and it is freed before evhttp
// closes the descriptor.
//
// On every backend, from its first request on, a connection whose
// bufferevent is a socket one reads without first querying how many bytes
// are waiting (the ioctl FIONREAD of libevent's evbuffer_read).
// Each read takes what the socket holds, within the same limits: 4096
// bytes, the high watermark, the maximum single read and the rate limits.
// That saves a system call per request. Such a connection also serves a
// client that shuts down its sending side after its requests, as `nc -N`
// does. The end of the stream then waits until the replies have gone out,
// and the connection closes after them. evhttp alone takes that end for a
// lost connection and drops the rest of a reply.
//
// Servers from WrapHTTPServer, and their virtual hosts, get neither
// change: their connections belong to C code.
func NewHTTPServer(b *Base) (*HTTPServer, error) {
	s, err := newServer("evhttp_new", b, nil)
	if err != nil {
		return nil, err
	}
	s.root = s
	b.addChild(s)
	if err := s.SetMaxHeaderBytes(DefaultMaxHeaderBytes); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.SetMaxBodyBytes(DefaultMaxBodyBytes); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// newServer creates an evhttp on b. root is the server whose connections
// the new one serves, for a virtual host, or nil for a server of its own.
func newServer(op string, b *Base, root *HTTPServer) (*HTTPServer, error) {
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()
	s := &HTTPServer{
		base:       b,
		paths:      make(map[string]*pathHandler),
		vhosts:     make(map[*HTTPServer]string),
		completing: make(map[*C.struct_evhttp_request]*HTTPRequest),
	}
	s.root = root
	if root == nil {
		s.root = s
	}
	s.closed, s.cancelClosed = context.WithCancel(context.Background())
	var errno error
	if err := b.callOnLoop(func() { s.ptr, errno = C.evhttp_new(b.ptr) }); err != nil {
		return nil, err
	}
	if s.ptr == nil {
		return nil, opError(op, errno)
	}
	s.key = handles.register(s)
	if err := b.callOnLoop(func() { C.golibevent_http_set_gencb(s.ptr, s.key, s.connHandling()) }); err != nil {
		C.evhttp_free(s.ptr)
		handles.release(s.key)
		return nil, err
	}
	return s, nil
}

// do runs fn on the loop goroutine while the server and its base are open.
func (s *HTTPServer) do(op string, fn func() error) error {
	if s == nil || s.ptr == nil {
		return invalidError(op, "the HTTPServer was not created by NewHTTPServer")
	}
	b := s.base
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	if !s.life.acquire() {
		return wrapError(op, ErrClosed)
	}
	defer func() {
		if s.life.release() {
			s.free()
		}
	}()
	var err error
	if runErr := b.callOnLoop(func() { err = fn() }); runErr != nil {
		return runErr
	}
	return err
}

// Close frees the server (evhttp_free): its sockets, its connections, its
// virtual hosts and every request that has no reply yet, whose
// methods then fail with ErrClosed. Closing a virtual host removes it from
// its server first. Closing twice is harmless.
func (s *HTTPServer) Close() error {
	if s == nil || s.ptr == nil {
		return nil
	}
	b := s.base
	if !b.life.acquire() {
		s.life.close()
		return nil
	}
	defer b.leave()
	if first, idle := s.life.close(); first && idle {
		s.free()
	}
	return nil
}

// free releases the server unless Base.free has taken it over. The caller
// holds the base.
func (s *HTTPServer) free() {
	if s.parent == nil && !s.base.removeChild(s) {
		return
	}
	if s.base.callOnLoop(s.release) != nil {
		s.release()
	}
}

func (s *HTTPServer) freeWithBase() {
	s.life.close()
	s.release()
}

// release frees the C server and, once no callback can use them, the keys.
// It runs on the loop goroutine, or with no loop running.
func (s *HTTPServer) release() {
	s.mu.Lock()
	if s.freed {
		s.mu.Unlock()
		return
	}
	s.freed = true
	s.mu.Unlock()
	s.cancelClosed()

	if s.parent != nil {
		parent := s.parent
		parent.mu.Lock()
		parentLive := !parent.freed
		delete(parent.vhosts, s)
		parent.mu.Unlock()
		if parentLive {
			C.evhttp_remove_virtual_host(parent.ptr, s.ptr)
		}
		if !parentLive {
			// evhttp_free of the parent freed this virtual host.
			s.releaseKeys()
			return
		}
		C.evhttp_free(s.ptr)
		s.releaseKeys()
		return
	}
	if s.borrowed {
		s.releaseBorrowed()
		return
	}

	s.mu.Lock()
	pending := s.requests.all()
	s.mu.Unlock()
	vhosts := s.descendants()

	// A request whose connection failed before the reply is no longer on
	// any connection, so evhttp_free would not free it.
	for _, r := range pending {
		r.callMu.Lock()
		if r.ptr != nil {
			if C.evhttp_request_get_connection(r.ptr) == nil {
				C.evhttp_request_free(r.ptr)
			}
			r.finish(ErrClosed)
		}
		r.callMu.Unlock()
	}
	for _, v := range vhosts {
		v.cancelClosed()
		v.life.close()
		v.mu.Lock()
		v.freed = true
		v.mu.Unlock()
	}
	C.evhttp_free(s.ptr)
	for _, v := range vhosts {
		v.releaseKeys()
	}
	s.dropTLSContext()
	s.mu.Lock()
	s.completing = nil
	s.mu.Unlock()
	s.releaseKeys()
}

// descendants returns the virtual hosts added to s and, recursively, to
// them.
func (s *HTTPServer) descendants() []*HTTPServer {
	s.mu.Lock()
	direct := make([]*HTTPServer, 0, len(s.vhosts))
	for v := range s.vhosts {
		direct = append(direct, v)
	}
	s.mu.Unlock()
	all := direct
	for _, v := range direct {
		all = append(all, v.descendants()...)
	}
	return all
}

// releaseKeys releases the server's registry keys once no callback can be
// using them.
func (s *HTTPServer) releaseKeys() {
	s.mu.Lock()
	keys := []unsafe.Pointer{s.key}
	for _, p := range s.paths {
		keys = append(keys, p.key)
	}
	s.paths = nil
	s.mu.Unlock()
	s.base.releaseAfterCallbacks(func() {
		for _, k := range keys {
			handles.release(k)
		}
	})
}

// watchCompletion gives the completion callback of req, the C request of
// r, the server's key, so that it runs r's OnComplete function. It runs on
// the loop goroutine before the reply. The request callback's C shim
// installs the completion callback with no key, which saves the other
// requests a map entry and a registry lookup.
func (s *HTTPServer) watchCompletion(req *C.struct_evhttp_request, r *HTTPRequest) error {
	s.mu.Lock()
	if s.freed || s.completing == nil {
		s.mu.Unlock()
		return ErrClosed
	}
	install := s.completing[req] != r
	s.completing[req] = r
	s.mu.Unlock()
	if install {
		C.golibevent_http_set_on_complete(req, s.key)
	}
	return nil
}

// requestDone removes r from the server, once r has its reply or was freed.
func (s *HTTPServer) requestDone(r *HTTPRequest) {
	s.mu.Lock()
	s.requests.remove(r)
	s.mu.Unlock()
}

// Base returns the server's base.
func (s *HTTPServer) Base() *Base {
	if s == nil {
		return nil
	}
	return s.base
}

// Handle sets fn as the handler of requests whose path is exactly path,
// such as "/hello", not counting the query (evhttp_set_cb). A nil fn
// removes the handler (evhttp_del_cb).
func (s *HTTPServer) Handle(path string, fn HandlerFunc) error {
	const op = "evhttp_set_cb"
	if path == "" || strings.IndexByte(path, 0) >= 0 {
		return invalidError(op, "invalid path %q", path)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return s.do(op, func() error {
		s.mu.Lock()
		old := s.paths[path]
		s.mu.Unlock()
		if fn == nil {
			if old == nil {
				return nil
			}
			C.evhttp_del_cb(s.ptr, cpath)
			s.mu.Lock()
			delete(s.paths, path)
			s.mu.Unlock()
			key := old.key
			s.base.releaseAfterCallbacks(func() { handles.release(key) })
			return nil
		}
		if old != nil {
			s.mu.Lock()
			old.fn = fn
			s.mu.Unlock()
			return nil
		}
		h := &pathHandler{server: s, path: path, fn: fn}
		h.key = handles.register(h)
		if r := C.golibevent_http_set_cb(s.ptr, cpath, h.key, s.connHandling()); r != 0 {
			handles.release(h.key)
			return invalidError(op, "libevent rejected path %q (result %d)", path, int(r))
		}
		s.mu.Lock()
		s.paths[path] = h
		s.mu.Unlock()
		return nil
	})
}

// HandleDefault sets fn as the handler of requests that no Handle path
// matches (evhttp_set_gencb). With none set, such requests get 404.
//
// On a server from [WrapHTTPServer], a non-nil fn replaces the generic
// callback that C code set, which libevent cannot report, so a nil fn or
// Close leaves the server with none: unmatched requests then get 404.
func (s *HTTPServer) HandleDefault(fn HandlerFunc) error {
	return s.do("evhttp_set_gencb", func() error {
		s.mu.Lock()
		s.generic = fn
		install := s.borrowed && fn != nil && !s.gencbSet
		remove := s.borrowed && fn == nil && s.gencbSet
		s.gencbSet = s.borrowed && fn != nil
		s.mu.Unlock()
		if install {
			C.golibevent_http_set_gencb(s.ptr, s.key, s.connHandling())
		}
		if remove {
			C.golibevent_http_clear_gencb(s.ptr)
		}
		return nil
	})
}

// Bind listens on address, an IP literal and a port such as "127.0.0.1:0"
// or "[::1]:8080", and returns the address it is bound to, which includes the
// port chosen for port 0 (evhttp_bind_socket_with_handle). A server may be
// bound to several addresses.
//
// Bind sets TCP_NODELAY on the socket, which on Linux the connections that
// it accepts inherit, as Go's net package sets it by default and evhttp
// does not. Without it, a reply written in more than one piece can wait
// for the client's delayed ACK, about 40 ms on Linux. That happened to
// every reply of an HTTPS server, whose OpenSSL bufferevent sends the
// headers and the body as separate TLS records, and to the chunks of a
// chunked reply. Accept and
// AcceptNet leave the listener's options as they are, but a server with
// SetTLS sets TCP_NODELAY on each connection when its handshake starts,
// wherever it was accepted.
func (s *HTTPServer) Bind(address string) (net.Addr, error) {
	const op = "evhttp_bind_socket_with_handle"
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, invalidError(op, "address %q is not an IP literal with a port: %v", address, err)
	}
	if ap.Addr().Zone() != "" {
		return nil, invalidError(op, "address %q has a zone, which evhttp cannot bind", address)
	}
	chost := C.CString(ap.Addr().Unmap().String())
	defer C.free(unsafe.Pointer(chost))
	var addr net.Addr
	err = s.do(op, func() error {
		if s.parent != nil {
			return invalidError(op, "a virtual host cannot have sockets of its own")
		}
		bound, errno := C.evhttp_bind_socket_with_handle(s.ptr, chost, C.ev_uint16_t(ap.Port()))
		if bound == nil {
			return opError(op, errno)
		}
		var ss C.struct_sockaddr_storage
		var n C.int
		if r, errno := C.golibevent_http_bound_addr(bound, &ss, &n); r != 0 {
			C.evhttp_del_accept_socket(s.ptr, bound)
			return opError("getsockname", errno)
		}
		if r, errno := C.golibevent_http_bound_nodelay(bound); r != 0 {
			C.evhttp_del_accept_socket(s.ptr, bound)
			return opError("setsockopt", errno)
		}
		addr = cSockaddrToAddr((*C.struct_sockaddr)(unsafe.Pointer(&ss)), n)
		return nil
	})
	return addr, err
}

// noDelay reports whether the socket of r's connection has TCP_NODELAY. It
// must run on the loop's goroutine, in r's handler.
func (r *HTTPRequest) noDelay() (bool, error) {
	return noDelayResult(C.golibevent_http_request_nodelay(r.ptr))
}

// noDelay reports whether the socket of c has TCP_NODELAY.
func (c *HTTPConnection) noDelay() (bool, error) {
	var v C.int
	if err := c.base.callOnLoop(func() { v = C.golibevent_http_connection_nodelay(c.ptr) }); err != nil {
		return false, err
	}
	return noDelayResult(v)
}

func noDelayResult(v C.int) (bool, error) {
	if v < 0 {
		return false, wrapError("getsockopt", errFailed)
	}
	return v == 1, nil
}

// Accept serves the connections of l (evhttp_bind_listener). The server
// takes l over: l is closed as a Listener, its callbacks no longer run,
// and the server frees it.
func (s *HTTPServer) Accept(l *Listener) error {
	const op = "evhttp_bind_listener"
	if l == nil || l.ptr == nil {
		return invalidError(op, "nil Listener")
	}
	if l.base != s.base {
		return invalidError(op, "the Listener belongs to another Base")
	}
	return s.do(op, func() error {
		if s.parent != nil {
			return invalidError(op, "a virtual host cannot have sockets of its own")
		}
		if !l.life.acquire() {
			return wrapError(op, ErrClosed)
		}
		l.life.close()
		if !s.base.removeChild(l) {
			return wrapError(op, ErrClosed)
		}
		l.mu.Lock()
		retry := l.retry
		l.retry = nil
		l.mu.Unlock()
		if retry != nil {
			retry.Close()
		}
		C.golibevent_http_clear_listener_error_cb(l.ptr)
		bound, errno := C.evhttp_bind_listener(s.ptr, l.ptr)
		key := l.key
		s.base.releaseAfterCallbacks(func() { handles.release(key) })
		if bound == nil {
			C.evconnlistener_free(l.ptr)
			return opError(op, errno)
		}
		return nil
	})
}

// AcceptNet serves the connections of ln, a *net.TCPListener or
// *net.UnixListener (evhttp_accept_socket_with_handle). The server gets a
// duplicate of ln's descriptor and closes it when it is closed; ln itself
// is closed.
func (s *HTTPServer) AcceptNet(ln net.Listener) error {
	const op = "evhttp_accept_socket_with_handle"
	if ln == nil {
		return invalidError(op, "nil net.Listener")
	}
	filer, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return invalidError(op, "%T has no descriptor to take over", ln)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	fd, err := dupDescriptor(op, filer.File)
	if err != nil {
		return err
	}
	err = s.do(op, func() error {
		if s.parent != nil {
			return invalidError(op, "a virtual host cannot have sockets of its own")
		}
		if err := s.base.checkSelectLimit(op, fd); err != nil {
			return err
		}
		bound, errno := C.evhttp_accept_socket_with_handle(s.ptr, C.evutil_socket_t(fd))
		if bound == nil {
			return opError(op, errno)
		}
		return nil
	})
	if err != nil {
		unix.Close(fd)
		return err
	}
	ln.Close()
	return nil
}

// AddVirtualHost creates a virtual host that serves the requests whose Host
// matches pattern, a glob such as "*.example.com" matched without regard
// to case (evhttp_add_virtual_host). Give it handlers with Handle and
// HandleDefault; it has no sockets of its own. Closing the server frees it
// too.
func (s *HTTPServer) AddVirtualHost(pattern string) (*HTTPServer, error) {
	const op = "evhttp_add_virtual_host"
	if pattern == "" || strings.IndexByte(pattern, 0) >= 0 {
		return nil, invalidError(op, "invalid pattern %q", pattern)
	}
	cpattern := C.CString(pattern)
	defer C.free(unsafe.Pointer(cpattern))
	var vhost *HTTPServer
	err := s.do(op, func() error {
		v, err := newServer(op, s.base, s.root)
		if err != nil {
			return err
		}
		if C.evhttp_add_virtual_host(s.ptr, cpattern, v.ptr) != 0 {
			C.evhttp_free(v.ptr)
			handles.release(v.key)
			return invalidError(op, "libevent rejected virtual host %q", pattern)
		}
		v.root, v.parent = s.root, s
		s.mu.Lock()
		s.vhosts[v] = pattern
		s.mu.Unlock()
		vhost = v
		return nil
	})
	return vhost, err
}

// AddServerAlias makes the server also answer for the host alias
// (evhttp_add_server_alias), for example on a virtual host.
func (s *HTTPServer) AddServerAlias(alias string) error {
	return s.alias("evhttp_add_server_alias", alias, true)
}

// RemoveServerAlias removes an alias that AddServerAlias added
// (evhttp_remove_server_alias).
func (s *HTTPServer) RemoveServerAlias(alias string) error {
	return s.alias("evhttp_remove_server_alias", alias, false)
}

func (s *HTTPServer) alias(op, alias string, add bool) error {
	if alias == "" || strings.IndexByte(alias, 0) >= 0 {
		return invalidError(op, "invalid alias %q", alias)
	}
	calias := C.CString(alias)
	defer C.free(unsafe.Pointer(calias))
	return s.do(op, func() error {
		var r C.int
		if add {
			r = C.evhttp_add_server_alias(s.ptr, calias)
		} else {
			r = C.evhttp_remove_server_alias(s.ptr, calias)
		}
		if r != 0 {
			return invalidError(op, "alias %q failed", alias)
		}
		return nil
	})
}

// SetTimeout sets how long a connection may wait for the next part of a
// request, and for its reply to be written, before libevent closes it
// (evhttp_set_timeout_tv). libevent's default is 50 seconds. It applies to
// connections accepted afterwards.
func (s *HTTPServer) SetTimeout(d time.Duration) error {
	const op = "evhttp_set_timeout_tv"
	if d <= 0 {
		return invalidError(op, "timeout %v is not positive", d)
	}
	return s.do(op, func() error {
		C.golibevent_http_set_timeout(s.ptr, C.int64_t(d/time.Microsecond))
		return nil
	})
}

// SetMaxHeaderBytes limits the size of a request's start line and headers
// (evhttp_set_max_headers_size); a larger request gets 400 Bad Request or
// 413. A negative n removes the limit, which libevent allows but which lets
// one client take unbounded memory.
func (s *HTTPServer) SetMaxHeaderBytes(n int) error {
	return s.do("evhttp_set_max_headers_size", func() error {
		C.evhttp_set_max_headers_size(s.ptr, C.ev_ssize_t(n))
		return nil
	})
}

// SetMaxBodyBytes limits the size of a request body
// (evhttp_set_max_body_size); a larger body gets 413. A negative n removes
// the limit, with the risk that SetMaxHeaderBytes describes.
func (s *HTTPServer) SetMaxBodyBytes(n int) error {
	return s.do("evhttp_set_max_body_size", func() error {
		C.evhttp_set_max_body_size(s.ptr, C.ev_ssize_t(n))
		return nil
	})
}

// SetAllowedMethods sets the methods the server accepts
// (evhttp_set_allowed_methods); other methods get 405 Method Not Allowed.
// libevent's default is GET, POST, HEAD, PUT and DELETE.
func (s *HTTPServer) SetAllowedMethods(methods HTTPMethod) error {
	const op = "evhttp_set_allowed_methods"
	if methods&^allHTTPMethods != 0 {
		return invalidError(op, "unknown methods 0x%x", uint16(methods&^allHTTPMethods))
	}
	return s.do(op, func() error {
		C.evhttp_set_allowed_methods(s.ptr, C.ev_uint16_t(methods))
		return nil
	})
}

// SetDefaultContentType sets the Content-Type of replies whose output
// headers have none (evhttp_set_default_content_type). An empty value
// sends no Content-Type then. libevent's default is
// "text/html; charset=ISO-8859-1".
func (s *HTTPServer) SetDefaultContentType(contentType string) error {
	const op = "evhttp_set_default_content_type"
	if err := checkHeaderField(op, "Content-Type", contentType); err != nil {
		return err
	}
	var ctype *C.char
	if contentType != "" {
		ctype = C.CString(contentType)
	}
	return s.do(op, func() error {
		// libevent keeps the string, so the old one is freed by libevent
		// only at evhttp_free; the new one is handed over.
		C.evhttp_set_default_content_type(s.ptr, ctype)
		return nil
	})
}

// SetBufferEventFunc sets fn to create the bufferevent of each new
// connection (evhttp_set_bevcb), for example a TLS bufferevent. fn runs on
// the loop goroutine and must return a bufferevent on b with no descriptor
// (fd -1), which the server then owns: it is closed as a BufferEvent and
// libevent frees it with the connection. When fn returns an error or nil,
// the connection gets a plain socket bufferevent. A nil fn restores that.
// An OpenSSL bufferevent needs BEVOptCloseOnFree, which makes libevent free
// its SSL with the connection; [HTTPServer.SetTLS] does all this in C.
//
// When the server takes the bufferevent over, it removes the bufferevent's
// rate limit and its rate limit group, whose TokenBucket and
// RateLimitGroup Go may free before the connection ends. Watermarks and the
// maximum single read stay.
//
// Leave the read high watermark at 0 (none) or above the largest request
// that the server accepts (SetMaxHeaderBytes plus SetMaxBodyBytes). evhttp
// 2.1.12 reads a body with Content-Length, and each chunk of a chunked
// one, only once it is whole in the input. A request that does not fit
// below the watermark never completes. libevent 2.1.12 then runs evhttp's
// read callback again on every pass of the loop while the input stays at
// the watermark (see [BufferEvent.SetWatermark], whose remedy does not
// reach evhttp's callback), so the loop stays busy. The server's timeout
// does not end the connection either, because it applies only while the
// bufferevent reads.
//
// A filter bufferevent ([Base.NewBufferEventFilter]) serves only the first
// request of a keep-alive connection. libevent 2.1.12's filter passes its
// output on when data is added while writing is enabled, but evhttp adds
// each later reply while writing is off and only then turns it on, so the
// reply stays in the filter.
func (s *HTTPServer) SetBufferEventFunc(fn func(b *Base) (*BufferEvent, error)) error {
	return s.do("evhttp_set_bevcb", func() error {
		s.mu.Lock()
		s.bevFn = fn
		s.mu.Unlock()
		if fn == nil {
			C.golibevent_http_set_bevcb(s.ptr, nil)
		} else {
			C.golibevent_http_set_bevcb(s.ptr, s.key)
		}
		// The callback that SetTLS installed is gone, so its context is
		// no longer used.
		s.dropTLSContext()
		return nil
	})
}

// dropTLSContext drops the context of SetTLS once its bufferevent callback
// has been replaced or the server freed.
func (s *HTTPServer) dropTLSContext() {
	s.mu.Lock()
	ctx := s.tlsContext
	s.tlsContext = nil
	s.mu.Unlock()
	if ctx != nil {
		ctx.drop()
	}
}

// handOver gives the C bufferevent to libevent, which frees it: the Go side
// is closed and its state freed, without bufferevent_free. It runs on the
// loop goroutine.
func (bev *BufferEvent) handOver() {
	bev.life.close()
	bev.base.removeChild(bev)
	bev.released.Store(true)
	bev.leaveLimits()
	bev.mu.Lock()
	input, output, tls := bev.linked().input, bev.linked().output, bev.linked().tls
	bev.mu.Unlock()
	if input != nil {
		input.detach()
	}
	if output != nil {
		output.detach()
	}
	st, key := bev.st, bev.key
	C.golibevent_bev_detach_state(st)
	C.bufferevent_setcb(bev.ptr, nil, nil, nil, nil)
	bev.base.releaseAfterCallbacks(func() {
		C.golibevent_bev_state_free(st)
		handles.release(key)
		// libevent's own reference to an SSL keeps it alive for the
		// connection, and libevent frees it with BEVOptCloseOnFree.
		if tls != nil {
			tls.drop()
		}
	})
}

// dispatch hands the C request req to fn, wrapped as an HTTPRequest that the root
// server tracks.
func (s *HTTPServer) dispatch(req *C.struct_evhttp_request, fn HandlerFunc) {
	root := s.root
	r := newRequest(req, s.base, root)
	root.mu.Lock()
	if root.freed || root.completing == nil {
		root.mu.Unlock()
		return
	}
	root.requests.add(r)
	// The completion callback of a request is one slot, which the C owner
	// of a borrowed server may use, and the server's key would have to
	// outlive Close for as long as C code serves requests.
	r.noCompleteHook = root.borrowed
	// A request at the address of one that libevent freed silently must
	// not get that request's completion callback.
	if len(root.completing) != 0 {
		delete(root.completing, req)
	}
	root.mu.Unlock()
	if fn == nil {
		r.SendError(404, "")
		return
	}
	defer s.base.recoverCallback()
	fn(r)
}

//export goHTTPRequestCallback
func goHTTPRequestCallback(req *C.struct_evhttp_request, key unsafe.Pointer) {
	var s *HTTPServer
	var fn HandlerFunc
	switch v := handles.lookup(key).(type) {
	case *HTTPServer:
		s = v
		s.mu.Lock()
		fn = s.generic
		s.mu.Unlock()
	case *pathHandler:
		s = v.server
		s.mu.Lock()
		fn = v.fn
		s.mu.Unlock()
	}
	if s == nil || s.life.isClosed() {
		// The server is being freed, which frees the request too.
		noteDropped("HTTP request", -1)
		return
	}
	s.dispatch(req, fn)
}

//export goHTTPCompleteCallback
func goHTTPCompleteCallback(req *C.struct_evhttp_request, key unsafe.Pointer) {
	if key == nil {
		// No OnComplete was set for the request.
		return
	}
	s, _ := handles.lookup(key).(*HTTPServer)
	if s == nil {
		noteDropped("HTTP request complete", -1)
		return
	}
	s.mu.Lock()
	r := s.completing[req]
	delete(s.completing, req)
	s.mu.Unlock()
	if r == nil {
		return
	}
	defer s.base.recoverCallback()
	r.runOnComplete()
}

//export goHTTPChunkCallback
func goHTTPChunkCallback(evcon *C.struct_evhttp_connection, key unsafe.Pointer) {
	r, _ := handles.lookup(key).(*HTTPRequest)
	if r == nil {
		noteDropped("HTTP chunk", -1)
		return
	}
	defer r.base.recoverCallback()
	r.runChunkCallback()
}

//export goHTTPBufferEventCallback
func goHTTPBufferEventCallback(base *C.struct_event_base, key unsafe.Pointer) *C.struct_bufferevent {
	s, _ := handles.lookup(key).(*HTTPServer)
	if s == nil || s.life.isClosed() {
		noteDropped("HTTP bufferevent", -1)
		return nil
	}
	s.mu.Lock()
	fn := s.bevFn
	s.mu.Unlock()
	if fn == nil {
		return nil
	}
	var bev *BufferEvent
	func() {
		defer s.base.recoverCallback()
		bev, _ = fn(s.base)
	}()
	if bev == nil || bev.st == nil || bev.base != s.base || bev.life.isClosed() {
		return nil
	}
	ptr := bev.ptr
	bev.handOver()
	return ptr
}
