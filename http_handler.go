//go:build cgo

package libevent

/*
// golibevent_http_request_info fills info and scratch and keeps neither,
// and it never calls Go (libevent logs nothing on its path), so info can
// stay on the stack. cgo (Go 1.26) honours noescape only together with
// nocallback.
#cgo noescape golibevent_http_request_info
#cgo nocallback golibevent_http_request_info
#include "http_handler_cgo.h"
*/
import "C"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

const (
	// handlerBufferSize is how much of a reply body the adapter buffers
	// before it gives up on a Content-Length reply and starts a chunked
	// one. A handler that returns before writing more gets one reply with
	// Content-Length.
	handlerBufferSize = 64 << 10
	// handlerChunkSize is the largest chunk the adapter hands to the loop
	// at once.
	handlerChunkSize = 64 << 10
	// handlerLivenessCheck is how often a blocked Write checks whether the
	// client is still connected, because libevent does not run the chunk
	// callback for a connection that has failed.
	handlerLivenessCheck = 200 * time.Millisecond
)

// errClientGone is returned by Write and Flush once the client has closed
// the connection or it failed.
var errClientGone = errors.New("libevent: the client closed the connection")

// HandleHTTP serves the requests whose path is exactly path with h, a
// net/http Handler, as Handle does for a [HandlerFunc]. See
// [HTTPHandlerFunc] for how h runs and how it differs from a handler under
// net/http's server.
func (s *HTTPServer) HandleHTTP(path string, h http.Handler) error {
	if h == nil {
		return invalidError("evhttp_set_cb", "nil http.Handler")
	}
	return s.Handle(path, s.HTTPHandlerFunc(h))
}

// HandleHTTPDefault serves the requests that no Handle path matches with h,
// as HandleDefault does for a [HandlerFunc]. With an [http.ServeMux] as h,
// the mux does the routing.
func (s *HTTPServer) HandleHTTPDefault(h http.Handler) error {
	if h == nil {
		return invalidError("evhttp_set_gencb", "nil http.Handler")
	}
	return s.HandleDefault(s.HTTPHandlerFunc(h))
}

// HTTPHandlerFunc returns a HandlerFunc that serves each request with h, a
// net/http Handler.
//
// On the loop goroutine, the adapter copies the request into an
// *http.Request: method, URL, RequestURI, Proto, Header, Host, RemoteAddr,
// Close, ContentLength and the whole body, which libevent has already read.
// It then calls h.ServeHTTP on another goroutine, so h may block. The
// request's context is cancelled when h returns or when s (or its Base) is
// closed.
//
// The ResponseWriter buffers the body until h returns, calls Flush or
// writes more than 64 KiB. A reply that fits the buffer goes out in one
// piece with Content-Length. A longer or flushed one goes out as a chunked
// reply, or for an HTTP/1.0 client as a body that ends when the connection
// closes. The adapter hands each part of the reply to libevent on the loop
// goroutine, in chunks of up to 64 KiB, and Write waits until libevent has
// written one chunk before it sends the next, so a handler cannot run far
// ahead of a slow client.
//
// A panic in h is recovered and logged to the package's logger (see
// [SetLogger]) with its stack, except [http.ErrAbortHandler]. The client
// then gets 500 Internal Server Error if nothing was sent yet; otherwise
// the connection is closed, cutting the reply off.
//
// Differences from net/http's server:
//   - No Hijack (http.Hijacker), no HTTP/2, no TLS state in the request
//     (HTTPRequest.TLS is nil), no trailers, and no 1xx informational replies:
//     WriteHeader with a 1xx code is ignored, and libevent itself answers
//     "Expect: 100-continue".
//   - The body is read in full before h runs, within the server's
//     SetMaxBodyBytes limit, so h cannot stream a request body.
//   - The context is not cancelled when the client goes away, because
//     libevent notices that only when it writes the reply. Write and Flush
//     then return an error.
//   - Content-Type is sniffed from the body as net/http does, but a reply
//     with no body, or with Content-Type set to nil to stop the sniffing,
//     gets the server's default Content-Type (see
//     [HTTPServer.SetDefaultContentType]) from libevent.
//   - The reason phrase comes from [http.StatusText], and from libevent
//     for codes that Go does not know.
//   - A reply to an HTTP/1.0 request has no Date header unless the handler
//     sets one: libevent adds Date only to replies to HTTP/1.1.
//   - Header names that are not valid tokens are dropped, and CR, LF and
//     NUL in values become spaces, as net/http does with CR and LF.
//   - A handler that sets Content-Length and writes a different number of
//     bytes: a buffered reply is sent with the real length instead, and a
//     streamed one gets its connection closed when h returns.
//   - ResponseController.SetReadDeadline, SetWriteDeadline and
//     EnableFullDuplex return http.ErrNotSupported; the server's
//     SetTimeout applies instead.
//   - The context has no http.ServerContextKey or LocalAddrContextKey.
func (s *HTTPServer) HTTPHandlerFunc(h http.Handler) HandlerFunc {
	workers := &handlerWorkers{handler: h, jobs: make(chan handlerJob), stop: s.closed.Done()}
	// The request callbacks of a server run one at a time on its loop
	// goroutine, so they can share one buffer for the headers. Each
	// header becomes a string of its own, which copies it out. A caller
	// may give the HandlerFunc to servers on other bases too, whose
	// callbacks then get a buffer of their own while this one is in use.
	var scratchMu sync.Mutex
	scratch := make([]byte, headerScratchSize)
	return func(r *HTTPRequest) {
		buf := scratch
		if scratchMu.TryLock() {
			defer scratchMu.Unlock()
		} else {
			buf = make([]byte, headerScratchSize)
		}
		ctx, cancel := context.WithCancel(s.closed)
		req, err := newHTTPRequest(r, buf, ctx)
		if err != nil {
			cancel()
			currentLogger().Debug("libevent: rejected an HTTP request for the http.Handler adapter",
				slog.String("error", err.Error()))
			r.SendError(http.StatusBadRequest, "")
			return
		}
		workers.start(handlerJob{r: r, req: req, cancel: cancel})
		r.base.yieldRequested.Store(true)
	}
}

