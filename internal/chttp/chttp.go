//go:build cgo

// Package chttp is a test helper of package libevent: an HTTP server
// (evhttp) that C code creates and owns, with handlers written in C, as a C
// program that hosts Go code has. The package's tests wrap such a server
// with libevent.WrapHTTPServer and its requests with libevent.WrapHTTPRequest.
package chttp

/*
#include <stdlib.h>
#include "chttp.h"
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// Server is an evhttp that C code created, bound to 127.0.0.1.
type Server struct {
	ptr  *C.struct_evhttp
	Port int
}

// NewServer creates the C server on base, a struct event_base *. Its C
// handlers reply "from C" to "/c" and "C default" to every other path,
// and pass requests for "/handover" to the function set with
// SetHandOver.
func NewServer(base unsafe.Pointer) (*Server, error) {
	var port C.int
	ptr := C.chttp_server_new((*C.struct_event_base)(base), &port)
	if ptr == nil {
		return nil, errors.New("chttp: evhttp_new or its bind to 127.0.0.1 failed")
	}
	return &Server{ptr: ptr, Port: int(port)}, nil
}

// C returns the struct evhttp *.
func (s *Server) C() unsafe.Pointer {
	return unsafe.Pointer(s.ptr)
}

// Free frees the server (evhttp_free). The base's loop must not be running
// on another thread.
func (s *Server) Free() {
	C.evhttp_free(s.ptr)
}

// RequestURI returns evhttp_request_get_uri of req, a struct
// evhttp_request *, as C code reads it.
func RequestURI(req unsafe.Pointer) string {
	return C.GoString(C.chttp_request_uri((*C.struct_evhttp_request)(req)))
}

var (
	handOverMu sync.Mutex
	handOver   func(req unsafe.Pointer)
)

// SetHandOver sets fn to receive the requests for "/handover". With none
// set, those requests get 500 Internal Server Error.
func SetHandOver(fn func(req unsafe.Pointer)) {
	handOverMu.Lock()
	handOver = fn
	handOverMu.Unlock()
}

//export chttpHandOver
func chttpHandOver(req *C.struct_evhttp_request) {
	handOverMu.Lock()
	fn := handOver
	handOverMu.Unlock()
	if fn == nil {
		C.evhttp_send_error(req, 500, nil)
		return
	}
	fn(unsafe.Pointer(req))
}
