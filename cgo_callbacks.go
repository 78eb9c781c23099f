//go:build cgo

package libevent

// The preamble only declares: a file with //export may not define C
// functions, so the shims live in cgo_callbacks.c.

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	pointer "github.com/mattn/go-pointer"
)

// registry maps the keys that C code holds to the Go objects they stand for.
// Keys come from go-pointer: each is a distinct malloc'd byte, so it is a
// valid C pointer that never points into Go memory. A key is released only
// when libevent can no longer call back with it, because a released key's
// address can be handed out again by malloc.
//
// go-pointer's own map is the only per-key state: a server holds a key for
// each connection, and a second map of its own would cost each one about
// 50 bytes of heap more.
type registry struct {
	mu sync.Mutex
	// kinds counts the live keys by the type of the object they stand
	// for, for leak reports.
	kinds map[string]int
	// count is the number of live keys, for lock-free reads.
	count atomic.Int64
}

// handles is the package's only registry.
var handles = registry{kinds: make(map[string]int)}

// register stores v and returns its key. Leak reports name v's type.
func (r *registry) register(v any) unsafe.Pointer {
	key := pointer.Save(v)
	kind := reflect.TypeOf(v).String()
	r.mu.Lock()
	r.kinds[kind]++
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
	defer r.mu.Unlock()
	v := pointer.Restore(key)
	if v == nil {
		return
	}
	pointer.Unref(key)
	kind := reflect.TypeOf(v).String()
	if r.kinds[kind]--; r.kinds[kind] == 0 {
		delete(r.kinds, kind)
	}
	r.count.Add(-1)
}

// owners returns the kinds of the live keys, sorted, one entry per key.
func (r *registry) owners() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for kind, n := range r.kinds {
		for i := 0; i < n; i++ {
			out = append(out, kind)
		}
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

// A callback can run from a loop (Dispatch, Loop or Run) or synchronously
// inside another package call, such as an evbuffer callback that Buffer.Add
// triggers. C code calls back on the goroutine that made the cgo call, so the
// Go frames below a trampoline show which: the first package frame below
// runtime.cgocall is one of loopFunctions for a loop callback, and the method
// that made the C call otherwise. A loop callback's panic goes to its base,
// which re-raises it from the loop's caller. A synchronous callback's panic is kept
// for its goroutine, and the package call re-raises it when it leaves.

// syncPanics holds the panics of synchronous callbacks until their package
// call re-raises them.
var syncPanics struct {
	// pending counts the entries of byGoroutine, so that the common case
	// costs one atomic load.
	pending     atomic.Int32
	mu          sync.Mutex
	byGoroutine map[uint64]*callbackPanic
}

// packagePrefix is the prefix of this package's function names in stack
// frames, such as "github.com/golibevent/libevent.".
var packagePrefix = func() string {
	name := runtime.FuncForPC(reflect.ValueOf(NewBase).Pointer()).Name()
	return strings.TrimSuffix(name, "NewBase")
}()

// loopFunctions are the functions that call event_base_loop.
var loopFunctions = []string{packagePrefix + "(*Base).loop", packagePrefix + "(*Base).iterate"}

// calledFromPackageCall reports whether the running callback was called
// synchronously from a package call rather than from a loop.
func calledFromPackageCall() bool {
	pcs := make([]uintptr, 128)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	belowCgocall := false
	for {
		f, more := frames.Next()
		switch {
		case !belowCgocall:
			belowCgocall = f.Function == "runtime.cgocall"
		case strings.HasPrefix(f.Function, packagePrefix) &&
			!strings.HasPrefix(f.Function, packagePrefix+"_C"):
			// cgo wraps a call that returns errno in a closure, such as
			// (*Base).loop.func1.
			for _, loop := range loopFunctions {
				if f.Function == loop || strings.HasPrefix(f.Function, loop+".") {
					return false
				}
			}
			return true
		}
		if !more {
			return false
		}
	}
}

// goroutineID returns the calling goroutine's id, parsed from the first line
// of its stack trace ("goroutine 7 [running]:"). It is slow, and only the
// panic path uses it.
func goroutineID() uint64 {
	var buf [64]byte
	line := buf[:runtime.Stack(buf[:], false)]
	line = bytes.TrimPrefix(line, []byte("goroutine "))
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		line = line[:i]
	}
	id, _ := strconv.ParseUint(string(line), 10, 64)
	return id
}

