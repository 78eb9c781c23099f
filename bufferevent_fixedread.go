//go:build cgo

package libevent

// #include "cgo_callbacks.h"
// #include "http_cgo.h"
import "C"

// fixedReadCounts counts what the package's read callback of
// bufferevent_fixedread.c did in the process. It counts reads that took
// data, the ends of reading by the end of the stream, an error and a
// timeout, and the ends of the stream that waited for a reply to go out.
type fixedReadCounts struct {
	reads, eof, errors, timeouts int64
	// eofHeld counts ends of the stream that waited for a reply.
	eofHeld int64
}

func fixedReadsSoFar() fixedReadCounts {
	return fixedReadCounts{
		reads:    int64(C.golibevent_bev_fixed_read_count(C.GOLIBEVENT_FIXED_READ_DATA)),
		eof:      int64(C.golibevent_bev_fixed_read_count(C.GOLIBEVENT_FIXED_READ_EOF)),
		errors:   int64(C.golibevent_bev_fixed_read_count(C.GOLIBEVENT_FIXED_READ_ERROR)),
		timeouts: int64(C.golibevent_bev_fixed_read_count(C.GOLIBEVENT_FIXED_READ_TIMEOUT)),
		eofHeld:  int64(C.golibevent_bev_fixed_read_count(C.GOLIBEVENT_FIXED_READ_EOF_HELD)),
	}
}

// readsFixed reports whether the bufferevent of r's connection reads
// through the package's callback. It must run on the loop's goroutine, in
// r's handler.
func (r *HTTPRequest) readsFixed() bool {
	evcon := C.evhttp_request_get_connection(r.ptr)
	if evcon == nil {
		return false
	}
	return C.golibevent_bev_fixed_reads(C.evhttp_connection_get_bufferevent(evcon)) == 1
}
