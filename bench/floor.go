//go:build cgo

// Package bench holds the benchmarks of github.com/golibevent/libevent. The
// non-test files are cgo helpers: Go test files cannot use cgo, so the C
// loops that the benchmarks time live here.
package bench

/*
#include <stdint.h>

void bench_call_slot(uintptr_t slot, int64_t n);
void bench_call_handle(uintptr_t handle, int64_t n);
void bench_call_key(void *key, int64_t n);
void bench_call_trampoline(void *key, int64_t n);
*/
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"unsafe"

	pointer "github.com/mattn/go-pointer"
)

// The cgo floor is the cheapest way for a C callback to reach a Go closure.
// C passes an integer, and the exported Go function uses it as an index into
// a slice that nothing writes while C runs, so the lookup takes no lock and
// no map access. Any binding pays at least this much per callback: one
// C-to-Go transition, one lookup of a closure and the closure's call. The
// other callbacks in this file replace the slice with the lookups that
// bindings use in practice, so each lookup's cost is its difference from the
// floor.

// slotFuncs is the floor's lookup table. callSlot sets it before C runs and
// nothing changes it while C calls back.
var slotFuncs []func()

//export benchSlotCallback
func benchSlotCallback(slot C.uintptr_t) {
	slotFuncs[slot]()
}

//export benchHandleCallback
func benchHandleCallback(handle C.uintptr_t) {
	cgo.Handle(handle).Value().(func())()
}

//export benchKeyCallback
func benchKeyCallback(key unsafe.Pointer) {
	pointer.Restore(key).(func())()
}

// trampolineTarget is the registry entry of benchTrampolineCallback: an
// object with a closed flag and a callback, like the package's Event.
type trampolineTarget struct {
	closed   atomic.Bool
	fn       func(target *trampolineTarget, what int16)
	panicked any
}

func (t *trampolineTarget) recoverPanic() {
	if r := recover(); r != nil {
		t.panicked = r
	}
}

// benchTrampolineCallback repeats the steps that the package's event
// trampoline takes for each callback (goEventCallback in cgo_callbacks.go of
// the root module): a go-pointer lookup, a type assertion, a check of an
// atomic closed flag, a deferred recover and the callback's call. It is code
// of this module, not the package's, so that the cost of those steps can be
// measured without libevent.
//
//export benchTrampolineCallback
func benchTrampolineCallback(key unsafe.Pointer) {
	t, _ := pointer.Restore(key).(*trampolineTarget)
	if t == nil || t.closed.Load() {
		return
	}
	defer t.recoverPanic()
	t.fn(t, 2)
}

// callSlot makes C call fn n times through the floor's slice index.
func callSlot(fn func(), n int) {
	slotFuncs = []func(){fn}
	C.bench_call_slot(0, C.int64_t(n))
	slotFuncs = nil
}

// callHandle makes C call fn n times through a runtime/cgo.Handle, whose
// Value method loads from a sync.Map.
func callHandle(fn func(), n int) {
	handle := cgo.NewHandle(fn)
	C.bench_call_handle(C.uintptr_t(handle), C.int64_t(n))
	handle.Delete()
}

// callKey makes C call fn n times through github.com/mattn/go-pointer, the
// registry that the package uses: a map lookup under a sync.RWMutex read
// lock.
func callKey(fn func(), n int) {
	key := pointer.Save(fn)
	C.bench_call_key(key, C.int64_t(n))
	pointer.Unref(key)
}

// callTrampoline makes C call fn n times through benchTrampolineCallback.
func callTrampoline(fn func(target *trampolineTarget, what int16), n int) {
	target := &trampolineTarget{fn: fn}
	key := pointer.Save(target)
	C.bench_call_trampoline(key, C.int64_t(n))
	pointer.Unref(key)
}