// handlerWorkerIdle is how long a goroutine of the adapter waits for the
// next request before it exits.
const handlerWorkerIdle = time.Second

// handlerJob is one request for the adapter's handler.
type handlerJob struct {
	r      *HTTPRequest
	req    *http.Request
	cancel context.CancelFunc
}

// handlerWorkers runs the handler of one HTTPHandlerFunc on goroutines
// that serve one request after another. Reusing them saves each request
// starting a goroutine and growing its stack, which cost more than the
// handler in a hello-world benchmark. A goroutine exits after
// handlerWorkerIdle without a request, or when the server is closed.
type handlerWorkers struct {
	handler http.Handler
	// jobs hands a request to an idle goroutine. It has no buffer, so a
	// send succeeds only when a goroutine is waiting.
	jobs chan handlerJob
	stop <-chan struct{}
}

// start serves job on an idle goroutine, or on a new one if none is idle.
func (w *handlerWorkers) start(job handlerJob) {
	select {
	case w.jobs <- job:
	default:
		go w.run(job)
	}
}

// run serves job and then the requests that start hands it.
func (w *handlerWorkers) run(job handlerJob) {
	var idle *time.Timer
	for {
		serveHTTPHandler(w.handler, job.r, job.req, job.cancel)
		job = handlerJob{}
		if idle == nil {
			idle = time.NewTimer(handlerWorkerIdle)
		} else {
			idle.Reset(handlerWorkerIdle)
		}
		select {
		case job = <-w.jobs:
		case <-idle.C:
			return
		case <-w.stop:
			idle.Stop()
			return
		}
	}
}

// headerScratchSize is the size of the buffer into which the adapter copies
// a request's headers, which avoids a malloc and a free in C when they fit.
// Headers from curl or a browser take a few hundred bytes.
const headerScratchSize = 4 << 10

