//go:build cgo

package bench

/*
#include <stdlib.h>
#include "cdispatch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	// The package links libevent into the test binary, and its init calls
	// evthread_use_pthreads, so the bases created below get locks unless
	// they are created with EVENT_BASE_FLAG_NOLOCK, like the package's.
	_ "github.com/golibevent/libevent"
)

// cDispatcher is an event_base that C code created, with persistent EV_READ
// events on one descriptor whose callback is a static C function. It is the
// pure-C reference for the package's dispatch benchmarks and does not use the
// package's internals.
type cDispatcher struct {
	ptr *C.struct_bench_dispatch
}

// newCDispatcher creates a base on the backend named method (with
// EVENT_BASE_FLAG_IGNORE_ENV, and EVENT_BASE_FLAG_NOLOCK if noLock is true)
// and adds count persistent EV_READ events on fd to it.
func newCDispatcher(method string, noLock bool, fd, count int) (*cDispatcher, error) {
	name := C.CString(method)
	defer C.free(unsafe.Pointer(name))
	lockFlag := C.int(0)
	if noLock {
		lockFlag = 1
	}

	var ptr *C.struct_bench_dispatch
	r, errno := C.bench_dispatch_open(name, lockFlag, C.evutil_socket_t(fd), C.int(count), &ptr)
	switch r {
	case 0:
		return &cDispatcher{ptr: ptr}, nil
	case C.BENCH_ERR_BASE:
		return nil, withCause(fmt.Sprintf("event_base_new_with_config for backend %q failed", method), errno)
	case C.BENCH_ERR_METHOD:
		return nil, fmt.Errorf("backend %q was requested but libevent chose another one", method)
	case C.BENCH_ERR_EVENT:
		return nil, withCause(fmt.Sprintf("event_new or event_add on descriptor %d failed", fd), errno)
	case C.BENCH_ERR_MEMORY:
		return nil, errors.New("bench_dispatch_open failed: out of memory")
	default:
		return nil, fmt.Errorf("bench_dispatch_open failed with unknown code %d", int(r))
	}
}

// withCause returns an error with message that wraps cause, the errno of a
// cgo call, when the call set one.
func withCause(message string, cause error) error {
	if cause == nil {
		return errors.New(message)
	}
	return fmt.Errorf("%s: %w", message, cause)
}

// run activates every event with event_base_active_by_fd and runs
// event_base_loop(EVLOOP_ONCE|EVLOOP_NONBLOCK), round after round, until the
// callbacks have run n times in total. The callback that reaches n breaks the
// loop, so exactly n callbacks run. run returns an error if the loop fails.
func (d *cDispatcher) run(n int) error {
	got := C.bench_dispatch_run(d.ptr, C.int64_t(n))
	if got < 0 {
		return errors.New("event_base_loop failed")
	}
	if int(got) != n {
		return fmt.Errorf("%d callbacks ran, expected %d", int(got), n)
	}
	return nil
}

// close frees the events and the base.
func (d *cDispatcher) close() {
	C.bench_dispatch_close(d.ptr)
	d.ptr = nil
}
