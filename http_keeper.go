//go:build cgo

package libevent

// #include "http_cgo.h"
import "C"

// connHandling returns what the request callbacks of s do to its
// connections (GOLIBEVENT_HTTP_CONN_* in http_cgo.h). On a server that the
// package created, or on a virtual host of one, the connections read
// without FIONREAD (bufferevent_fixedread.c), and on the epoll backend they
// also get keepers. A server from WrapHTTPServer keeps libevent's ways: its
// connections belong to C code, and a keeper needs the connection's close
// callback, which C code may use. The poll and select backends make no
// system call that a keeper would save.
func (s *HTTPServer) connHandling() C.int {
	switch {
	case s.root.borrowed:
		return C.GOLIBEVENT_HTTP_CONN_AS_IS
	case s.base.backend() != "epoll":
		return C.GOLIBEVENT_HTTP_CONN_FIXED_READS
	default:
		return C.GOLIBEVENT_HTTP_CONN_KEPT
	}
}

// httpKeepersLive returns how many connections of the package's servers
// have a keeper: the extra persistent read event of http_keeper.c that
// saves evhttp two epoll_ctl calls per request.
func httpKeepersLive() int64 {
	return int64(C.golibevent_http_keepers_live())
}

// httpKeeperPasses returns how many times a keeper's read callback has run
// in the process.
func httpKeeperPasses() int64 {
	return int64(C.golibevent_http_keeper_passes())
}
