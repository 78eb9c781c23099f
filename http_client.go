//go:build cgo

package libevent

/*
#include <stdlib.h>
#include "cgo_callbacks.h"
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// ErrConnectFailed reports that the client could not connect to the HTTP
// server, after the connection's retries if it has any.
//
// NOTE: libevent 2.1.12 does not keep the socket error of a failed connect
// (it shuts the socket down before the request's callback, which leaves
// ENOTCONN in errno), so this error carries no errno such as ECONNREFUSED.
var ErrConnectFailed = errors.New("connecting to the HTTP server failed")

// HTTPRequestError is the reason libevent gives for a failed client request
// (enum evhttp_request_error). Errors from the client match these with
// errors.Is.
type HTTPRequestError int

const (
	// HTTPErrTimeout reports that connecting, writing or reading took
	// longer than the connection's timeout (EVREQ_HTTP_TIMEOUT).
	HTTPErrTimeout HTTPRequestError = C.EVREQ_HTTP_TIMEOUT
	// HTTPErrEOF reports that the connection was closed or reset before
	// the response was complete (EVREQ_HTTP_EOF).
	HTTPErrEOF HTTPRequestError = C.EVREQ_HTTP_EOF
	// HTTPErrInvalidHeader reports a malformed status line or header
	// (EVREQ_HTTP_INVALID_HEADER).
	HTTPErrInvalidHeader HTTPRequestError = C.EVREQ_HTTP_INVALID_HEADER
	// HTTPErrBuffer reports a failed read or write on the socket
	// (EVREQ_HTTP_BUFFER_ERROR).
	HTTPErrBuffer HTTPRequestError = C.EVREQ_HTTP_BUFFER_ERROR
	// HTTPErrCanceled reports a request canceled with
	// evhttp_cancel_request (EVREQ_HTTP_REQUEST_CANCEL).
	HTTPErrCanceled HTTPRequestError = C.EVREQ_HTTP_REQUEST_CANCEL
	// HTTPErrDataTooLong reports headers or a body larger than the
	// connection's maximum (EVREQ_HTTP_DATA_TOO_LONG).
	HTTPErrDataTooLong HTTPRequestError = C.EVREQ_HTTP_DATA_TOO_LONG
)

// Error returns a description of the reason.
func (e HTTPRequestError) Error() string {
	switch e {
	case HTTPErrTimeout:
		return "HTTP request timed out"
	case HTTPErrEOF:
		return "connection closed before the HTTP response was complete"
	case HTTPErrInvalidHeader:
		return "invalid HTTP response header"
	case HTTPErrBuffer:
		return "HTTP connection read or write failed"
	case HTTPErrCanceled:
		return "HTTP request canceled"
	case HTTPErrDataTooLong:
		return "HTTP response headers or body too long"
	}
	return "HTTP request error " + strconv.Itoa(int(e))
}

// Timeout reports whether the reason is a timeout, as net.Error does.
func (e HTTPRequestError) Timeout() bool {
	return e == HTTPErrTimeout
}

// httpRequestFailure is a failed request's reason and the errno that the
// socket reported with it, if any.
type httpRequestFailure struct {
	reason HTTPRequestError
	errno  syscall.Errno
}

func (f *httpRequestFailure) Error() string {
	if f.errno == 0 {
		return f.reason.Error()
	}
	return f.reason.Error() + ": " + f.errno.Error()
}

func (f *httpRequestFailure) Unwrap() []error {
	if f.errno == 0 {
		return []error{f.reason}
	}
	return []error{f.reason, f.errno}
}

func (f *httpRequestFailure) Timeout() bool {
	return f.reason == HTTPErrTimeout
}

// HTTPResponse is the response to a client request.
type HTTPResponse struct {
	// StatusCode is the response's status code, such as 200.
	StatusCode int
	// Reason is the status line's reason phrase, such as "OK".
	Reason string
	// Header contains the response's headers under their canonical
	// names, each value in the order received.
	Header http.Header
	// Body is the response's body. It is empty when the request had an
	// OnChunk callback, which received the body instead.
	Body []byte
}

// HTTPCallOptions are the callbacks of a request started with
// [HTTPConnection.Start]. They run on the loop's goroutine, except that
// closing the connection or its base while the loop is not running fails
// the requests in flight on the goroutine that closes it.
type HTTPCallOptions struct {
	// OnChunk, if set, receives the response's body in pieces as they
	// arrive (evhttp_request_set_chunked_cb), and the response passed to
	// OnDone then has no body.
	OnChunk func(data []byte)
	// OnResponse, if set, runs before OnDone when a response has
	// arrived, with the libevent request that holds it. r is usable only
	// until OnResponse returns, because libevent frees it afterwards: read
	// r.ResponseCode, r.InputHeaders or r.InputBuffer there. What
	// OnResponse removes from the input buffer is missing from the
	// response's Body.
	OnResponse func(r *HTTPRequest)
	// OnDone receives the response, or the error that ended the request.
	// It runs exactly once, unless Start returned an error. A request
	// that fails has an error that matches one of the HTTPRequestError
	// values and, where the socket reported one, the errno.
	OnDone func(resp *HTTPResponse, err error)
}

// HTTPCall is a request in flight on an [HTTPConnection].
type HTTPCall struct {
	conn *HTTPConnection
	key  unsafe.Pointer
	opts HTTPCallOptions
	// req is the libevent request; it is valid while finished is false
	// and only the loop's goroutine uses it.
	req *C.struct_evhttp_request
	// finished is set once OnDone has been claimed, by the response, a
	// failure, Cancel or Close.
	finished atomic.Bool
	// failure is the reason that the error callback reported, kept for
	// the completion callback that follows it. Only the loop's goroutine
	// touches it.
	failure *httpRequestFailure
}

// httpMethods maps method names to libevent's evhttp_cmd_type.
var httpMethods = map[string]C.enum_evhttp_cmd_type{
	http.MethodGet:     C.EVHTTP_REQ_GET,
	http.MethodPost:    C.EVHTTP_REQ_POST,
	http.MethodHead:    C.EVHTTP_REQ_HEAD,
	http.MethodPut:     C.EVHTTP_REQ_PUT,
	http.MethodDelete:  C.EVHTTP_REQ_DELETE,
	http.MethodOptions: C.EVHTTP_REQ_OPTIONS,
	http.MethodTrace:   C.EVHTTP_REQ_TRACE,
	http.MethodConnect: C.EVHTTP_REQ_CONNECT,
	http.MethodPatch:   C.EVHTTP_REQ_PATCH,
}

// outgoingRequest is a request checked and read into memory, ready for the
// loop's goroutine.
type outgoingRequest struct {
	method C.enum_evhttp_cmd_type
	uri    string
	header [][2]string
	body   []byte
}

// prepareRequest checks req and reads its body. The Host header comes from
// req.Host, else from req.URL's host, else from the connection.
func (c *HTTPConnection) prepareRequest(op string, req *http.Request) (*outgoingRequest, error) {
	if req == nil || req.URL == nil {
		return nil, invalidError(op, "nil request or request URL")
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	cmd, ok := httpMethods[method]
	if !ok {
		return nil, invalidError(op, "method %q is not one that libevent 2.1 sends", method)
	}
	out := &outgoingRequest{method: cmd, uri: req.URL.RequestURI()}
	if err := checkHeaderText(op, "URI", out.uri); err != nil {
		return nil, err
	}

	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	for name, values := range req.Header {
		if strings.EqualFold(name, "Host") {
			if host == "" && len(values) > 0 {
				host = values[0]
			}
			continue
		}
		for _, v := range values {
			out.header = append(out.header, [2]string{name, v})
		}
	}
	if host == "" {
		host = c.hostHeader
	}
	out.header = append(out.header, [2]string{"Host", host})
	for _, kv := range out.header {
		if err := checkHeaderText(op, "header name", kv[0]); err != nil {
			return nil, err
		}
		if err := checkHeaderText(op, "header value", kv[1]); err != nil {
			return nil, err
		}
	}

	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, &Error{Op: op, Err: fmt.Errorf("reading the request body: %w", err)}
		}
		out.body = body
	}
	// libevent adds Content-Length only to POST and PUT requests, so
	// other methods with a body get it here.
	if len(out.body) > 0 && req.Header.Get("Content-Length") == "" &&
		cmd != C.EVHTTP_REQ_POST && cmd != C.EVHTTP_REQ_PUT {
		out.header = append(out.header, [2]string{"Content-Length", strconv.Itoa(len(out.body))})
	}
	return out, nil
}

// checkHeaderText rejects a NUL, CR or LF, which would cut a C string short
// or split the request's header.
func checkHeaderText(op, what, s string) error {
	if strings.ContainsAny(s, "\x00\r\n") {
		return invalidError(op, "%s %q contains a NUL, CR or LF", what, s)
	}
	return nil
}

// Start sends req on the connection (evhttp_make_request) and returns at
// once; opts.OnDone receives the response on the loop's goroutine. The
// request's body is read before Start returns. libevent sends the
// connection's requests one at a time, in order.
//
// req.Host, else req.URL.Host, else the connection's address becomes the
// Host header; a "Host" entry in req.Header is used only when both are
// empty. The URL's path and query form the request URI.
func (c *HTTPConnection) Start(req *http.Request, opts HTTPCallOptions) (*HTTPCall, error) {
	const op = "evhttp_make_request"
	if opts.OnDone == nil {
		return nil, invalidError(op, "nil OnDone callback")
	}
	out, err := c.prepareRequest(op, req)
	if err != nil {
		return nil, err
	}
	call := &HTTPCall{conn: c, opts: opts}
	var startErr error
	if err := c.onLoop(op, func() { startErr = c.startOnLoop(call, out) }); err != nil {
		return nil, err
	}
	if startErr != nil {
		return nil, startErr
	}
	return call, nil
}

// startOnLoop builds the libevent request and hands it to the connection.
func (c *HTTPConnection) startOnLoop(call *HTTPCall, out *outgoingRequest) error {
	const op = "evhttp_make_request"
	call.key = handles.register(call)
	withChunks := C.int(0)
	if call.opts.OnChunk != nil {
		withChunks = 1
	}
	req, errno := C.golibevent_http_request_new(call.key, withChunks)
	if req == nil {
		handles.release(call.key)
		return opError("evhttp_request_new", errno)
	}

	headers := C.evhttp_request_get_output_headers(req)
	for _, kv := range out.header {
		name := C.CString(kv[0])
		value := C.CString(kv[1])
		r := C.evhttp_add_header(headers, name, value)
		C.free(unsafe.Pointer(name))
		C.free(unsafe.Pointer(value))
		if r != 0 {
			C.evhttp_request_free(req)
			handles.release(call.key)
			return invalidError(op, "header %q: %q rejected by libevent", kv[0], kv[1])
		}
	}
	if len(out.body) > 0 {
		buf := C.evhttp_request_get_output_buffer(req)
		if C.evbuffer_add(buf, unsafe.Pointer(&out.body[0]), C.size_t(len(out.body))) != 0 {
			C.evhttp_request_free(req)
			handles.release(call.key)
			return opError("evbuffer_add", syscall.ENOMEM)
		}
	}
	if !c.addPending(call) {
		C.evhttp_request_free(req)
		handles.release(call.key)
		return wrapError(op, ErrClosed)
	}

	call.req = req
	if c.tls != nil {
		c.tls.beforeRequest(c)
	}
	uri := C.CString(out.uri)
	defer C.free(unsafe.Pointer(uri))
	r, errno := C.evhttp_make_request(c.ptr, req, out.method, uri)
	if r != 0 {
		// libevent freed the request. Its callbacks may have run
		// already, in which case OnDone has the outcome.
		c.removePending(call)
		call.req = nil
		if call.finished.CompareAndSwap(false, true) {
			handles.release(call.key)
			return opError(op, errno)
		}
	}
	return nil
}

// failed records the reason from the error callback, which libevent calls
// just before the completion callback. errno is kept only for the reasons
// that come from a failed read or write, because for the others it holds
// whatever the last system call left.
func (call *HTTPCall) failed(reason HTTPRequestError, errno syscall.Errno) {
	switch {
	case reason != HTTPErrEOF && reason != HTTPErrBuffer,
		errno == syscall.EAGAIN, errno == syscall.EINPROGRESS, errno == syscall.EINTR:
		errno = 0
	}
	call.failure = &httpRequestFailure{reason: reason, errno: errno}
}

// done handles the completion callback. req is nil when the request failed.
func (call *HTTPCall) done(req *C.struct_evhttp_request) {
	if !call.finished.CompareAndSwap(false, true) {
		return
	}
	// libevent frees the request after this callback and calls nothing
	// more for it, so the key is done.
	call.req = nil
	call.conn.removePending(call)
	handles.release(call.key)

	if req == nil || C.evhttp_request_get_response_code(req) == 0 {
		var err error = call.failure
		if call.failure == nil {
			// libevent reports a failed connection attempt, after its
			// retries, with no error callback and no response code.
			err = ErrConnectFailed
		}
		if call.conn.tls != nil {
			if tlsErr := call.conn.tls.failure(call.conn); tlsErr != nil {
				err = fmt.Errorf("%w: %w", err, tlsErr)
			}
		}
		if dnsErr := call.conn.lookupError(); dnsErr != nil {
			// The errno that came with the failure is not the lookup's.
			err = &httpLookupFailure{dns: dnsErr}
		}
		call.opts.OnDone(nil, &Error{Op: "evhttp_make_request", Err: err})
		return
	}
	if call.opts.OnResponse != nil {
		call.runOnResponse(req)
	}
	resp := &HTTPResponse{
		StatusCode: int(C.evhttp_request_get_response_code(req)),
		Header:     headersToHTTP(C.evhttp_request_get_input_headers(req)),
		Body:       drainBuffer(C.evhttp_request_get_input_buffer(req)),
	}
	if line := C.evhttp_request_get_response_code_line(req); line != nil {
		resp.Reason = C.GoString(line)
	}
	call.opts.OnDone(resp, nil)
}

// runOnResponse wraps req in an HTTPRequest for OnResponse, and lets go of it
// when OnResponse returns, so that later calls on it fail with ErrClosed.
func (call *HTTPCall) runOnResponse(req *C.struct_evhttp_request) {
	r := newRequest(req, call.conn.base, call)
	defer func() {
		r.callMu.Lock()
		r.finish(ErrClosed)
		r.callMu.Unlock()
	}()
	call.opts.OnResponse(r)
}

// requestDone is called when the HTTPRequest that OnResponse received lets go
// of the C request; libevent frees it after the completion callback.
func (call *HTTPCall) requestDone(*HTTPRequest) {}

// chunk handles the chunk callback: it passes what has arrived to OnChunk,
// and libevent drains the input buffer afterwards.
func (call *HTTPCall) chunk(req *C.struct_evhttp_request) {
	if call.finished.Load() || call.opts.OnChunk == nil {
		return
	}
	data := drainBuffer(C.evhttp_request_get_input_buffer(req))
	if len(data) > 0 {
		call.opts.OnChunk(data)
	}
}

// abandon ends a call whose request libevent freed without calling back,
// as evhttp_connection_free does.
func (call *HTTPCall) abandon(err error) {
	if !call.finished.CompareAndSwap(false, true) {
		return
	}
	call.req = nil
	handles.release(call.key)
	call.runOnDone(nil, err)
}

// runOnDone runs OnDone outside a libevent callback, where a panic has no
// trampoline to catch it. The panic goes to the base's loop as a callback's
// would.
func (call *HTTPCall) runOnDone(resp *HTTPResponse, err error) {
	defer recoverCallbackFor(call.conn.base)
	call.opts.OnDone(resp, err)
}

// Cancel cancels the request if it has not finished (evhttp_cancel_request):
// libevent frees it, and resets the connection if the request was being
// sent or its response read. OnDone then receives an error that matches
// HTTPErrCanceled. Cancel after the request has finished does nothing.
func (call *HTTPCall) Cancel() error {
	const op = "evhttp_cancel_request"
	if call == nil || call.conn == nil {
		return invalidError(op, "the HTTPCall was not returned by Start")
	}
	return call.conn.onLoop(op, func() {
		call.cancelOnLoop(&Error{Op: op, Err: &httpRequestFailure{reason: HTTPErrCanceled}})
	})
}

// cancelOnLoop cancels the request and gives OnDone err.
func (call *HTTPCall) cancelOnLoop(err error) {
	if !call.finished.CompareAndSwap(false, true) {
		return
	}
	C.evhttp_cancel_request(call.req)
	call.req = nil
	call.conn.removePending(call)
	handles.release(call.key)
	call.runOnDone(nil, err)
}

// headersToHTTP copies an evkeyvalq into an http.Header.
func headersToHTTP(q *C.struct_evkeyvalq) http.Header {
	h := http.Header{}
	if q == nil {
		return h
	}
	for kv := q.tqh_first; kv != nil; kv = kv.next.tqe_next {
		name := textproto.CanonicalMIMEHeaderKey(C.GoString(kv.key))
		h[name] = append(h[name], C.GoString(kv.value))
	}
	return h
}

// drainBuffer removes and returns everything in buf.
func drainBuffer(buf *C.struct_evbuffer) []byte {
	n := int(C.evbuffer_get_length(buf))
	if n == 0 {
		return nil
	}
	data := make([]byte, n)
	for got := 0; got < n; {
		size := min(n-got, maxChunk)
		r := int(C.evbuffer_remove(buf, unsafe.Pointer(&data[got]), C.size_t(size)))
		if r <= 0 {
			return data[:got]
		}
		got += r
	}
	return data
}

// Do sends req on the connection and waits for the response. It may be
// called from any goroutine but the loop's, while the base's loop runs on
// another goroutine (for example in [Base.Run]). When ctx ends first, Do
// cancels the request on the loop and returns an error that matches
// ctx.Err().
func (c *HTTPConnection) Do(ctx context.Context, req *http.Request) (*HTTPResponse, error) {
	const op = "evhttp_make_request"
	if c != nil && c.base != nil && c.base.onLoopThread() {
		return nil, invalidError(op, "Do would wait for the loop that runs it; use Start from a callback")
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}

	type result struct {
		resp *HTTPResponse
		err  error
	}
	results := make(chan result, 1)
	call, err := c.Start(req, HTTPCallOptions{OnDone: func(resp *HTTPResponse, err error) {
		results <- result{resp, err}
	}})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-results:
		return r.resp, r.err
	case <-ctx.Done():
	}

	err = c.onLoop("evhttp_cancel_request", func() {
		call.cancelOnLoop(&Error{Op: op, Err: ctx.Err()})
	})
	if err != nil {
		// The connection was closed, which ended the call with ErrClosed.
		call.abandon(&Error{Op: op, Err: ctx.Err()})
	}
	r := <-results
	return r.resp, r.err
}
