//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"unsafe"
)

// Interop with C code that shares libevent objects with Go in one process.
// The pointers cross as unsafe.Pointer so that C code in other packages,
// whose cgo types differ from this package's, can pass them in and out.

// C returns the base's struct event_base *, for C code that registers its
// own events on it, or nil after Close. The pointer stays valid until Close;
// C code must not free it unless the Base came from [WrapBase].
func (b *Base) C() unsafe.Pointer {
	if b == nil || b.ptr == nil || b.life.isClosed() {
		return nil
	}
	return unsafe.Pointer(b.ptr)
}

// WrapBase returns a Base for an event_base that C code created and owns.
// Go code can then create events, timers, signal events, bufferevents and
// listeners on it. Close frees what Go created on the base but not the base
// itself, and leaves a loop that C code runs alone.
//
// The loop may be run by C code, on a thread that C created, with
// event_base_dispatch or event_base_loop: Go callbacks then run on that
// thread, and the methods that may be called from any goroutine (see the
// package documentation) work from Go code meanwhile. Calls that the package
// otherwise makes on the loop's goroutine, such as closing a bufferevent
// while its callback runs, cannot wait for a loop that C runs, so make them
// from a callback. A panic in a Go callback that a C loop runs is logged at
// error level with its stack and dropped, because no Go call is there to
// re-raise it; the C loop keeps running.
//
// The base must have been created after this package was initialized,
// which turns on libevent's pthread locking; a base created earlier has no
// lock, and calls from other threads would race with its loop. A C thread
// that runs the loop must block or ignore SIGPIPE: see the package
// documentation.
func WrapBase(ptr unsafe.Pointer) (*Base, error) {
	const op = "WrapBase"
	if ptr == nil {
		return nil, invalidError(op, "nil event_base pointer")
	}
	cbase := (*C.struct_event_base)(ptr)
	b := &Base{
		ptr:      cbase,
		borrowed: true,
		freed:    make(chan struct{}),
		method:   C.GoString(C.event_base_get_method(cbase)),
		features: Features(C.event_base_get_features(cbase)),
		children: make(map[child]struct{}),
		onces:    make(map[unsafe.Pointer]struct{}),
	}
	b.npriorities.Store(int32(C.event_base_get_npriorities(cbase)))
	b.key = handles.register(b)
	var errno error
	b.postEvent, errno = C.golibevent_post_event_new(cbase, b.key)
	if b.postEvent == nil {
		handles.release(b.key)
		return nil, opError("event_new", errno)
	}
	return b, nil
}

// C returns the buffer's struct evbuffer *, or nil after Close. The pointer
// stays valid until Close, or for a buffer of a bufferevent until the
// bufferevent is closed. C code must not free it.
func (b *Buffer) C() unsafe.Pointer {
	if b == nil || b.ptr == nil || b.life.isClosed() {
		return nil
	}
	return unsafe.Pointer(b.ptr)
}

// foreignOwner is the owner of an evbuffer that C code owns. C code keeps
// the evbuffer alive for as long as the wrapper is used, so there is nothing
// to hold.
type foreignOwner struct{}

func (foreignOwner) enter(string) error { return nil }
func (foreignOwner) leave()             {}

// WrapBuffer returns a Buffer for an evbuffer that C code created and owns.
// Close removes the callbacks added through the wrapper but does not free
// the evbuffer; C code must not free it before the wrapper is closed. The
// wrapper assumes that the evbuffer has no flags and no lock, so call
// [Buffer.EnableLocking] through the wrapper rather than from C if the
// buffer is shared between threads. The callbacks added through the
// wrapper run inside the call that changed the buffer, which may be C code
// on a C thread.
//
// NOTE: positions and reservations taken through the wrapper only see the
// changes made through this package; a change that C code makes meanwhile
// is not detected and leaves them pointing at moved data.
func WrapBuffer(ptr unsafe.Pointer) (*Buffer, error) {
	if ptr == nil {
		return nil, invalidError("WrapBuffer", "nil evbuffer pointer")
	}
	return borrowBuffer((*C.struct_evbuffer)(ptr), foreignOwner{}, nil, 0, false, nil), nil
}

// C returns the bufferevent's struct bufferevent *, or nil after Close, for
// C code that calls libevent's bufferevent functions on it. The package
// installs its own read, write and event callbacks and evbuffer callbacks
// on the buffers, so C code must not replace them, and must not free a
// bufferevent that the package created. A bufferevent from
// [WrapBufferEvent] stays C's to free after the wrapper's Close.
func (bev *BufferEvent) C() unsafe.Pointer {
	if bev == nil || bev.st == nil || bev.life.isClosed() {
		return nil
	}
	return unsafe.Pointer(bev.ptr)
}
