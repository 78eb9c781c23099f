//go:build cgo

// Package cthread is a test helper of package libevent: it creates an
// event_base in C and runs its loop on a thread that C creates, with
// pthread_create, as a C program that hosts Go code does. The package's
// tests wrap such a base with libevent.WrapBase.
package cthread

/*
#cgo LDFLAGS: -lpthread
#include <stdlib.h>
#include "cthread.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// NewBase creates an event_base in C on the backend named method (such as
// "epoll"), with libevent's base flags in flags (EVENT_BASE_FLAG_*). C code
// owns it; FreeBase frees it.
func NewBase(method string, flags int) (unsafe.Pointer, error) {
	cmethod := C.CString(method)
	defer C.free(unsafe.Pointer(cmethod))
	base := C.cthread_base_new(cmethod, C.int(flags))
	if base == nil {
		return nil, errors.New("cthread: event_base_new_with_config failed for backend " + method)
	}
	return unsafe.Pointer(base), nil
}

// FreeBase frees a base from NewBase (event_base_free).
func FreeBase(base unsafe.Pointer) {
	C.event_base_free((*C.struct_event_base)(base))
}

// Loop is a C thread that runs a base's loop.
type Loop struct {
	ptr *C.struct_cthread_loop
}

// Start creates a C thread that runs base's loop until Stop. With
// blockSIGPIPE the thread blocks SIGPIPE before it starts the loop.
func Start(base unsafe.Pointer, blockSIGPIPE bool) (*Loop, error) {
	block := C.int(0)
	if blockSIGPIPE {
		block = 1
	}
	ptr := C.cthread_loop_start((*C.struct_event_base)(base), block)
	if ptr == nil {
		return nil, errors.New("cthread: pthread_create failed")
	}
	return &Loop{ptr: ptr}, nil
}

// Stop ends the loop with event_base_loopexit, waits for the thread to end
// and returns event_base_loop's result.
func (l *Loop) Stop() int {
	return int(C.cthread_loop_stop(l.ptr))
}

// OnLoopThread reports whether the caller runs on the loop's C thread.
func (l *Loop) OnLoopThread() bool {
	return C.cthread_on_loop_thread(l.ptr) != 0
}
