package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"
)

// SetWriteThrough turns write-through on or off for a socket BufferEvent.
// It is off by default, as in libevent.
//
// A socket bufferevent writes only from the loop: data added to its
// output adds the write event, and the loop writes once the socket is
// writable and removes the event when the output is empty. With
// write-through on, [BufferEvent.Write], [BufferEvent.WriteString],
// [BufferEvent.WriteBuffer] and [BufferEvent.MoveInputTo] into this
// bufferevent write to the socket at once, within the call, as net.Conn's
// Write does, whenever writing is enabled, the output is empty and the
// write event is not pending. That saves a pass of the loop and, on the
// epoll backend without the changelist, two epoll_ctl calls. Each such
// call is then one system call, so code that writes many small pieces in a
// row should collect them in a Buffer and write that.
//
// libevent adds the write event during a connect, and also when writing
// is enabled or a rate limit is set, even on an empty output. Writes then
// go through the loop until its next pass. Only what the socket
// does not take goes to the output, and from there the usual way: from the
// loop, with the write timeout, and after data that was already waiting.
// The write at once obeys the maximum single write
// ([BufferEvent.SetMaxSingleWrite]) and the rate limits, and counts
// against them. A failed write leaves the data in the output, and the
// loop's next write reports the error to the event callback. Data added in
// other ways, through [BufferEvent.Output] or by C code, goes through the
// loop as without write-through.
//
// When the socket took everything, the write callback runs from the loop
// if the output is then at or below the low write watermark, never within
// the call that wrote. Several writes taken whole before the loop runs
// give one call of the write callback, as one write by the loop would.
//
// Write-through needs a socket bufferevent: on a pair, a filter or an
// OpenSSL bufferevent, turning it on fails with EOPNOTSUPP. A bufferevent
// that becomes the underlying one of a filter or of an OpenSSL bufferevent
// has it turned off. It can be turned on again, but the filter writes to
// the underlying bufferevent's output through libevent, so only the
// package's write calls on it would use it.
func (bev *BufferEvent) SetWriteThrough(on bool) error {
	const op = "bufferevent write-through"
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	r, errno := C.golibevent_bev_set_write_through(bev.st, C.int(boolInt(on)))
	if r != 0 {
		if errors.Is(errno, syscall.EOPNOTSUPP) {
			return &Error{Op: op, Err: fmt.Errorf("%w: write-through needs a socket bufferevent, not a pair, filter or OpenSSL one", syscall.EOPNOTSUPP)}
		}
		return opError(op, errno)
	}
	return nil
}

// WriteThrough reports whether write-through is on (see
// [BufferEvent.SetWriteThrough]). It returns false when the bufferevent
// cannot be used from the calling goroutine, as after Close.
func (bev *BufferEvent) WriteThrough() bool {
	if err := bev.enter("bufferevent write-through"); err != nil {
		return false
	}
	defer bev.leave()
	return C.golibevent_bev_write_through(bev.st) != 0
}
