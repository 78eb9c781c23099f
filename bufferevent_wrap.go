//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"sync"
	"syscall"
	"unsafe"
)

// foreignBufferEvent is what a BufferEvent from WrapBufferEvent keeps to hand
// the bufferevent back to C code.
type foreignBufferEvent struct {
	// saved are C's callbacks at the time of the wrap, which Close puts back
	// if Go code replaced them.
	saved C.struct_golibevent_bev_callbacks
}

// wrappedBufferEvents are the bufferevents that a wrapper from
// WrapBufferEvent has, across all Base values, because two Base values can
// wrap the same event_base.
var wrappedBufferEvents struct {
	sync.Mutex
	ptrs map[*C.struct_bufferevent]struct{}
}

// claimWrapped marks ptr as wrapped and reports whether it was free.
func claimWrapped(ptr *C.struct_bufferevent) bool {
	wrappedBufferEvents.Lock()
	defer wrappedBufferEvents.Unlock()
	if _, ok := wrappedBufferEvents.ptrs[ptr]; ok {
		return false
	}
	if wrappedBufferEvents.ptrs == nil {
		wrappedBufferEvents.ptrs = make(map[*C.struct_bufferevent]struct{})
	}
	wrappedBufferEvents.ptrs[ptr] = struct{}{}
	return true
}

func forgetWrapped(ptr *C.struct_bufferevent) {
	wrappedBufferEvents.Lock()
	delete(wrappedBufferEvents.ptrs, ptr)
	wrappedBufferEvents.Unlock()
}

// WrapBufferEvent returns a BufferEvent for a struct bufferevent * that C
// code created on the event_base of b, and owns. Wrapping changes nothing in
// C: C's read, write and event callbacks stay until Go code calls
// SetCallbacks. Go code can then use the BufferEvent's methods as on one
// that it created: Read, Write, Input, Output, Enable, Disable, watermarks,
// timeouts, priority, rate limits and so on.
//
// Close removes the Go callbacks and puts back the callbacks that C had at
// the time of the wrap, unless C code has set others since. It also removes
// the package's evbuffer callbacks and rate limits, but does not free the
// bufferevent or close its descriptor. Closing b closes the wrapper the same
// way. C code must close the wrapper before it frees the bufferevent, and
// must free the bufferevent before the event_base goes.
//
// libevent does not report a bufferevent's options, so the wrapper treats
// the bufferevent as created without BEV_OPT_THREADSAFE and Options returns
// 0: while b's loop runs on a goroutine, call the methods from its
// callbacks or with Post. If C code runs the loop on its own thread and Go
// code calls the methods from other threads, C must have created the
// bufferevent with BEV_OPT_THREADSAFE.
//
// WrapBufferEvent fails for a bufferevent of another event_base, one that
// this package created (use its BufferEvent), and one that another open
// wrapper has. A filter over the wrapper cannot take BEVOptCloseOnFree,
// because C code owns the bufferevent.
func WrapBufferEvent(ptr unsafe.Pointer, b *Base) (*BufferEvent, error) {
	const op = "WrapBufferEvent"
	if ptr == nil {
		return nil, invalidError(op, "nil bufferevent pointer")
	}
	if b == nil {
		return nil, invalidError(op, "nil Base")
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	cbev := (*C.struct_bufferevent)(ptr)
	if C.bufferevent_get_base(cbev) != b.ptr {
		return nil, invalidError(op, "the bufferevent belongs to another event_base")
	}
	foreign := new(foreignBufferEvent)
	if C.golibevent_bev_wrap_check(cbev, &foreign.saved) != 0 || b.hasBufferEvent(cbev) {
		return nil, invalidError(op, "the bufferevent was created by this package; use its BufferEvent")
	}
	if !claimWrapped(cbev) {
		return nil, invalidError(op, "the bufferevent is already wrapped; close the other wrapper first")
	}

	bev := &BufferEvent{base: b}
	bev.key = handles.register(bev)
	st := C.golibevent_bev_state_new(cbev, bev.key, nil)
	if st == nil {
		handles.release(bev.key)
		forgetWrapped(cbev)
		return nil, opError(op, syscall.ENOMEM)
	}
	bev.linksLocked().foreign = foreign
	bev.attach(st)
	return bev, nil
}

// hasBufferEvent reports whether an open BufferEvent of b has ptr. It finds
// a bufferevent that the package created even before its callbacks are set.
func (b *Base) hasBufferEvent(ptr *C.struct_bufferevent) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.children {
		if bev, ok := c.(*BufferEvent); ok && bev.ptr == ptr {
			return true
		}
	}
	return false
}

// releaseForeign hands a wrapped bufferevent back to C code, in place of
// freeing it, and releases the state and key once no callback can still be
// using them. It runs where release would free the bufferevent.
func (bev *BufferEvent) releaseForeign(foreign *foreignBufferEvent) {
	st, key, ptr := bev.st, bev.key, bev.ptr
	C.golibevent_bev_unwrap(st, &foreign.saved)
	forgetWrapped(ptr)
	bev.base.releaseAfterCallbacks(func() {
		C.golibevent_bev_state_free(st)
		handles.release(key)
	})
}

// isForeign reports whether the bufferevent came from WrapBufferEvent.
func (bev *BufferEvent) isForeign() bool {
	bev.mu.Lock()
	defer bev.mu.Unlock()
	return bev.linked().foreign != nil
}
