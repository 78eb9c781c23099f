//go:build cgo

package libevent

// #include "http_cgo.h"
import "C"

// keepPolled returns 1 when the request callbacks of s add keepers to its
// connections: on a server that the package created on the epoll backend,
// or on a virtual host of one. A keeper needs the connection's close
// callback, which C code may use on a server from WrapHTTPServer. The poll
// and select backends make no system call that a keeper would save.
func (s *HTTPServer) keepPolled() C.int {
	if s.root.borrowed || s.base.backend() != "epoll" {
		return 0
	}
	return 1
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
