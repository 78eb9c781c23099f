//go:build cgo

package libevent

/*
#include "http_cgo.h"
*/
import "C"

import (
	"iter"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"unsafe"
)

// Headers is an evkeyvalq: an ordered list of HTTP header fields in which a
// name may occur several times. Names compare case-insensitively, as in
// libevent; values are kept as given.
//
// The headers of a [HTTPRequest] belong to it: they become unusable, and their
// methods return errors matching ErrClosed or report nothing, once the
// request has been answered or freed. Headers made with [NewHeaders] belong
// to the caller, who closes them. Methods may be called from any goroutine;
// a request's headers are read and changed on its base's loop goroutine.
type Headers struct {
	// req is the request that owns the list, or nil for NewHeaders.
	req    *HTTPRequest
	output bool // req's output headers rather than its input headers

	// mu serializes the calls on a list that the caller owns; ptr is nil
	// once it is closed.
	mu  sync.Mutex
	ptr *C.struct_evkeyvalq
}

// NewHeaders creates an empty header list that the caller owns and frees
// with Close.
func NewHeaders() (*Headers, error) {
	ptr, errno := C.golibevent_headers_new()
	if ptr == nil {
		return nil, opError("evkeyvalq", errno)
	}
	return &Headers{ptr: ptr}, nil
}

// Close frees a header list made by NewHeaders (evhttp_clear_headers). It
// does nothing to a request's headers, which the request frees. Closing
// twice is harmless.
func (h *Headers) Close() error {
	if h == nil || h.req != nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr != nil {
		C.golibevent_headers_free(h.ptr)
		h.ptr = nil
	}
	return nil
}

// do runs fn with the C list: under mu for a list the caller owns, and on
// the request's loop goroutine, while the request is still usable, for a
// request's list.
func (h *Headers) do(op string, fn func(q *C.struct_evkeyvalq) error) error {
	if h == nil {
		return invalidError(op, "nil Headers")
	}
	if h.req == nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.ptr == nil {
			return wrapError(op, ErrClosed)
		}
		return fn(h.ptr)
	}
	return h.req.call(op, func(req *C.struct_evhttp_request) error {
		var q *C.struct_evkeyvalq
		if h.output {
			q = C.evhttp_request_get_output_headers(req)
		} else {
			q = C.evhttp_request_get_input_headers(req)
		}
		return fn(q)
	})
}

// checkHeaderField rejects names and values that would corrupt the header
// block when libevent writes them out: a name must be a non-empty token
// (RFC 9110), and a value must not contain CR, LF or NUL, which would end
// the line or the C string early.
func checkHeaderField(op, name, value string) error {
	if name == "" {
		return invalidError(op, "empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return invalidError(op, "header name %q contains %q, which is not allowed in a token", name, name[i])
		}
	}
	if i := strings.IndexAny(value, "\r\n\x00"); i >= 0 {
		return invalidError(op, "value of header %q contains %q", name, value[i])
	}
	return nil
}

// isTokenByte reports whether c may appear in an HTTP token (RFC 9110,
// section 5.6.2).
func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// Get returns the first value of the header name, or "" when it is absent
// (evhttp_find_header).
func (h *Headers) Get(name string) string {
	v, _ := h.Lookup(name)
	return v
}

// Lookup returns the first value of the header name and whether it is
// present.
func (h *Headers) Lookup(name string) (string, bool) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", false
	}
	var value string
	var found bool
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	_ = h.do("evhttp_find_header", func(q *C.struct_evkeyvalq) error {
		if v := C.evhttp_find_header(q, cname); v != nil {
			value, found = C.GoString(v), true
		}
		return nil
	})
	return value, found
}

// Values returns every value of the header name, in order.
func (h *Headers) Values(name string) []string {
	var out []string
	for k, v := range h.All() {
		if strings.EqualFold(k, name) {
			out = append(out, v)
		}
	}
	return out
}

