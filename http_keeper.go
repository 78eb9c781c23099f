//go:build cgo

package libevent

// #include "http_cgo.h"
import "C"

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
