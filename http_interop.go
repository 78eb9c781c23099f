//go:build cgo

package libevent

/*
#include "http_cgo.h"
*/
import "C"

import (
	"context"
	"unsafe"
)

// Interop with C code that shares an HTTP server or its requests with Go.
// As in interop.go, the pointers cross as unsafe.Pointer so that C code in
// other packages can pass them in and out.

// C returns the server's struct evhttp *, or nil after Close, for C code
// that adds its own handlers or settings. The pointer stays valid until
// Close. C code must not free it, and must not replace the callbacks that
// the package installed: the generic callback, the paths given to Handle
// and the bufferevent callback.
func (s *HTTPServer) C() unsafe.Pointer {
	if s == nil || s.ptr == nil || s.life.isClosed() {
		return nil
	}
	return unsafe.Pointer(s.ptr)
}

// WrapHTTPServer returns an HTTPServer for an evhttp that C code created on the
// base that b wraps, and owns. Go code can then add handlers with Handle,
// HandleDefault and AddVirtualHost, and change settings, which stay after
// Close. Paths that C code has set keep their C handlers, and Handle fails
// for them.
//
// Close removes what Go added (the Handle paths, the generic callback set
// by HandleDefault, the bufferevent callback and the virtual hosts) but
// does not free the evhttp. Requests that Go handlers received and have not
// replied to get 503 Service Unavailable then, and a chunked reply in
// progress is ended. C code must close the wrapper before it frees the
// evhttp.
//
// libevent cannot report an evhttp's base, so the caller must pass the
// right one. Requests of a wrapped server keep their completion callback
// for C code, so [HTTPRequest.OnComplete] fails for them.
func WrapHTTPServer(ptr unsafe.Pointer, b *Base) (*HTTPServer, error) {
	const op = "WrapHTTPServer"
	if ptr == nil {
		return nil, invalidError(op, "nil evhttp pointer")
	}
	if b == nil {
		return nil, invalidError(op, "nil Base")
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()
	s := &HTTPServer{
		ptr:        (*C.struct_evhttp)(ptr),
		base:       b,
		borrowed:   true,
		paths:      make(map[string]*pathHandler),
		vhosts:     make(map[*HTTPServer]string),
		completing: make(map[*C.struct_evhttp_request]*HTTPRequest),
	}
	s.closed, s.cancelClosed = context.WithCancel(context.Background())
	s.root = s
	s.key = handles.register(s)
	b.addChild(s)
	return s, nil
}

// releaseBorrowed undoes what Go added to a server from WrapHTTPServer and
// releases the keys, leaving the evhttp to C code. It runs where release
// runs.
func (s *HTTPServer) releaseBorrowed() {
	s.mu.Lock()
	pending := s.requests.all()
	paths := make([]string, 0, len(s.paths))
	for path := range s.paths {
		paths = append(paths, path)
	}
	gencbSet, bevcbSet := s.gencbSet, s.bevFn != nil || s.tlsContext != nil
	s.gencbSet = false
	s.mu.Unlock()

	// The requests stay on C's connections, so each gets a reply, which
	// also frees one whose client has gone away.
	for _, r := range pending {
		r.callMu.Lock()
		if r.ptr != nil {
			if r.state == replyChunking {
				C.golibevent_http_send_reply_end(r.ptr)
			} else {
				C.golibevent_http_send_error(r.ptr, 503, nil)
			}
			r.state = replyDone
			r.finish(ErrClosed)
		}
		r.callMu.Unlock()
	}

	for _, path := range paths {
		cpath := C.CString(path)
		C.evhttp_del_cb(s.ptr, cpath)
		C.free(unsafe.Pointer(cpath))
	}
	if gencbSet {
		C.golibevent_http_clear_gencb(s.ptr)
	}
	if bevcbSet {
		C.golibevent_http_set_bevcb(s.ptr, nil)
		s.dropTLSContext()
	}

	// The virtual hosts were created by Go. evhttp_free of a direct one
	// also frees the virtual hosts nested in it.
	all := s.descendants()
	s.mu.Lock()
	direct := make([]*HTTPServer, 0, len(s.vhosts))
	for v := range s.vhosts {
		direct = append(direct, v)
	}
	s.vhosts = make(map[*HTTPServer]string)
	s.mu.Unlock()
	for _, v := range all {
		v.life.close()
		v.mu.Lock()
		v.freed = true
		v.mu.Unlock()
	}
	for _, v := range direct {
		C.evhttp_remove_virtual_host(s.ptr, v.ptr)
		C.evhttp_free(v.ptr)
	}
	for _, v := range all {
		v.releaseKeys()
	}
	s.releaseKeys()
}

// C returns the request's struct evhttp_request *, or nil once the Go side
// has let go of it after the reply. C code may read the request through
// it, but must not reply to it or free it: the reply goes through the
// HTTPRequest.
func (r *HTTPRequest) C() unsafe.Pointer {
	if r == nil {
		return nil
	}
	r.callMu.Lock()
	defer r.callMu.Unlock()
	return unsafe.Pointer(r.ptr)
}

// WrapHTTPRequest returns an HTTPRequest for an evhttp_request that a server's C
// handler received and hands to Go, on the base that b wraps. Go code can
// then read the request and reply once with the HTTPRequest's methods, now or
// later from any goroutine. C code must neither reply to it nor free it
// afterwards. Wrap a request once, because two wrappers would both reply.
//
// The HTTPRequest is not tracked by any HTTPServer, so closing b leaves it to C
// code, and its methods fail with ErrClosed. C code must not free the
// evhttp before the reply, because that frees the request.
// [HTTPRequest.OnComplete] fails, because the completion callback belongs to C
// code.
func WrapHTTPRequest(ptr unsafe.Pointer, b *Base) (*HTTPRequest, error) {
	const op = "WrapHTTPRequest"
	if ptr == nil {
		return nil, invalidError(op, "nil evhttp_request pointer")
	}
	if b == nil {
		return nil, invalidError(op, "nil Base")
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()
	req := (*C.struct_evhttp_request)(ptr)
	if C.golibevent_http_request_is_incoming(req) == 0 {
		return nil, invalidError(op, "the evhttp_request is a client's request, not one a server received")
	}
	// A request whose client has gone away has no connection left, and
	// then its base cannot be checked.
	if base := C.golibevent_http_request_base(req); base != nil && base != b.ptr {
		return nil, invalidError(op, "the evhttp_request belongs to another event_base")
	}
	r := newRequest(req, b, nil)
	r.noCompleteHook = true
	return r, nil
}