// Add appends the header name with value (evhttp_add_header). It returns an
// error for an invalid name or a value with CR, LF or NUL.
func (h *Headers) Add(name, value string) error {
	const op = "evhttp_add_header"
	if err := checkHeaderField(op, name, value); err != nil {
		return err
	}
	cname, cvalue := C.CString(name), C.CString(value)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(cvalue))
	return h.do(op, func(q *C.struct_evkeyvalq) error {
		if C.evhttp_add_header(q, cname, cvalue) != 0 {
			return invalidError(op, "libevent rejected header %q", name)
		}
		return nil
	})
}

// Set replaces every value of the header name with value.
func (h *Headers) Set(name, value string) error {
	const op = "evhttp_add_header"
	if err := checkHeaderField(op, name, value); err != nil {
		return err
	}
	cname, cvalue := C.CString(name), C.CString(value)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(cvalue))
	return h.do(op, func(q *C.struct_evkeyvalq) error {
		C.golibevent_headers_remove_all(q, cname)
		if C.evhttp_add_header(q, cname, cvalue) != 0 {
			return invalidError(op, "libevent rejected header %q", name)
		}
		return nil
	})
}

// Del removes every value of the header name (evhttp_remove_header).
func (h *Headers) Del(name string) error {
	const op = "evhttp_remove_header"
	if strings.IndexByte(name, 0) >= 0 {
		return invalidError(op, "header name %q contains NUL", name)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return h.do(op, func(q *C.struct_evkeyvalq) error {
		C.golibevent_headers_remove_all(q, cname)
		return nil
	})
}

// Clear removes every header (evhttp_clear_headers).
func (h *Headers) Clear() error {
	return h.do("evhttp_clear_headers", func(q *C.struct_evkeyvalq) error {
		C.evhttp_clear_headers(q)
		return nil
	})
}

// headerField is one name and value of a snapshot.
type headerField struct{ name, value string }

// snapshot copies the list in order; it is empty when the list is unusable.
func (h *Headers) snapshot() []headerField {
	var out []headerField
	_ = h.do("evkeyvalq", func(q *C.struct_evkeyvalq) error {
		var block *C.char
		var size C.size_t
		var count C.int
		if C.golibevent_headers_snapshot(q, &block, &size, &count) != 0 {
			return opError("evkeyvalq", nil)
		}
		if block == nil {
			return nil
		}
		defer C.free(unsafe.Pointer(block))
		raw := C.GoStringN(block, C.int(size))
		out = make([]headerField, 0, int(count))
		for len(raw) > 0 {
			name, rest, _ := strings.Cut(raw, "\x00")
			value, rest2, _ := strings.Cut(rest, "\x00")
			out = append(out, headerField{name, value})
			raw = rest2
		}
		return nil
	})
	return out
}

// All returns the headers in order as name, value pairs. It iterates over a
// copy taken when the iteration starts, so the loop body may change h.
func (h *Headers) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, f := range h.snapshot() {
			if !yield(f.name, f.value) {
				return
			}
		}
	}
}

// Len returns the number of header fields, counting each value of a
// repeated name.
func (h *Headers) Len() int {
	n := 0
	_ = h.do("evkeyvalq", func(q *C.struct_evkeyvalq) error {
		for kv := q.tqh_first; kv != nil; kv = kv.next.tqe_next {
			n++
		}
		return nil
	})
	return n
}

// Header returns a copy of the headers as a net/http Header, with names in
// canonical form (textproto.CanonicalMIMEHeaderKey) and values in order.
func (h *Headers) Header() http.Header {
	out := make(http.Header)
	for k, v := range h.All() {
		key := textproto.CanonicalMIMEHeaderKey(k)
		out[key] = append(out[key], v)
	}
	return out
}

// AddHeader appends every value of hdr, checking each as Add does. It stops
// at the first invalid field.
func (h *Headers) AddHeader(hdr http.Header) error {
	for name, values := range hdr {
		for _, v := range values {
			if err := h.Add(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}
