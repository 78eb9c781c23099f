//go:build cgo

package libevent

// The preamble only declares: a file with //export may not define C
// functions, so the shims live in cgo_callbacks.c.

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	pointer "github.com/mattn/go-pointer"
)

// registry maps the keys that C code holds to the Go objects they stand for.
// Keys come from go-pointer: each is a distinct malloc'd byte, so it is a
// valid C pointer that never points into Go memory. A key is released only
// when libevent can no longer call back with it, because a released key's
// address can be handed out again by malloc.
type registry struct {
	mu sync.Mutex
	// live maps each key to a description of its owner, for leak reports.
	live map[unsafe.Pointer]string
	// count mirrors len(live) for lock-free reads.
	count atomic.Int64
}

// handles is the package's only registry.
var handles = registry{live: make(map[unsafe.Pointer]string)}

// register stores v and returns its key. owner names the kind of object in
// leak reports.
func (r *registry) register(v any, owner string) unsafe.Pointer {
	key := pointer.Save(v)
	r.mu.Lock()
	r.live[key] = owner
	r.mu.Unlock()
	r.count.Add(1)
	return key
}

// lookup returns the object for key, or nil if the key was released.
func (r *registry) lookup(key unsafe.Pointer) any {
	return pointer.Restore(key)
}

// release removes key. Releasing a key twice is harmless: go-pointer frees
// the key's memory, so the second release must not reach it.
func (r *registry) release(key unsafe.Pointer) {
	r.mu.Lock()
	_, ok := r.live[key]
	delete(r.live, key)
	r.mu.Unlock()
	if !ok {
		return
	}
	r.count.Add(-1)
	pointer.Unref(key)
}

// owners returns the sorted owner descriptions of the live keys.
func (r *registry) owners() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.live))
	for _, owner := range r.live {
		out = append(out, owner)
	}
	sort.Strings(out)
	return out
}

// droppedCallbacks counts callbacks that arrived for closed objects.
var droppedCallbacks atomic.Uint64

func noteDropped(kind string, fd int) {
	droppedCallbacks.Add(1)
	l := currentLogger()
	if l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("libevent: dropped a callback for a closed object",
			slog.String("kind", kind), slog.Int("fd", fd))
	}
}

// syncCallbacks routes panics from callbacks that libevent may run inside a
// package call instead of from the loop, such as an evbuffer callback that a
// Buffer.Add triggers. A method that makes such a C call brackets it with
// begin and end; end panics again with a value that a callback recovered in
// between. A callback that runs while no such call is in progress came from
// the loop, and its panic goes to the base.
type syncCallbacks struct {
	active   atomic.Int32
	panicked atomic.Pointer[callbackPanic]
}

func (s *syncCallbacks) begin() {
	s.active.Add(1)
}

func (s *syncCallbacks) end() {
	s.active.Add(-1)
	if p := s.panicked.Swap(nil); p != nil {
		panic(p.value)
	}
}

// recoverSync is deferred by the trampolines of objects with synchronous
// callbacks. base is the base whose loop runs the object's callbacks
// otherwise, or nil.
//
// NOTE: the in-progress count is per object, not per goroutine. If one
// goroutine is inside a call on the object while the loop runs a callback of
// the same object on another thread, a panic of that callback reaches the
// first goroutine's call.
func recoverSync(s *syncCallbacks, base *Base) {
	r := recover()
	if r == nil {
		return
	}
	if s.active.Load() > 0 || base == nil {
		s.panicked.CompareAndSwap(nil, &callbackPanic{value: r})
		return
	}
	base.notePanic(r)
}

//export goEventCallback
func goEventCallback(fd C.evutil_socket_t, what C.short, key unsafe.Pointer) {
	e, _ := handles.lookup(key).(*Event)
	if e == nil || e.life.isClosed() {
		noteDropped("event", int(fd))
		return
	}
	defer e.base.recoverCallback()
	e.fn(e, EventFlags(what))
}

//export goOnceCallback
func goOnceCallback(fd C.evutil_socket_t, what C.short, key unsafe.Pointer) {
	o, _ := handles.lookup(key).(*onceCall)
	if o == nil {
		noteDropped("once", int(fd))
		return
	}
	// libevent frees a once-event after its callback, so the key is done.
	o.base.forgetOnce(key)
	if o.base.life.isClosed() {
		noteDropped("once", int(fd))
		return
	}
	defer o.base.recoverCallback()
	o.fn(int(fd), EventFlags(what))
}

//export goPostCallback
func goPostCallback(key unsafe.Pointer) {
	b, _ := handles.lookup(key).(*Base)
	if b == nil {
		noteDropped("post", -1)
		return
	}
	b.runPosted()
}

//export goLogCallback
func goLogCallback(severity C.int, msg *C.char) {
	// A panicking slog handler must not unwind through libevent, and a log
	// message has no loop to hand the panic to, so it is discarded.
	defer func() { _ = recover() }()
	currentLogger().Log(context.Background(), logLevel(severity), C.GoString(msg),
		slog.String("logger", "libevent"))
}

//export goFatalCallback
func goFatalCallback(code C.int) {
	defer func() { _ = recover() }()
	logFatal(int(code))
}

// endPair ends a call that made one C call on two buffers, whose callbacks
// may both have panicked. It panics again with the first buffer's value, or
// else the second's, and drops the other, so that no stored value surfaces
// later from an unrelated call.
func endPair(first, second *syncCallbacks) {
	first.active.Add(-1)
	second.active.Add(-1)
	p := first.panicked.Swap(nil)
	if q := second.panicked.Swap(nil); p == nil {
		p = q
	}
	if p != nil {
		panic(p.value)
	}
}

//export goBufferCallback
func goBufferCallback(key unsafe.Pointer, origSize, added, deleted C.size_t) {
	cb, _ := handles.lookup(key).(*BufferCallback)
	if cb == nil {
		noteDropped("buffer", -1)
		return
	}
	cb.buf.runCallback(cb, BufferCallbackInfo{
		OrigSize: int(origSize),
		Added:    int(added),
		Deleted:  int(deleted),
	})
}

//export goBufferReferenceCleanup
func goBufferReferenceCleanup(key unsafe.Pointer) {
	ref, _ := handles.lookup(key).(*bufferReference)
	if ref == nil {
		noteDropped("buffer reference", -1)
		return
	}
	ref.release(key)
}

//export goFileSegmentCleanup
func goFileSegmentCleanup(key unsafe.Pointer) {
	seg, _ := handles.lookup(key).(*FileSegment)
	if seg == nil {
		noteDropped("file segment", -1)
		return
	}
	seg.freed(key)
}
