//go:build cgo

// Package cbev is a test helper of package libevent: it creates a socket
// bufferevent in C, with C callbacks that count their calls, as a C program
// that lends a bufferevent to Go code has. The package's tests wrap it with
// libevent.WrapBufferEvent.
package cbev

/*
#include <stdlib.h>
#include "cbev.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Bufferevent is a socket bufferevent that C code owns, over one end of a
// socket pair.
type Bufferevent struct {
	ptr *C.struct_cbev
}

// New creates the socket pair and the bufferevent on base, a struct
// event_base *, with libevent's bufferevent options in options
// (BEV_OPT_*; BEV_OPT_CLOSE_ON_FREE is always added). C's callbacks are set
// and reading and writing are enabled.
func New(base unsafe.Pointer, options int) (*Bufferevent, error) {
	ptr := C.cbev_new((*C.struct_event_base)(base), C.int(options))
	if ptr == nil {
		return nil, errors.New("cbev: creating the socket pair or the bufferevent failed")
	}
	return &Bufferevent{ptr: ptr}, nil
}

// Ptr returns the struct bufferevent *.
func (c *Bufferevent) Ptr() unsafe.Pointer {
	return unsafe.Pointer(c.ptr.bev)
}

// Peer returns the other end of the socket pair, a blocking descriptor that
// Free closes.
func (c *Bufferevent) Peer() int {
	return int(c.ptr.peer)
}

// Reads, Writes and Events return how often C's read, write and event
// callbacks have run.
func (c *Bufferevent) Reads() int  { return int(C.cbev_count(c.ptr, 0)) }
func (c *Bufferevent) Writes() int { return int(C.cbev_count(c.ptr, 1)) }
func (c *Bufferevent) Events() int { return int(C.cbev_count(c.ptr, 2)) }

// TakeReceived removes and returns what C's read callback has received.
func (c *Bufferevent) TakeReceived() string {
	buf := make([]byte, 4096)
	n := C.cbev_take_received(c.ptr, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return string(buf[:n])
}

// HasOwnCallbacks reports whether the bufferevent has C's callbacks and
// argument.
func (c *Bufferevent) HasOwnCallbacks() bool {
	return C.cbev_has_own_callbacks(c.ptr) != 0
}

// Free frees the bufferevent, which closes its end of the pair, and closes
// the peer.
func (c *Bufferevent) Free() {
	C.cbev_free(c.ptr)
}
