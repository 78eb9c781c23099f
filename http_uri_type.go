//go:build cgo

package libevent

/*
#include "http_cgo.h"
*/
import "C"

// URI is a parsed URI (struct evhttp_uri): scheme, userinfo, host, port,
// path, query and fragment. The parts are copied out of libevent when the
// URI is made, so a URI stays valid after the request it came from is gone.
type URI struct {
	scheme, userinfo, host string
	hasHost                bool
	port                   int
	path, query, fragment  string
}

// uriFromC copies the parts of p. When owned is true the caller hands p
// over and uriFromC frees it (evhttp_uri_free); otherwise p stays with its
// owner, such as a request.
func uriFromC(p *C.struct_evhttp_uri, owned bool) *URI {
	if p == nil {
		return nil
	}
	u := &URI{
		scheme:   goStringOrEmpty(C.evhttp_uri_get_scheme(p)),
		userinfo: goStringOrEmpty(C.evhttp_uri_get_userinfo(p)),
		port:     int(C.evhttp_uri_get_port(p)),
		path:     goStringOrEmpty(C.evhttp_uri_get_path(p)),
		query:    goStringOrEmpty(C.evhttp_uri_get_query(p)),
		fragment: goStringOrEmpty(C.evhttp_uri_get_fragment(p)),
	}
	if host := C.evhttp_uri_get_host(p); host != nil {
		u.host, u.hasHost = C.GoString(host), true
	}
	if owned {
		C.evhttp_uri_free(p)
	}
	return u
}

func goStringOrEmpty(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// Scheme returns the scheme, such as "http", or "" when there is none.
func (u *URI) Scheme() string { return u.scheme }

// Userinfo returns the user information before the host, or "".
func (u *URI) Userinfo() string { return u.userinfo }

// Host returns the host, or "" when there is none; HasHost tells an empty
// host ("file:///x") from a missing one.
func (u *URI) Host() string { return u.host }

// HasHost reports whether the URI has an authority part with a host.
func (u *URI) HasHost() bool { return u.hasHost }

// Port returns the port, or -1 when the URI has none.
func (u *URI) Port() int { return u.port }

// Path returns the path as it appeared, still percent-encoded.
func (u *URI) Path() string { return u.path }

// Query returns the query without the '?', still percent-encoded, or "".
func (u *URI) Query() string { return u.query }

// Fragment returns the fragment without the '#', or "".
func (u *URI) Fragment() string { return u.fragment }
