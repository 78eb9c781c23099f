//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/golibevent/libevent/internal/goroutine"
)

// maxPriorities is the number of priorities a base can have, exclusive
// (EVENT_MAX_PRIORITIES); event_base_priority_init accepts 1 to 255.
const maxPriorities = 256

// LoopFlags change how [Base.Loop] runs (EVLOOP_*).
type LoopFlags int

const (
	// LoopOnce waits for events to become active, runs their callbacks and
	// returns.
	LoopOnce LoopFlags = 0x01
	// LoopNonBlock runs the callbacks of events that are ready now and
	// returns without waiting.
	LoopNonBlock LoopFlags = 0x02
	// LoopNoExitOnEmpty keeps the loop running when no events are pending,
	// until LoopBreak, LoopExit or Close ends it.
	LoopNoExitOnEmpty LoopFlags = 0x04

	allLoopFlags = LoopOnce | LoopNonBlock | LoopNoExitOnEmpty
)

// Base is an event_base: the set of events and the loop that waits for them.
// Create one with [NewBase]; see the package documentation for which methods
// may be called from other goroutines.
type Base struct {
	ptr  *C.struct_event_base
	key  unsafe.Pointer // registry key of the Base, the argument of the Post event
	life lifetime
	// freed is closed after the C base has been freed.
	freed    chan struct{}
	method   string
	features Features
	noLock   bool
	// borrowed marks a base from WrapBase, which C code owns and may run.
	borrowed bool

	running atomic.Bool
	// directCalls counts the callOnLoop calls that run their function on
	// the caller's goroutine because the loop is not running. A loop that
	// starts meanwhile waits for them to end. directRun lets one of them
	// run at a time. directThread is the OS thread of the one that runs,
	// so that a nested callOnLoop runs directly too.
	directCalls  atomic.Int32
	directRun    sync.Mutex
	directThread atomic.Uintptr
	// breakRequested is set by LoopBreak, Close and the other breaks of a
	// running loop; stoppedByBreak records for GotBreak that a run ended on
	// it between two iterations. Only the loop's goroutine touches
	// stoppedByBreak while the loop runs.
	breakRequested atomic.Bool
	stoppedByBreak bool
	// loopThread identifies the OS thread that runs the loop while it is
	// inside libevent, 0 otherwise. Callbacks run on that thread, so a match
	// shows that a call comes from a callback of this base.
	loopThread atomic.Uintptr
	// loopGoroutine is goroutine.Current of the goroutine that runs the
	// loop, 0 when none does. Callbacks run on that goroutine, so with
	// loopThread set it shows a call from a callback without a cgo call.
	loopGoroutine atomic.Uintptr
	// panicked is the first panic recovered from a callback during the
	// current loop run. Only the loop's goroutine touches it.
	panicked *callbackPanic
	// activeRun identifies the Run call in progress, for its context watcher;
	// only the loop's goroutine touches it.
	activeRun uint64
	runCount  atomic.Uint64

	npriorities atomic.Int32

	// yieldRequested asks iterate to let other goroutines run after the
	// current loop pass, such as the handlers that the http.Handler
	// adapter started.
	yieldRequested atomic.Bool

	mu       sync.Mutex
	children map[child]struct{}
	// loopStopped is closed when the current or last loop run ends.
	loopStopped chan struct{}
	onces       map[unsafe.Pointer]struct{}

	postEvent *C.struct_event
	// postBatches counts the runs of the Post event's callback, each of
	// which runs every function queued at that moment.
	postBatches atomic.Uint64
	postMu      sync.Mutex
	postQueue   []func()
	// releases free what a callback may still be using; runPosted runs
	// them after the callbacks in flight, and free runs the rest.
	releases []func()
	// postSpare is an emptied queue kept for reuse, so that a steady
	// stream of posts does not allocate a new slice for each batch.
	postSpare     []func()
	postScheduled bool
}

// child is an object created on a Base, freed by Base.Close if it is still
// open then.
type child interface {
	// freeWithBase marks the object closed and frees its C memory. Base.free
	// calls it with no call in flight on the base.
	freeWithBase()
}

type callbackPanic struct {
	value any
}