// newHTTPRequest copies r into an *http.Request with context ctx. It runs
// on the loop goroutine, in the request callback. scratch is a buffer of
// headerScratchSize bytes that it may overwrite.
func newHTTPRequest(r *HTTPRequest, scratch []byte, ctx context.Context) (*http.Request, error) {
	const op = "http.Handler adapter"
	var info C.struct_golibevent_http_request_info
	var uri string
	var headerBlock []byte
	var body []byte
	// The handler has not seen r yet, so nothing else uses it, and the
	// request callback runs on the loop goroutine with the base alive.
	r.callMu.Lock()
	err := func() error {
		req := r.ptr
		if req == nil {
			return wrapError(op, r.gone)
		}
		if C.golibevent_http_request_info(req, &info, (*C.char)(unsafe.Pointer(&scratch[0])), C.size_t(len(scratch))) != 0 {
			return opError(op, nil)
		}
		uri = goStringOrEmpty(info.uri)
		switch {
		case info.headers_in_buf != 0:
			headerBlock = scratch[:info.headers_len]
		case info.headers != nil:
			headerBlock = C.GoBytes(unsafe.Pointer(info.headers), C.int(info.headers_len))
			C.free(unsafe.Pointer(info.headers))
		}
		if n := int(info.body_len); n > 0 {
			body = make([]byte, n)
			got := C.golibevent_http_request_body(req, unsafe.Pointer(&body[0]), C.size_t(n))
			if int(got) != n {
				return opError("evbuffer_remove", nil)
			}
		}
		return nil
	}()
	r.callMu.Unlock()
	if err != nil {
		return nil, err
	}

	method := ""
	for _, n := range httpMethodNames {
		if n.method == HTTPMethod(info.method) {
			method = n.name
		}
	}
	if method == "" {
		return nil, fmt.Errorf("%s: unknown method %d", op, int(info.method))
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid request URI %q: %w", op, uri, err)
	}

	// net/http moves Host out of the header into Request.Host, so the
	// loop skips it, which spares a request two allocations.
	header := make(http.Header, int(info.header_count))
	var host []byte
	sawHost := false
	for len(headerBlock) > 0 {
		name, rest, _ := bytes.Cut(headerBlock, []byte{0})
		value, rest, _ := bytes.Cut(rest, []byte{0})
		headerBlock = rest
		if bytes.EqualFold(name, []byte("Host")) {
			if !sawHost {
				host, sawHost = value, true
			}
			continue
		}
		key := http.CanonicalHeaderKey(string(name))
		header[key] = append(header[key], string(value))
	}

	major, minor := int(info.major), int(info.minor)
	// The fields are set on a value on the stack: WithContext, the only
	// way to set the context, copies it to the heap anyway.
	req := http.Request{
		Method:     method,
		URL:        u,
		Proto:      protoName(major, minor),
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     header,
		RequestURI: uri,
		Host:       u.Host,
	}
	if req.Host == "" {
		req.Host = string(host)
	}
	// libevent has decoded a chunked body already.
	if te := header.Values("Transfer-Encoding"); len(te) > 0 {
		req.TransferEncoding = te
		delete(header, "Transfer-Encoding")
	}
	req.Close = closeAfterReply(major, minor, header)
	req.ContentLength = int64(len(body))
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
	} else {
		req.Body = http.NoBody
	}
	if ip, err := netip.ParseAddr(peerAddress(&info)); err == nil {
		req.RemoteAddr = netip.AddrPortFrom(ip, uint16(info.peer_port)).String()
	}
	return req.WithContext(ctx), nil
}

// protoName returns the protocol version as in Request.Proto, such as
// "HTTP/1.1", without an allocation for HTTP/1.0 and HTTP/1.1.
func protoName(major, minor int) string {
	switch {
	case major == 1 && minor == 1:
		return "HTTP/1.1"
	case major == 1 && minor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/" + strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

// peerAddress returns the client's IP address in info. Unlike C.GoString,
// it lets info stay on the stack.
func peerAddress(info *C.struct_golibevent_http_request_info) string {
	peer := unsafe.Slice((*byte)(unsafe.Pointer(&info.peer[0])), len(info.peer))
	if n := bytes.IndexByte(peer, 0); n >= 0 {
		peer = peer[:n]
	}
	return string(peer)
}

// closeAfterReply reports whether the connection closes after this request,
// by the rules that libevent follows: HTTP/1.0 keeps it open only with
// "Connection: keep-alive", HTTP/1.1 closes it with "Connection: close".
func closeAfterReply(major, minor int, header http.Header) bool {
	hasToken := func(token string) bool {
		for _, v := range header.Values("Connection") {
			for _, part := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(part), token) {
					return true
				}
			}
		}
		return false
	}
	if major == 1 && minor == 0 {
		return !hasToken("keep-alive")
	}
	return hasToken("close")
}
