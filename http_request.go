//go:build cgo

package libevent

/*
#include "http_cgo.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"unsafe"
)

// HTTPMethod is a set of HTTP methods as libevent numbers them
// (enum evhttp_cmd_type), one bit each; [HTTPServer.SetAllowedMethods] takes a
// set.
type HTTPMethod uint16

const (
	MethodGet     HTTPMethod = C.EVHTTP_REQ_GET
	MethodPost    HTTPMethod = C.EVHTTP_REQ_POST
	MethodHead    HTTPMethod = C.EVHTTP_REQ_HEAD
	MethodPut     HTTPMethod = C.EVHTTP_REQ_PUT
	MethodDelete  HTTPMethod = C.EVHTTP_REQ_DELETE
	MethodOptions HTTPMethod = C.EVHTTP_REQ_OPTIONS
	MethodTrace   HTTPMethod = C.EVHTTP_REQ_TRACE
	MethodConnect HTTPMethod = C.EVHTTP_REQ_CONNECT
	MethodPatch   HTTPMethod = C.EVHTTP_REQ_PATCH

	allHTTPMethods = MethodGet | MethodPost | MethodHead | MethodPut | MethodDelete |
		MethodOptions | MethodTrace | MethodConnect | MethodPatch
)

var httpMethodNames = []struct {
	method HTTPMethod
	name   string
}{
	{MethodGet, "GET"}, {MethodPost, "POST"}, {MethodHead, "HEAD"},
	{MethodPut, "PUT"}, {MethodDelete, "DELETE"}, {MethodOptions, "OPTIONS"},
	{MethodTrace, "TRACE"}, {MethodConnect, "CONNECT"}, {MethodPatch, "PATCH"},
}

// String returns the method names in the set joined with '|', such as
// "GET|HEAD".
func (m HTTPMethod) String() string {
	var names []string
	for _, n := range httpMethodNames {
		if m&n.method != 0 {
			names = append(names, n.name)
			m &^= n.method
		}
	}
	if m != 0 {
		names = append(names, fmt.Sprintf("0x%x", uint16(m)))
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// ParseHTTPMethod returns the method called name, which is case-sensitive
// as in HTTP, such as "GET". It fails for a method libevent 2.1 does not
// know.
func ParseHTTPMethod(name string) (HTTPMethod, error) {
	for _, n := range httpMethodNames {
		if n.name == name {
			return n.method, nil
		}
	}
	return 0, invalidError("evhttp_cmd_type", "unknown HTTP method %q; libevent 2.1 knows %v", name, allHTTPMethods)
}

// ErrReplied reports a use of a request after its reply was sent: a second
// reply, or any call on a request that libevent may have freed. It matches
// ErrClosed too.
var ErrReplied = fmt.Errorf("HTTP request already has a reply: %w", ErrClosed)

// requestOwner is the object that holds an HTTPRequest: the HTTPServer for an
// incoming request, or a client connection for an outgoing one.
type requestOwner interface {
	// requestDone runs on the loop goroutine once the Go side no longer
	// uses the request's C memory.
	requestDone(r *HTTPRequest)
}

// replyState is how far the reply to a request has got.
type replyState int

const (
	replyNone     replyState = iota
	replyChunking            // SendReplyStart was called, SendReplyEnd not yet
	replyDone                // the reply was handed to libevent
)

// HTTPRequest is an evhttp_request: an HTTP request with its reply. A server
// handler receives one for each request; it reads the method, URI, headers
// and body and replies exactly once with [HTTPRequest.SendReply],
// [HTTPRequest.SendError] or the chunked calls.
//
// The handler may keep the HTTPRequest and answer later from any goroutine:
// every method runs its libevent calls on the base's loop goroutine (evhttp
// has no locks of its own). After the reply, libevent owns and frees the
// request, so every method then fails with an error matching ErrReplied,
// or returns a zero value.
//
// A client that has gone away is noticed only when the reply is written:
// libevent stops reading a connection once it has read a request, so a
// reset or a close by the client goes unseen until then. The reply to such
// a client is dropped, and SendReply still returns nil because the write
// happens later on the loop.
type HTTPRequest struct {
	base  *Base
	owner requestOwner

	// callMu serializes the calls that use ptr. Calls run on the loop
	// goroutine while the loop runs elsewhere, but with no loop running
	// they run on their callers' goroutines.
	callMu sync.Mutex
	// ptr is the C request, nil once the Go side has let go of it.
	ptr   *C.struct_evhttp_request
	state replyState
	// gone is the error that calls return once ptr is nil.
	gone error

	// noCompleteHook marks a request whose completion callback belongs to
	// C code: one from WrapHTTPRequest or from a server from WrapHTTPServer.
	noCompleteHook bool

	input      *Buffer  // made by InputBuffer on first use
	inHeaders  *Headers // made by InputHeaders on first use
	outHeaders *Headers // made by OutputHeaders on first use

	// cbMu guards the callbacks, which trampolines read without callMu.
	cbMu       sync.Mutex
	onComplete func(r *HTTPRequest)
	chunkFn    func()
	chunkKey   unsafe.Pointer // registry key of the chunk callback, or nil

	// prev and next link the request into its server's requestList,
	// under the server's mu, until it has its reply or is freed.
	prev, next *HTTPRequest
	listed     bool
}

// requestList is the set of a server's requests that have no reply yet, a
// doubly linked list through the requests' own prev and next fields, so
// that tracking a request costs no allocation and no hashing.
type requestList struct {
	head *HTTPRequest
	len  int
}

func (l *requestList) add(r *HTTPRequest) {
	r.prev = nil
	r.next = l.head
	if l.head != nil {
		l.head.prev = r
	}
	l.head = r
	r.listed = true
	l.len++
}

// all returns the requests in the list.
func (l *requestList) all() []*HTTPRequest {
	out := make([]*HTTPRequest, 0, l.len)
	for r := l.head; r != nil; r = r.next {
		out = append(out, r)
	}
	return out
}

// remove takes r out of the list. Removing a request twice is harmless.
func (l *requestList) remove(r *HTTPRequest) {
	if !r.listed {
		return
	}
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		l.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	}
	r.prev, r.next = nil, nil
	r.listed = false
	l.len--
}

// newRequest wraps the C request ptr, which owner holds, on base.
func newRequest(ptr *C.struct_evhttp_request, base *Base, owner requestOwner) *HTTPRequest {
	return &HTTPRequest{ptr: ptr, base: base, owner: owner}
}

// call runs fn with the C request on the loop goroutine, or fails with the
// error that the request's end left. It holds the base so that the base
// cannot be freed meanwhile.
func (r *HTTPRequest) call(op string, fn func(req *C.struct_evhttp_request) error) error {
	if r == nil || r.base == nil {
		return invalidError(op, "the HTTPRequest was not created by an HTTPServer or a client")
	}
	b := r.base
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	if b.onLoopThread() {
		// A handler's own calls, the usual case, need no closure.
		return r.callHere(op, fn)
	}
	var err error
	runErr := b.callOnLoop(func() { err = r.callHere(op, fn) })
	if runErr != nil {
		return runErr
	}
	return err
}

// callHere runs fn with the C request, or fails with the error that the
// request's end left. It runs on the loop goroutine.
func (r *HTTPRequest) callHere(op string, fn func(req *C.struct_evhttp_request) error) error {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	if r.ptr == nil {
		return wrapError(op, r.gone)
	}
	return fn(r.ptr)
}

// finish lets go of the C request: after the final reply, or when the owner
// has freed it, in which case gone is ErrClosed. It runs on the loop
// goroutine with callMu held.
func (r *HTTPRequest) finish(gone error) {
	r.ptr = nil
	r.gone = gone
	if r.input != nil {
		r.input.detach()
	}
	r.cbMu.Lock()
	key := r.chunkKey
	r.chunkKey = nil
	r.chunkFn = nil
	r.cbMu.Unlock()
	if key != nil {
		r.base.releaseAfterCallbacks(func() { handles.release(key) })
	}
	if r.owner != nil {
		r.owner.requestDone(r)
	}
}

// enter and leave make the HTTPRequest the owner of its input Buffer. The
// buffer may be used only on the loop goroutine, because a reply from
// another goroutine could free it during a call.
func (r *HTTPRequest) enter(op string) error {
	if r == nil || r.base == nil {
		return invalidError(op, "the HTTPRequest was not created by an HTTPServer or a client")
	}
	b := r.base
	if err := b.enter(op); err != nil {
		return err
	}
	if b.running.Load() && !b.onLoopThread() {
		b.leave()
		return wrapError(op, ErrNotThreadSafe)
	}
	r.callMu.Lock()
	if r.ptr == nil {
		gone := r.gone
		r.callMu.Unlock()
		b.leave()
		return wrapError(op, gone)
	}
	return nil
}

func (r *HTTPRequest) leave() {
	r.callMu.Unlock()
	r.base.leave()
}

// Method returns the request's method, such as "GET", or "" once the
// request is unusable (evhttp_request_get_command).
func (r *HTTPRequest) Method() string {
	var name string
	_ = r.call("evhttp_request_get_command", func(req *C.struct_evhttp_request) error {
		m := HTTPMethod(C.evhttp_request_get_command(req))
		for _, n := range httpMethodNames {
			if n.method == m {
				name = n.name
			}
		}
		return nil
	})
	return name
}

// URI returns the request target as the client sent it, such as
// "/search?q=x" (evhttp_request_get_uri).
func (r *HTTPRequest) URI() string {
	var uri string
	_ = r.call("evhttp_request_get_uri", func(req *C.struct_evhttp_request) error {
		uri = goStringOrEmpty(C.evhttp_request_get_uri(req))
		return nil
	})
	return uri
}

// ParsedURI returns the request target split into its parts
// (evhttp_request_get_evhttp_uri), or nil.
func (r *HTTPRequest) ParsedURI() *URI {
	var u *URI
	_ = r.call("evhttp_request_get_evhttp_uri", func(req *C.struct_evhttp_request) error {
		u = uriFromC((*C.struct_evhttp_uri)(unsafe.Pointer(C.evhttp_request_get_evhttp_uri(req))), false)
		return nil
	})
	return u
}

// Host returns the host the request is for: the host of an absolute URI,
// else the Host header without its port (evhttp_request_get_host).
func (r *HTTPRequest) Host() string {
	var host string
	_ = r.call("evhttp_request_get_host", func(req *C.struct_evhttp_request) error {
		host = goStringOrEmpty(C.evhttp_request_get_host(req))
		return nil
	})
	return host
}

// ProtoVersion returns the HTTP version of the request, such as 1 and 1.
func (r *HTTPRequest) ProtoVersion() (major, minor int) {
	_ = r.call("evhttp_request", func(req *C.struct_evhttp_request) error {
		major, minor = int(req.major), int(req.minor)
		return nil
	})
	return major, minor
}

// ResponseCode returns the status code of the reply, 0 before one is set
// (evhttp_request_get_response_code).
func (r *HTTPRequest) ResponseCode() int {
	var code int
	_ = r.call("evhttp_request_get_response_code", func(req *C.struct_evhttp_request) error {
		code = int(C.evhttp_request_get_response_code(req))
		return nil
	})
	return code
}

// ResponseReason returns the reason phrase of the reply, such as "OK"
// (evhttp_request_get_response_code_line).
func (r *HTTPRequest) ResponseReason() string {
	var reason string
	_ = r.call("evhttp_request_get_response_code_line", func(req *C.struct_evhttp_request) error {
		reason = goStringOrEmpty(C.evhttp_request_get_response_code_line(req))
		return nil
	})
	return reason
}

// InputHeaders returns the headers that came with the request (for a
// server) or the reply (for a client) (evhttp_request_get_input_headers).
func (r *HTTPRequest) InputHeaders() *Headers {
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	if r.inHeaders == nil {
		r.inHeaders = &Headers{req: r}
	}
	return r.inHeaders
}

// OutputHeaders returns the headers to send with the reply (for a server) or
// the request (for a client) (evhttp_request_get_output_headers).
func (r *HTTPRequest) OutputHeaders() *Headers {
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	if r.outHeaders == nil {
		r.outHeaders = &Headers{req: r, output: true}
	}
	return r.outHeaders
}

// InputBuffer returns the body that came with the request, or with the
// reply for a client, without copying it (evhttp_request_get_input_buffer).
// The Buffer belongs to the request, so use it only on the loop goroutine,
// such as in the handler, and only until the reply. Elsewhere its methods
// fail with ErrNotThreadSafe, and after the reply with ErrReplied. Use
// [HTTPRequest.Body] from other goroutines. It returns nil once the request is
// unusable.
func (r *HTTPRequest) InputBuffer() *Buffer {
	var buf *Buffer
	_ = r.call("evhttp_request_get_input_buffer", func(req *C.struct_evhttp_request) error {
		if r.input == nil {
			r.input = borrowBuffer(C.evhttp_request_get_input_buffer(req), r, r.base, 0, false, nil)
		}
		buf = r.input
		return nil
	})
	return buf
}

// Body returns a reader that removes the body from the request's input
// buffer. Unlike InputBuffer it may be used from any goroutine until the
// reply; afterwards it reports ErrReplied.
func (r *HTTPRequest) Body() io.Reader {
	return requestBody{r}
}

type requestBody struct{ r *HTTPRequest }

func (b requestBody) Read(p []byte) (int, error) {
	const op = "evbuffer_remove"
	if len(p) > maxChunk {
		p = p[:maxChunk]
	}
	var n int
	err := b.r.call(op, func(req *C.struct_evhttp_request) error {
		buf := C.evhttp_request_get_input_buffer(req)
		if C.evbuffer_get_length(buf) == 0 {
			return io.EOF
		}
		if len(p) == 0 {
			return nil
		}
		got := C.evbuffer_remove(buf, unsafe.Pointer(&p[0]), C.size_t(len(p)))
		if got < 0 {
			return opError(op, nil)
		}
		n = int(got)
		if r := b.r; r.input != nil {
			r.input.noteChanged()
		}
		return nil
	})
	if errors.Is(err, io.EOF) {
		return n, io.EOF
	}
	return n, err
}

// RemoteAddr returns the address of the client (for a server) or of the
// server (for a client) (evhttp_connection_get_peer), or nil when the
// request has no connection, such as after the client went away.
func (r *HTTPRequest) RemoteAddr() net.Addr {
	var addr net.Addr
	_ = r.call("evhttp_connection_get_peer", func(req *C.struct_evhttp_request) error {
		var host [64]C.char
		var port C.int
		if C.golibevent_http_request_peer(req, &host[0], C.size_t(len(host)), &port) != 0 {
			return nil
		}
		ip, err := netip.ParseAddr(C.GoString(&host[0]))
		if err != nil {
			return nil
		}
		addr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
		return nil
	})
	return addr
}

// Base returns the base whose loop runs the request.
func (r *HTTPRequest) Base() *Base {
	if r == nil {
		return nil
	}
	return r.base
}

// OnComplete sets fn to run on the loop goroutine once the whole reply has
// been written and just before libevent frees the request
// (evhttp_request_set_on_complete_cb). fn receives the HTTPRequest, which can
// no longer be used then. It does not run when the client went away before
// the reply was written, or when the server was closed first. It fails
// for a request from [WrapHTTPRequest] or from a server from [WrapHTTPServer],
// whose completion callback belongs to C code.
func (r *HTTPRequest) OnComplete(fn func(r *HTTPRequest)) error {
	const op = "evhttp_request_set_on_complete_cb"
	if r != nil && r.noCompleteHook {
		return invalidError(op, "a request that C code owns keeps its own completion callback")
	}
	return r.call(op, func(req *C.struct_evhttp_request) error {
		if s, ok := r.owner.(*HTTPServer); ok && fn != nil {
			if err := s.watchCompletion(req, r); err != nil {
				return wrapError(op, err)
			}
		}
		r.cbMu.Lock()
		r.onComplete = fn
		r.cbMu.Unlock()
		return nil
	})
}

// checkStatus rejects a status code outside 100 to 999 and a reason phrase
// with CR, LF or NUL, which libevent would write into the status line as
// given.
func checkStatus(op string, code int, reason string) error {
	if code < 100 || code > 999 {
		return invalidError(op, "status code %d is not a three-digit HTTP status", code)
	}
	if i := strings.IndexAny(reason, "\r\n\x00"); i >= 0 {
		return invalidError(op, "reason phrase contains %q", reason[i])
	}
	return nil
}

// cReason returns reason as a C string, or NULL for "", which makes
// libevent use the standard phrase of the code. The caller frees a
// non-NULL result, and skips the free of NULL, which would cost a cgo call.
func cReason(reason string) *C.char {
	if reason == "" {
		return nil
	}
	return C.CString(reason)
}

// replyKind names the evhttp function that begins a reply.
type replyKind uint8

const (
	replyFull  replyKind = iota // evhttp_send_reply
	replyError                  // evhttp_send_error
	replyStart                  // evhttp_send_reply_start
)

// beginReply checks code and reason, then begins a reply of the given kind
// on the loop's goroutine, unless a reply has already begun. A handler runs
// on the loop's goroutine, and there the reply needs no closure, which
// spares each request two heap allocations.
func (r *HTTPRequest) beginReply(op string, kind replyKind, code int, reason string, body []byte) error {
	if err := checkStatus(op, code, reason); err != nil {
		return err
	}
	if r == nil || r.base == nil {
		return invalidError(op, "the HTTPRequest was not created by an HTTPServer or a client")
	}
	creason := cReason(reason)
	if creason != nil {
		defer C.free(unsafe.Pointer(creason))
	}
	b := r.base
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	if b.onLoopThread() {
		return r.sendReplyHere(op, kind, code, creason, body)
	}
	var err error
	runErr := b.callOnLoop(func() { err = r.sendReplyHere(op, kind, code, creason, body) })
	if runErr != nil {
		return runErr
	}
	return err
}

// sendReplyHere begins the reply on the loop goroutine, as callHere runs
// a function.
func (r *HTTPRequest) sendReplyHere(op string, kind replyKind, code int, creason *C.char, body []byte) error {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	if r.ptr == nil {
		return wrapError(op, r.gone)
	}
	if r.state != replyNone {
		return wrapError(op, ErrReplied)
	}
	switch kind {
	case replyFull:
		if C.golibevent_http_send_reply(r.ptr, C.int(code), creason, cBytes(body), C.size_t(len(body))) != 0 {
			return opError(op, nil)
		}
		r.state = replyDone
		r.finish(ErrReplied)
	case replyError:
		C.golibevent_http_send_error(r.ptr, C.int(code), creason)
		r.state = replyDone
		r.finish(ErrReplied)
	case replyStart:
		C.golibevent_http_send_reply_start(r.ptr, C.int(code), creason)
		r.state = replyChunking
	}
	return nil
}

// SendReply sends the reply with status code, reason phrase and body
// (evhttp_send_reply). An empty reason gives the standard phrase for code.
// libevent 2.1.12 adds the headers that the output headers lack: Date to
// replies to HTTP/1.1 clients, and the default Content-Type to replies with
// a body. It adds Content-Length to replies with a body to HTTP/1.1 clients
// and to HTTP/1.0 clients that keep the connection alive. A reply to HEAD, or with status 1xx,
// 204 or 304, goes out without the body (libevent 2.1.12 would send it),
// and a reply to HEAD keeps the body's Content-Length. It fails with
// ErrReplied when the request already has a reply, and the request is
// unusable afterwards.
//
// On a plain TCP or unix socket connection with nothing else queued,
// SendReply writes the reply to the socket at once. evhttp alone would wait
// for the loop's next pass and turn the write event on and off, which costs
// two epoll_ctl calls on the epoll backend. What the socket does not take
// goes out from the loop as usual. evhttp still finishes the request, and
// runs the completion callback, from the loop.
func (r *HTTPRequest) SendReply(code int, reason string, body []byte) error {
	return r.beginReply("evhttp_send_reply", replyFull, code, reason, body)
}

// SendError sends an error reply with status code and a short HTML page
// that names reason (evhttp_send_error). An empty reason gives the standard
// phrase for code. The rules of SendReply apply.
func (r *HTTPRequest) SendError(code int, reason string) error {
	return r.beginReply("evhttp_send_error", replyError, code, reason, nil)
}

// SendReplyStart starts a reply whose body follows in chunks
// (evhttp_send_reply_start). For an HTTP/1.1 client without a
// Content-Length in the output headers, libevent uses chunked transfer
// encoding. Otherwise the body ends when the connection closes or after
// Content-Length bytes.
func (r *HTTPRequest) SendReplyStart(code int, reason string) error {
	return r.beginReply("evhttp_send_reply_start", replyStart, code, reason, nil)
}

// SendReplyChunk sends data as the next part of a reply that SendReplyStart
// began (evhttp_send_reply_chunk). Empty data sends nothing.
func (r *HTTPRequest) SendReplyChunk(data []byte) error {
	return r.sendChunk("evhttp_send_reply_chunk", data, nil)
}

// SendReplyChunkWithCallback sends data as SendReplyChunk does, and runs fn
// on the loop goroutine once everything queued on the connection has been
// written (evhttp_send_reply_chunk_with_cb), so that a producer can wait for
// it before sending more. fn does not run when nothing is sent (empty data,
// a reply to HEAD, a client that has gone away), and a later chunk replaces
// a callback that has not run yet.
func (r *HTTPRequest) SendReplyChunkWithCallback(data []byte, fn func()) error {
	const op = "evhttp_send_reply_chunk_with_cb"
	if fn == nil {
		return invalidError(op, "nil callback")
	}
	return r.sendChunk(op, data, fn)
}

func (r *HTTPRequest) sendChunk(op string, data []byte, fn func()) error {
	return r.call(op, func(req *C.struct_evhttp_request) error {
		switch r.state {
		case replyNone:
			return invalidError(op, "no chunked reply was started; call SendReplyStart first")
		case replyDone:
			return wrapError(op, ErrReplied)
		}
		var key unsafe.Pointer
		r.cbMu.Lock()
		r.chunkFn = fn
		if fn != nil {
			if r.chunkKey == nil {
				r.chunkKey = handles.register(r)
			}
			key = r.chunkKey
		}
		r.cbMu.Unlock()
		var ptr unsafe.Pointer
		if len(data) > 0 {
			ptr = unsafe.Pointer(&data[0])
		}
		if C.golibevent_http_send_chunk(req, ptr, C.size_t(len(data)), key) != 0 {
			return opError(op, nil)
		}
		return nil
	})
}

// SendReplyEnd ends a chunked reply (evhttp_send_reply_end). The request is
// unusable afterwards.
func (r *HTTPRequest) SendReplyEnd() error {
	const op = "evhttp_send_reply_end"
	return r.call(op, func(req *C.struct_evhttp_request) error {
		switch r.state {
		case replyNone:
			return invalidError(op, "no chunked reply was started; call SendReplyStart first")
		case replyDone:
			return wrapError(op, ErrReplied)
		}
		C.golibevent_http_send_reply_end(req)
		r.state = replyDone
		r.finish(ErrReplied)
		return nil
	})
}

// runChunkCallback runs the pending chunk callback; the chunk trampoline
// calls it on the loop goroutine.
func (r *HTTPRequest) runChunkCallback() {
	r.cbMu.Lock()
	fn := r.chunkFn
	r.chunkFn = nil
	r.cbMu.Unlock()
	if fn != nil {
		fn()
	}
}

// runOnComplete runs the completion callback; the completion trampoline
// calls it on the loop goroutine.
func (r *HTTPRequest) runOnComplete() {
	r.cbMu.Lock()
	fn := r.onComplete
	r.onComplete = nil
	r.cbMu.Unlock()
	if fn != nil {
		fn(r)
	}
}

// httpDirectReplies returns how many replies the package's shims wrote to
// the socket at once in the process (http_direct.c), for tests.
func httpDirectReplies() int64 {
	return int64(C.golibevent_http_direct_replies())
}