// NewBase creates a Base with the settings in cfg; a nil cfg gives libevent's
// defaults (event_base_new_with_config).
func NewBase(cfg *Config) (*Base, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	ec, err := c.build()
	if err != nil {
		return nil, err
	}
	defer C.event_config_free(ec)

	baseCreated.Store(true)
	ptr, errno := C.event_base_new_with_config(ec)
	if ptr == nil {
		return nil, opError("event_base_new_with_config", errno)
	}

	b := &Base{
		ptr:      ptr,
		freed:    make(chan struct{}),
		method:   C.GoString(C.event_base_get_method(ptr)),
		features: Features(C.event_base_get_features(ptr)),
		noLock:   c.Flags&NoLock != 0,
		children: make(map[child]struct{}),
		onces:    make(map[unsafe.Pointer]struct{}),
	}
	b.npriorities.Store(int32(C.event_base_get_npriorities(ptr)))
	b.key = handles.register(b)
	b.postEvent, errno = C.golibevent_post_event_new(ptr, b.key)
	if b.postEvent == nil {
		handles.release(b.key)
		C.event_base_free(ptr)
		return nil, opError("event_new", errno)
	}
	if c.Method != "" && b.backend() != c.Method {
		method := b.method
		b.Close()
		return nil, invalidError("event_base_new_with_config",
			"backend %q was requested but libevent chose %q", c.Method, method)
	}
	if b.backend() == "select" {
		// The event that wakes the loop from other threads has a
		// descriptor of its own, which select must be able to watch.
		err := b.ForEachEvent(func(info EventInfo) error {
			return b.checkSelectLimit("event_base_new_with_config", info.Fd)
		})
		if err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// enter starts a call on the base; every successful enter is paired with
// leave.
func (b *Base) enter(op string) error {
	if b == nil || b.ptr == nil {
		return invalidError(op, "the Base was not created by NewBase")
	}
	if !b.life.acquire() {
		return wrapError(op, ErrClosed)
	}
	if b.noLock && b.running.Load() && !b.onLoopThread() {
		b.leave()
		return wrapError(op, ErrNoLock)
	}
	return nil
}

func (b *Base) leave() {
	if b.life.release() {
		b.free()
	}
	rethrowSyncPanic()
}

// onLoopThread reports whether the caller runs on the thread of this base's
// running loop, which means it is one of the loop's callbacks.
func (b *Base) onLoopThread() bool {
	thread := b.loopThread.Load()
	if thread == 0 {
		return false
	}
	// While loopThread is set, the loop's goroutine is inside libevent,
	// and it runs Go code only in the callbacks.
	if g := goroutine.Current(); g != 0 {
		return g == b.loopGoroutine.Load()
	}
	return thread == uintptr(C.golibevent_current_thread())
}

// Close closes the events created on the base, and the buffers that defer
// their callbacks to it, and frees it (event_base_free). A base from
// [WrapBase] is not freed, and a loop that C code runs on it keeps running. If the loop is running, Close breaks it. Called from
// another goroutine, Close waits until the loop has returned (it waits for
// the callback that is running, if any) and the base is freed. Called from
// one of the base's callbacks, Close returns at once and the base is freed
// when the loop returns, which then reports ErrClosed. Closing twice is
// harmless.
//
// A base created with NoLock cannot be woken from another goroutine, so
// closing it from another goroutine while its loop runs returns an error that
// matches ErrNoLock.
func (b *Base) Close() error {
	if b == nil || b.ptr == nil {
		return nil
	}
	onLoop := b.onLoopThread()
	if b.noLock && b.running.Load() && !onLoop {
		return wrapError("event_base_free", ErrNoLock)
	}
	if b.life.acquire() {
		b.life.close()
		// The loop, if running, holds the base, so the pointer stays valid
		// while the loop is broken. A loop that is about to start would
		// clear the break, so the Post event, which stays active until a
		// loop runs it, breaks that loop instead.
		// A loop that C code runs on a borrowed base is left running.
		if !b.borrowed || b.running.Load() {
			C.event_active(b.postEvent, C.EV_READ, 0)
			b.requestBreak()
		}
		b.leave()
	}
	if !onLoop {
		<-b.freed
	}
	return nil
}

// free releases the C base and everything created on it. It runs exactly
// once, when the base is closed and no call is in flight.
func (b *Base) free() {
	b.mu.Lock()
	children := b.children
	onces := b.onces
	b.children = nil
	b.onces = nil
	b.mu.Unlock()

	for c := range children {
		c.freeWithBase()
	}
	C.event_free(b.postEvent)
	if !b.borrowed {
		C.event_base_free(b.ptr)
	}
	// event_base_free frees pending once-events without running them.
	for key := range onces {
		handles.release(key)
	}
	handles.release(b.key)

	b.postMu.Lock()
	b.postQueue = nil
	b.postSpare = nil
	releases := b.releases
	b.releases = nil
	b.postMu.Unlock()
	for _, release := range releases {
		release()
	}
	close(b.freed)
}

func (b *Base) addChild(c child) {
	b.mu.Lock()
	b.children[c] = struct{}{}
	b.mu.Unlock()
}

// removeChild reports whether c was still registered, which makes the
// caller responsible for freeing it.
func (b *Base) removeChild(c child) bool {
	b.mu.Lock()
	_, ok := b.children[c]
	delete(b.children, c)
	b.mu.Unlock()
	return ok
}

// Method returns the name of the backend the base uses, such as "epoll" or
// "epoll (with changelist)" (event_base_get_method).
func (b *Base) Method() string {
	if b == nil {
		return ""
	}
	return b.method
}

// backend returns the backend's name without the detail that Method may add,
// such as " (with changelist)".
func (b *Base) backend() string {
	name, _, _ := strings.Cut(b.method, " ")
	return name
}

// Features returns the features of the base's backend
// (event_base_get_features).
func (b *Base) Features() Features {
	if b == nil {
		return 0
	}
	return b.features
}

// recoverCallback is deferred by every trampoline. It keeps a panic from
// unwinding through libevent's C frames: the panic is stored and the loop is
// broken, and the call that runs the loop panics again with the same value.
func (b *Base) recoverCallback() {
	if r := recover(); r != nil {
		handleCallbackPanic(r, b)
	}
}

func (b *Base) notePanic(r any) {
	if b.borrowed && !b.running.Load() {
		// C code runs the loop, so no Go call can re-raise the panic.
		currentLogger().Error("libevent: a callback panicked in a loop that C code runs; the panic is dropped",
			slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		return
	}
	if b.panicked == nil {
		b.panicked = &callbackPanic{value: r}
		l := currentLogger()
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug("libevent: callback panicked; the loop's caller panics again",
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		}
	}
	b.requestBreak()
}

// Dispatch runs the loop until no events are pending or active, or until
// LoopBreak, LoopExit or Close ends it (event_base_dispatch). It returns an
// error matching ErrNoEvents when it ended because nothing was left to wait
// for, ErrClosed when Close ended it, and ErrLoopRunning when the loop is
// already running. A panic in a callback ends the loop and Dispatch panics
// with the same value.
func (b *Base) Dispatch() error {
	return b.loop("event_base_dispatch", 0, 0)
}

// Loop runs the loop with flags (event_base_loop); its results are those of
// [Base.Dispatch].
func (b *Base) Loop(flags LoopFlags) error {
	if flags&^allLoopFlags != 0 {
		return invalidError("event_base_loop", "unknown loop flags 0x%x", int(flags&^allLoopFlags))
	}
	return b.loop("event_base_loop", C.int(flags), 0)
}

// loop runs event_base_loop. runID identifies the Run call that runs it, or
// is 0.
func (b *Base) loop(op string, flags C.int, runID uint64) error {
	if err := b.enter(op); err != nil {
		return err
	}
	if !b.running.CompareAndSwap(false, true) {
		b.leave()
		return wrapError(op, ErrLoopRunning)
	}
	// A callOnLoop that saw the loop stopped may still be running its
	// function, which may use objects that have no lock of their own,
	// such as evhttp's. The loop must not touch them at the same time.
	for b.directCalls.Load() != 0 {
		runtime.Gosched()
	}
	stopped := make(chan struct{})
	b.mu.Lock()
	b.loopStopped = stopped
	b.mu.Unlock()
	defer close(stopped)

	// The C helpers set loopThread to the thread that runs the callbacks
	// for as long as each cgo call lasts. Between two iterations the
	// goroutine may move to another thread, so no thread is the loop's.
	b.activeRun = runID
	b.breakRequested.Store(false)
	b.stoppedByBreak = false
	b.loopGoroutine.Store(goroutine.Current())
	var r C.int
	var errno error
	if flags&^C.EVLOOP_NO_EXIT_ON_EMPTY == 0 {
		r, errno = b.iterate(flags)
	} else {
		r, errno = C.golibevent_loop(b.ptr, flags, b.loopThreadPtr())
	}
	b.loopGoroutine.Store(0)
	b.activeRun = 0

	p := b.panicked
	b.panicked = nil
	closed := b.life.isClosed()
	b.running.Store(false)
	b.leave()

	if p != nil {
		panic(p.value)
	}
	switch {
	case r < 0:
		return opError(op, errno)
	case closed:
		return wrapError(op, ErrClosed)
	case r == 1:
		return wrapError(op, ErrNoEvents)
	}
	return nil
}

// iterate runs a loop that only break, exit or running out of events ends,
// as one event_base_loop call per iteration (EVLOOP_ONCE) rather than one
// call for the whole run, and lets Go's scheduler run between iterations.
//
// Go's monitor thread preempts a goroutine that has run for 10 ms without
// being rescheduled. A loop that never leaves its cgo call cannot respond,
// so from then on the monitor takes its processor away on every check, each
// 20 µs, and every callback has to win one back. A bufferevent echo server
// lost a quarter of its throughput that way (bench/, measured on 2 cores,
// server pinned to one). runtime.Gosched between iterations, at most once a
// millisecond, resets that clock.
//
// A callback that starts goroutines which soon call back into the base, as
// the http.Handler adapter does, sets yieldRequested, and the loop then
// yields right after the pass. With GOMAXPROCS=1 those goroutines would
// otherwise wait until the scheduler takes the processor from the loop's
// cgo call, and then run on another thread, whose Post has to wake the
// loop. Run here, between two passes, they reach the loop without a
// wake-up.
//
// event_base_loop clears a pending break when it starts, so a LoopBreak that
// lands between two iterations is kept in breakRequested instead.
func (b *Base) iterate(flags C.int) (C.int, error) {
	lastYield := time.Now()
	for {
		r, errno := C.golibevent_loop_iteration(b.ptr, flags, b.loopThreadPtr())
		switch {
		case r == 2:
			return 0, nil
		case r != 0:
			return r, errno
		case b.breakRequested.Load() || b.panicked != nil:
			b.stoppedByBreak = true
			return 0, nil
		}
		if b.yieldRequested.Load() {
			b.yieldRequested.Store(false)
			runtime.Gosched()
			lastYield = time.Now()
		} else if now := time.Now(); now.Sub(lastYield) >= time.Millisecond {
			runtime.Gosched()
			lastYield = now
		}
	}
}

// loopPassesEnded returns how many loop iterations in the process ended
// after golibevent_loop_iteration's limit of Go callbacks, for tests.
func loopPassesEnded() int64 {
	return int64(C.golibevent_loop_passes_ended())
}

// loopThreadPtr returns loopThread's address for the C helpers that store
// the loop's thread in it.
func (b *Base) loopThreadPtr() *C.uintptr_t {
	return (*C.uintptr_t)(unsafe.Pointer(&b.loopThread))
}

// requestBreak breaks the loop, also when it is between two iterations.
//
// event_base_loop clears a pending break when it starts, and each iteration
// may start it twice (see golibevent_loop_iteration), so a break from
// another goroutine that lands between two starts would be lost. The Post
// event, which stays active until a loop runs it, carries such a break into
// the next pass: runPosted breaks again while breakRequested is set.
func (b *Base) requestBreak() {
	b.breakRequested.Store(true)
	C.event_base_loopbreak(b.ptr)
	if !b.noLock && b.running.Load() && !b.onLoopThread() {
		C.event_active(b.postEvent, C.EV_READ, 0)
	}
}

// Run runs the loop until ctx is done, or until LoopBreak, LoopExit or Close
// ends it. The loop keeps running while no events are pending
// (LoopNoExitOnEmpty), so events can be added later from other goroutines.
// Run returns ctx.Err() when ctx ended it, nil after LoopBreak or LoopExit,
// and otherwise what [Base.Dispatch] returns. Another goroutine watches ctx
// and breaks the loop through Post, so callbacks that are already active run
// first; to stop at once from a callback, call LoopBreak.
//
// A base created with NoLock cannot be woken from the goroutine that watches
// ctx, so on such a base Run accepts only a ctx that is never done, such as
// context.Background().
func (b *Base) Run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b != nil && b.noLock && ctx.Done() != nil {
		return invalidError("event_base_loop", "Run cannot watch a context on a NoLock base; use a context that is never done, or Dispatch")
	}
	id := b.runCount.Add(1)
	// The break goes through Post so that it reaches this run even when ctx
	// ends before the loop has started: a plain event_base_loopbreak then
	// would be cleared by the loop's start. activeRun keeps a late break
	// from stopping a later run.
	stop := context.AfterFunc(ctx, func() {
		_ = b.Post(func() {
			if b.activeRun == id {
				b.requestBreak()
			}
		})
	})
	defer stop()
	err := b.loop("event_base_loop", C.EVLOOP_NO_EXIT_ON_EMPTY, id)
	if err == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// LoopExit makes the loop return after delay, once the callbacks that are
// active then have run (event_base_loopexit). A zero delay means after the
// current round of callbacks. If the loop is not running, the next run
// returns after its first round. It may be called from any goroutine.
func (b *Base) LoopExit(delay time.Duration) error {
	const op = "event_base_loopexit"
	if delay < 0 {
		return invalidError(op, "negative delay %v", delay)
	}
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	r, errno := C.golibevent_base_loopexit(b.ptr, C.int64_t(durationToMicros(delay)))
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// LoopBreak makes the loop return after the callback that is running, if
// any (event_base_loopbreak). It has no effect on a loop that is not
// running. It may be called from any goroutine.
func (b *Base) LoopBreak() error {
	const op = "event_base_loopbreak"
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	b.requestBreak()
	return nil
}

// LoopContinue makes the loop stop running callbacks and check for new
// events before it runs the rest (event_base_loopcontinue). It has an effect
// only from a callback.
func (b *Base) LoopContinue() error {
	const op = "event_base_loopcontinue"
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	if C.event_base_loopcontinue(b.ptr) != 0 {
		return opError(op, nil)
	}
	return nil
}

// GotExit reports whether the last loop run ended because of LoopExit
// (event_base_got_exit). It returns false on a closed base.
func (b *Base) GotExit() bool {
	if b.enter("event_base_got_exit") != nil {
		return false
	}
	defer b.leave()
	return C.event_base_got_exit(b.ptr) != 0
}

// GotBreak reports whether the last loop run ended because of LoopBreak
// (event_base_got_break). A panic in a callback and Close also break the
// loop. It returns false on a closed base.
func (b *Base) GotBreak() bool {
	if b.enter("event_base_got_break") != nil {
		return false
	}
	defer b.leave()
	return C.event_base_got_break(b.ptr) != 0 || (!b.running.Load() && b.stoppedByBreak)
}

// Post queues fn to run on the loop's goroutine, in the order of the Post
// calls, and wakes the loop. It may be called from any goroutine. Posts that
// arrive before the loop gets to them share one wake-up. fn runs when the
// loop next runs its callbacks; functions still queued when the base is
// closed are dropped.
func (b *Base) Post(fn func()) error {
	const op = "Post"
	if fn == nil {
		return invalidError(op, "nil function")
	}
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()

	b.postMu.Lock()
	b.postQueue = append(b.postQueue, fn)
	wake := !b.postScheduled
	b.postScheduled = true
	b.postMu.Unlock()
	if wake {
		C.event_active(b.postEvent, C.EV_READ, 0)
	}
	return nil
}

// callOnLoop runs fn on the loop's goroutine and waits for it, when the loop
// runs on another goroutine; otherwise it runs fn at once, and a loop that
// starts meanwhile waits for fn to return. It serves libevent calls that can
// deadlock when made from another thread while a callback runs, and objects
// without locks, such as evhttp's. If the loop stops before it gets to fn,
// callOnLoop runs fn itself. The caller holds the base.
func (b *Base) callOnLoop(fn func()) error {
	if b.onLoopThread() || b.inDirectCall() {
		fn()
		return nil
	}
	if b.callDirectly(fn) {
		return nil
	}
	var claimed atomic.Bool
	claim := func() {
		if claimed.CompareAndSwap(false, true) {
			fn()
		}
	}
	done := make(chan struct{})
	err := b.Post(func() {
		claim()
		close(done)
	})
	if err != nil {
		return err
	}
	var stopped chan struct{}
	for {
		b.mu.Lock()
		next := b.loopStopped
		b.mu.Unlock()
		if next == nil || next == stopped {
			// The loop that runs now has not published its channel yet.
			select {
			case <-done:
				return nil
			default:
			}
			runtime.Gosched()
			continue
		}
		stopped = next
		select {
		case <-done:
			return nil
		case <-stopped:
		}
		// The loop returned, with or without running the posted
		// function. Run fn here unless a loop has started again. That
		// loop runs the posted function, or drops it if the base is
		// closed, so the next pass waits for that loop's end too.
		if b.callDirectly(claim) {
			return nil
		}
	}
}

// callDirectly runs fn on the calling goroutine and returns true if the
// loop is not running. A loop that starts meanwhile waits until fn returns
// (see loop). Both the count and the check are atomic, so either the loop
// finds the count raised or callDirectly finds the loop running. Direct
// calls from several goroutines run one at a time, since the objects they
// serve have no locks of their own.
func (b *Base) callDirectly(fn func()) bool {
	b.directCalls.Add(1)
	defer b.directCalls.Add(-1)
	if b.running.Load() {
		return false
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.directRun.Lock()
	defer b.directRun.Unlock()
	b.directThread.Store(uintptr(C.golibevent_current_thread()))
	defer b.directThread.Store(0)
	fn()
	return true
}

// inDirectCall reports whether the caller runs inside a function that
// callDirectly runs, whose nested calls must run directly too: the loop
// waits for the outer call, so a nested call could not wait for the loop.
func (b *Base) inDirectCall() bool {
	if b.directCalls.Load() == 0 {
		return false
	}
	thread := b.directThread.Load()
	return thread != 0 && thread == uintptr(C.golibevent_current_thread())
}

// releaseAfterCallbacks runs release, which frees a callback argument or a
// registry key, once no callback of this base can still be using it. While
// the loop runs, a callback may be running on the loop's thread, so release
// waits for the Post event's next callback; otherwise it runs at once. The
// caller holds the base.
func (b *Base) releaseAfterCallbacks(release func()) {
	if !b.running.Load() {
		release()
		return
	}
	b.postMu.Lock()
	b.releases = append(b.releases, release)
	wake := !b.postScheduled
	b.postScheduled = true
	b.postMu.Unlock()
	if wake {
		C.event_active(b.postEvent, C.EV_READ, 0)
	}
}

// runPosted runs the queued functions; it is the Post event's callback.
func (b *Base) runPosted() {
	if b.life.isClosed() {
		b.requestBreak()
		return
	}
	if b.breakRequested.Load() {
		C.event_base_loopbreak(b.ptr)
	}
	b.postBatches.Add(1)
	b.postMu.Lock()
	queue := b.postQueue
	b.postQueue = b.postSpare
	b.postSpare = nil
	releases := b.releases
	b.releases = nil
	b.postScheduled = false
	b.postMu.Unlock()
	defer b.recyclePostQueue(queue)

	for _, release := range releases {
		release()
	}

	for i, fn := range queue {
		if b.life.isClosed() {
			b.requestBreak()
			return
		}
		if !b.runOnePosted(fn) {
			b.requeuePosted(queue[i+1:])
			return
		}
	}
}

// recyclePostQueue empties a queue that runPosted has finished with and keeps
// it as the next spare.
func (b *Base) recyclePostQueue(queue []func()) {
	clear(queue)
	b.postMu.Lock()
	if b.postSpare == nil {
		b.postSpare = queue[:0]
	}
	b.postMu.Unlock()
}

// runOnePosted runs fn and reports whether it returned without panicking.
func (b *Base) runOnePosted(fn func()) (ok bool) {
	defer func() {
		if ok {
			return
		}
		if r := recover(); r != nil {
			b.notePanic(r)
		}
	}()
	fn()
	return true
}

// requeuePosted puts functions that a panic kept from running back at the
// front of the queue, so that the next loop run runs them.
func (b *Base) requeuePosted(rest []func()) {
	if len(rest) == 0 {
		return
	}
	b.postMu.Lock()
	b.postQueue = append(append([]func(){}, rest...), b.postQueue...)
	wake := !b.postScheduled
	b.postScheduled = true
	b.postMu.Unlock()
	if wake {
		C.event_active(b.postEvent, C.EV_READ, 0)
	}
}

// SetPriorities sets the number of priorities, 1 to 255
// (event_base_priority_init). Events created afterwards get the middle
// priority, n/2. It fails while callbacks are active, and when an existing
// event has a priority of n or more.
func (b *Base) SetPriorities(n int) error {
	const op = "event_base_priority_init"
	if n < 1 || n >= maxPriorities {
		return invalidError(op, "%d priorities out of range [1, %d)", n, maxPriorities)
	}
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()

	b.mu.Lock()
	for c := range b.children {
		if e, ok := c.(*Event); ok && !e.life.isClosed() {
			if p := int(C.event_get_priority(e.ptr)); p >= n {
				b.mu.Unlock()
				return invalidError(op, "an event on fd %d has priority %d, outside the %d new priorities", e.fd, p, n)
			}
		}
		// libevent would queue the deferred callbacks of such a buffer
		// past the end of the new array of priority queues.
		if buf, ok := c.(*Buffer); ok && buf.deferPriority >= n {
			b.mu.Unlock()
			return invalidError(op, "a Buffer defers its callbacks at priority %d, outside the %d new priorities", buf.deferPriority, n)
		}
	}
	b.mu.Unlock()

	if C.event_base_priority_init(b.ptr, C.int(n)) != 0 {
		return &Error{Op: op, Err: fmt.Errorf("callbacks are active: %w", errFailed)}
	}
	b.npriorities.Store(int32(n))
	// The Post event was created with the old middle priority; move it to
	// the new one so that posted functions do not outrank other events.
	C.event_priority_set(b.postEvent, C.int(n/2))
	return nil
}

// Priorities returns the number of priorities (event_base_get_npriorities).
// Like Method and Features, it still reports the last value after Close.
func (b *Base) Priorities() int {
	if b == nil {
		return 0
	}
	return int(b.npriorities.Load())
}

// Reinit makes the base usable again in a child process after fork
// (event_reinit): it recreates the backend's kernel state and adds the
// pending events to it.
func (b *Base) Reinit() error {
	const op = "event_reinit"
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	r, errno := C.event_reinit(b.ptr)
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// CachedTime returns the time at which the loop last polled for events, or
// the current time when the loop is not running or the base has NoCacheTime
// (event_base_gettimeofday_cached). Callbacks get it without a system call.
func (b *Base) CachedTime() (time.Time, error) {
	const op = "event_base_gettimeofday_cached"
	if err := b.enter(op); err != nil {
		return time.Time{}, err
	}
	defer b.leave()
	var sec C.int64_t
	var usec C.int32_t
	r, errno := C.golibevent_gettimeofday_cached(b.ptr, &sec, &usec)
	if r != 0 {
		return time.Time{}, opError(op, errno)
	}
	return time.Unix(int64(sec), int64(usec)*1000), nil
}

// UpdateCachedTime sets the cached time to the current time
// (event_base_update_cache_time), for a callback that has run long.
func (b *Base) UpdateCachedTime() error {
	const op = "event_base_update_cache_time"
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	if C.event_base_update_cache_time(b.ptr) != 0 {
		return opError(op, nil)
	}
	return nil
}

// MonotonicTime returns the base's monotonic clock reading, the clock that
// its timeouts use (event_gettime_monotonic). Only differences between
// readings are meaningful.
func (b *Base) MonotonicTime() (time.Duration, error) {
	const op = "event_gettime_monotonic"
	if err := b.enter(op); err != nil {
		return 0, err
	}
	defer b.leave()
	var sec C.int64_t
	var usec C.int32_t
	r, errno := C.golibevent_gettime_monotonic(b.ptr, &sec, &usec)
	if r != 0 {
		return 0, opError(op, errno)
	}
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, nil
}

// CountFlags select the events that NumEvents and MaxEvents count
// (EVENT_BASE_COUNT_*).
type CountFlags int

const (
	// CountActive counts active events, including the base's Post event
	// while posted functions wait.
	CountActive CountFlags = 1
	// CountVirtual counts virtual events, which libevent's extra modules
	// add to keep a loop running.
	CountVirtual CountFlags = 2
	// CountAdded counts pending events and, in libevent 2.1, active
	// events too: an event that is both counts twice. libevent's internal
	// events do not count.
	CountAdded CountFlags = 4

	allCountFlags = CountActive | CountVirtual | CountAdded
)

// NumEvents returns the number of events of the kinds in which
// (event_base_get_num_events). With CountActive|CountAdded an active event
// counts twice.
func (b *Base) NumEvents(which CountFlags) (int, error) {
	const op = "event_base_get_num_events"
	if which&^allCountFlags != 0 || which == 0 {
		return 0, invalidError(op, "invalid count flags 0x%x", int(which))
	}
	if err := b.enter(op); err != nil {
		return 0, err
	}
	defer b.leave()
	return int(C.event_base_get_num_events(b.ptr, C.uint(which))), nil
}

// MaxEvents returns the largest number of events of the kinds in which that
// the base has had at once (event_base_get_max_events). If clear is true,
// the maxima are reset to zero and grow again with the next addition.
func (b *Base) MaxEvents(which CountFlags, clear bool) (int, error) {
	const op = "event_base_get_max_events"
	if which&^allCountFlags != 0 || which == 0 {
		return 0, invalidError(op, "invalid count flags 0x%x", int(which))
	}
	if err := b.enter(op); err != nil {
		return 0, err
	}
	defer b.leave()
	c := C.int(0)
	if clear {
		c = 1
	}
	return int(C.event_base_get_max_events(b.ptr, C.uint(which), c)), nil
}

// Dump writes libevent's description of the base's pending and active events
// to w (event_base_dump_events), for debugging.
func (b *Base) Dump(w io.Writer) error {
	const op = "event_base_dump_events"
	if w == nil {
		return invalidError(op, "nil writer")
	}
	if err := b.enter(op); err != nil {
		return err
	}
	var text *C.char
	var n C.size_t
	r, errno := C.golibevent_dump_events(b.ptr, &text, &n)
	b.leave()
	if r != 0 {
		return opError(op, errno)
	}
	data := C.GoBytes(unsafe.Pointer(text), C.int(n))
	C.free(unsafe.Pointer(text))
	_, err := w.Write(data)
	return err
}

// EventInfo describes one event of a base, as [Base.ForEachEvent] reports it.
type EventInfo struct {
	// Event is the event, or nil if C code or libevent itself created it.
	Event *Event
	// Fd is the event's descriptor, -1 for a timer.
	Fd int
	// Events are the flags the event was created with.
	Events EventFlags
	// Pending are the conditions the event is pending or active for.
	Pending EventFlags
	// Priority is the event's priority.
	Priority int
	// Internal marks an event that libevent uses itself, such as the one
	// that wakes the loop from other threads.
	Internal bool
}

// ForEachEvent calls fn for each pending or active event of the base
// (event_base_foreach_event), in no particular order. The events are
// collected first, so fn may add, delete and close events. ForEachEvent stops
// at the first error fn returns and returns it.
func (b *Base) ForEachEvent(fn func(EventInfo) error) error {
	const op = "event_base_foreach_event"
	if fn == nil {
		return invalidError(op, "nil callback")
	}
	if err := b.enter(op); err != nil {
		return err
	}
	var rows *C.struct_golibevent_event_info
	var count C.int
	r := C.golibevent_collect_events(b.ptr, b.key, &rows, &count)
	b.leave()
	if r != 0 {
		return opError(op, syscall.ENOMEM)
	}
	infos := make([]EventInfo, 0, int(count))
	if count > 0 {
		for _, row := range unsafe.Slice(rows, int(count)) {
			info := EventInfo{
				Fd:       int(row.fd),
				Events:   EventFlags(row.events),
				Pending:  EventFlags(row.pending),
				Priority: int(row.priority),
				Internal: row.internal != 0,
			}
			if row.key != nil {
				info.Event, _ = handles.lookup(row.key).(*Event)
			}
			infos = append(infos, info)
		}
	}
	C.free(unsafe.Pointer(rows))
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// ActivateFd makes every event on fd that waits for one of the conditions in
// what active, as if they had occurred (event_base_active_by_fd). With
// EvTimeout in what, it activates the events on fd that have a timeout
// instead. It may be called from any goroutine.
func (b *Base) ActivateFd(fd int, what EventFlags) error {
	const op = "event_base_active_by_fd"
	if fd < 0 {
		return invalidError(op, "invalid descriptor %d", fd)
	}
	if what&^activatedFlags != 0 || what == 0 {
		return invalidError(op, "invalid flags %v; use EvRead, EvWrite, EvClosed or EvTimeout", what)
	}
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()
	C.event_base_active_by_fd(b.ptr, C.evutil_socket_t(fd), C.short(what))
	return nil
}

// RunningEvent returns the event whose callback is running, or nil when no
// callback of an Event created by this package is running
// (event_base_get_running_event). Call it from a callback.
func (b *Base) RunningEvent() *Event {
	if b.enter("event_base_get_running_event") != nil {
		return nil
	}
	defer b.leave()
	key := C.golibevent_event_key(C.event_base_get_running_event(b.ptr))
	if key == nil {
		return nil
	}
	e, _ := handles.lookup(key).(*Event)
	return e
}