// keepSyncPanic stores r, the panic of a synchronous callback, for the
// calling goroutine. Only the first panic during one package call is kept.
func keepSyncPanic(r any) {
	id := goroutineID()
	syncPanics.mu.Lock()
	defer syncPanics.mu.Unlock()
	if syncPanics.byGoroutine == nil {
		syncPanics.byGoroutine = make(map[uint64]*callbackPanic)
	}
	if _, ok := syncPanics.byGoroutine[id]; ok {
		return
	}
	syncPanics.byGoroutine[id] = &callbackPanic{value: r}
	syncPanics.pending.Add(1)
}

// rethrowSyncPanic panics with the value that a synchronous callback of the
// calling goroutine recovered, if any. Every package call that can run
// callbacks synchronously calls it after its C call; the objects' leave
// methods do.
func rethrowSyncPanic() {
	if syncPanics.pending.Load() == 0 {
		return
	}
	id := goroutineID()
	syncPanics.mu.Lock()
	p := syncPanics.byGoroutine[id]
	if p != nil {
		delete(syncPanics.byGoroutine, id)
		syncPanics.pending.Add(-1)
	}
	syncPanics.mu.Unlock()
	if p != nil {
		panic(p.value)
	}
}

// handleCallbackPanic routes r, recovered by a trampoline, to the package
// call that ran the callback synchronously, or else to base, whose loop ran
// it. base may be nil for an object without a base; its callbacks only run
// synchronously.
func handleCallbackPanic(r any, base *Base) {
	if calledFromPackageCall() || base == nil {
		keepSyncPanic(r)
		return
	}
	base.notePanic(r)
}

// recoverCallbackFor is deferred by trampolines of objects without an Event
// of their own. base is the base whose loop runs the object's callbacks when
// they are not synchronous, or nil.
func recoverCallbackFor(base *Base) {
	if r := recover(); r != nil {
		handleCallbackPanic(r, base)
	}
}

//export goEventCallback
func goEventCallback(fd C.evutil_socket_t, what C.short, key unsafe.Pointer) {
	e, _ := handles.lookup(key).(*Event)
	if e == nil || e.life.isClosed() {
		noteDropped("event", int(fd))
		return
	}
	defer e.base.recoverCallback()
	if e.sig != nil {
		e.runSignalCallback(EventFlags(what))
		return
	}
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

// ---- HTTP client ----

//export goHTTPRequestDone
func goHTTPRequestDone(req *C.struct_evhttp_request, key unsafe.Pointer) {
	call, _ := handles.lookup(key).(*HTTPCall)
	if call == nil {
		noteDropped("http request", -1)
		return
	}
	defer recoverCallbackFor(call.conn.base)
	call.done(req)
}

//export goHTTPRequestChunk
func goHTTPRequestChunk(req *C.struct_evhttp_request, key unsafe.Pointer) {
	call, _ := handles.lookup(key).(*HTTPCall)
	if call == nil {
		noteDropped("http chunk", -1)
		return
	}
	defer recoverCallbackFor(call.conn.base)
	call.chunk(req)
}

//export goHTTPRequestError
func goHTTPRequestError(reason C.int, errnum C.int, key unsafe.Pointer) {
	call, _ := handles.lookup(key).(*HTTPCall)
	if call == nil {
		noteDropped("http error", -1)
		return
	}
	call.failed(HTTPRequestError(reason), syscall.Errno(errnum))
}

//export goHTTPConnectionClose
func goHTTPConnectionClose(key unsafe.Pointer) {
	c, _ := handles.lookup(key).(*HTTPConnection)
	if c == nil || c.life.isClosed() {
		noteDropped("http connection", -1)
		return
	}
	defer recoverCallbackFor(c.base)
	c.runCloseCallback()
}
