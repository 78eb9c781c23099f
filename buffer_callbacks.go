//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// BufferCallbackInfo describes how a Buffer changed since its callbacks last
// ran (struct evbuffer_cb_info).
type BufferCallbackInfo struct {
	// OrigSize is the number of bytes in the buffer when the callbacks
	// last ran.
	OrigSize int
	// Added is the number of bytes added since then.
	Added int
	// Deleted is the number of bytes removed since then.
	Deleted int
}

// BufferFunc is a Buffer's callback. It runs after data is added to or
// removed from buf: inside the call that made the change, or from a base's
// loop after [Buffer.DeferCallbacks].
type BufferFunc func(buf *Buffer, info BufferCallbackInfo)

// BufferCallback is a callback added to a Buffer with [Buffer.AddCallback]
// (struct evbuffer_cb_entry).
type BufferCallback struct {
	buf *Buffer
	fn  BufferFunc
	// key is the callback's registry key, its argument in C. It is
	// released when the entry is freed.
	key unsafe.Pointer
	// entry is set once, under buf.mu, by AddCallback.
	entry *C.struct_evbuffer_cb_entry
	// removed is set by Remove and when the buffer is closed.
	removed atomic.Bool
}

// AddCallback adds fn to the callbacks that run after data is added to or
// removed from the buffer (evbuffer_add_cb). Without DeferCallbacks they run
// inside the call that made the change, and a panic in one leaves that call
// with the same value. Callbacks may change the buffer, which runs them
// again, and may add and remove callbacks. The order in which the callbacks
// of one buffer run is unspecified.
func (b *Buffer) AddCallback(fn BufferFunc) (*BufferCallback, error) {
	const op = "evbuffer_add_cb"
	if fn == nil {
		return nil, invalidError(op, "nil callback")
	}
	c, err := b.enter(op)
	if err != nil {
		return nil, err
	}
	defer c.leave()

	cb := &BufferCallback{buf: b, fn: fn}
	cb.key = handles.register(cb)
	entry, errno := C.golibevent_buffer_add_cb(b.ptr, cb.key)
	if entry == nil {
		handles.release(cb.key)
		return nil, opError(op, errno)
	}
	b.mu.Lock()
	cb.entry = entry
	b.callbacks[cb] = struct{}{}
	b.mu.Unlock()
	return cb, nil
}

// Remove removes the callback from its buffer (evbuffer_remove_cb_entry).
// It may be called from any of the buffer's callbacks, including this one.
// Removing twice, or after the buffer was closed, is harmless.
func (cb *BufferCallback) Remove() error {
	const op = "evbuffer_remove_cb_entry"
	if cb == nil || cb.buf == nil {
		return invalidError(op, "the BufferCallback was not created by AddCallback")
	}
	b := cb.buf
	c, err := b.enter(op)
	if errors.Is(err, ErrClosed) {
		// Closing the buffer removed its callbacks.
		return nil
	}
	if err != nil {
		return err
	}
	defer c.leave()
	if !cb.removed.CompareAndSwap(false, true) {
		return nil
	}
	b.mu.Lock()
	delete(b.callbacks, cb)
	b.mu.Unlock()

	// libevent allows a callback to remove only itself while it walks
	// the list of entries, and a callback that changes the buffer starts
	// a nested walk. So the entry is only disabled here, because clearing
	// a flag frees nothing, and leave frees it once no callback of the
	// buffer runs. Until then only removeStale can free it, and it is not
	// in stale yet.
	C.evbuffer_cb_clear_flags(b.ptr, cb.entry, C.EVBUFFER_CB_ENABLED)
	b.mu.Lock()
	b.stale = append(b.stale, cb)
	b.staleCount.Store(int32(len(b.stale)))
	b.mu.Unlock()
	return nil
}

// Enable lets the callback run again after Disable
// (evbuffer_cb_set_flags with EVBUFFER_CB_ENABLED).
func (cb *BufferCallback) Enable() error {
	return cb.setEnabled("evbuffer_cb_set_flags", true)
}

// Disable stops the callback from running until Enable
// (evbuffer_cb_clear_flags with EVBUFFER_CB_ENABLED). The changes made
// while it is disabled are not reported to it later.
func (cb *BufferCallback) Disable() error {
	return cb.setEnabled("evbuffer_cb_clear_flags", false)
}

func (cb *BufferCallback) setEnabled(op string, on bool) error {
	if cb == nil || cb.buf == nil {
		return invalidError(op, "the BufferCallback was not created by AddCallback")
	}
	b := cb.buf
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	// removeStale frees no entry while entryUsers is above zero, and an
	// entry it may free is already marked removed, so the entry stays
	// valid from this check on. A Remove that races with Enable can leave
	// a removed entry enabled; runCallback drops its calls.
	b.entryUsers.Add(1)
	defer b.entryUsers.Add(-1)
	if cb.removed.Load() {
		return wrapError(op, ErrClosed)
	}
	if on {
		C.evbuffer_cb_set_flags(b.ptr, cb.entry, C.EVBUFFER_CB_ENABLED)
	} else {
		C.evbuffer_cb_clear_flags(b.ptr, cb.entry, C.EVBUFFER_CB_ENABLED)
	}
	return nil
}

// runCallback runs one callback; the trampoline calls it. A callback for a
// buffer that was closed meanwhile is dropped.
func (b *Buffer) runCallback(cb *BufferCallback, info BufferCallbackInfo) {
	if cb.removed.Load() || !b.life.acquire() {
		noteDropped("buffer", -1)
		return
	}
	b.callbackDepth.Add(1)
	defer b.endCallback()
	defer recoverCallbackFor(b.loopBase())
	cb.fn(b, info)
}

func (b *Buffer) endCallback() {
	b.callbackDepth.Add(-1)
	if b.life.release() {
		b.free(true)
	}
}

// loopBase returns the base whose loop runs the buffer's callbacks outside
// the package's calls, or nil.
func (b *Buffer) loopBase() *Base {
	if base := b.deferBase.Load(); base != nil {
		return base
	}
	return b.ownerBase
}

// removeStale frees the entries of removed callbacks and releases their
// registry keys. The caller holds the buffer and runs outside its
// callbacks. With locking enabled, evbuffer_remove_cb_entry waits for a
// walk of the entries on another thread to end.
func (b *Buffer) removeStale() {
	b.mu.Lock()
	if b.entryUsers.Load() != 0 {
		b.mu.Unlock()
		return
	}
	stale := b.stale
	b.stale = nil
	b.staleCount.Store(0)
	b.mu.Unlock()
	for _, cb := range stale {
		C.evbuffer_remove_cb_entry(b.ptr, cb.entry)
		handles.release(cb.key)
	}
}

// dropCallbacks removes every callback of a closed buffer. With remove the
// entries are freed at once. Otherwise libevent may be walking them, so they
// are only disabled and kept, with their keys, until removeStale, releaseC
// or detach.
func (b *Buffer) dropCallbacks(remove bool) {
	b.mu.Lock()
	callbacks := b.callbacks
	b.callbacks = nil
	b.mu.Unlock()
	for cb := range callbacks {
		cb.removed.Store(true)
		C.evbuffer_cb_clear_flags(b.ptr, cb.entry, C.EVBUFFER_CB_ENABLED)
	}
	b.mu.Lock()
	for cb := range callbacks {
		b.stale = append(b.stale, cb)
	}
	b.staleCount.Store(int32(len(b.stale)))
	b.mu.Unlock()
	if remove {
		b.removeStale()
	}
}

// DeferCallbacks makes the buffer's callbacks run from base's loop instead
// of inside the call that changed the buffer (evbuffer_defer_callbacks).
// Changes that happen before the loop gets to them are reported together.
// A panic in a deferred callback makes the call that runs the loop panic
// with the same value.
//
// From then on every call on the buffer holds base, and closing base also
// closes the buffer. The deferred callbacks run at the middle priority that
// base has at this call (half its number of priorities), and
// [Base.SetPriorities] rejects a number of priorities that leaves it out.
// Call DeferCallbacks before the buffer is shared with other goroutines. A buffer can defer to one base only: calling
// it again with the same base does nothing, and with another base fails.
func (b *Buffer) DeferCallbacks(base *Base) error {
	const op = "evbuffer_defer_callbacks"
	if base == nil {
		return invalidError(op, "nil Base")
	}
	if b != nil && b.owner != nil {
		return invalidError(op, "the Buffer belongs to a bufferevent, which decides how its callbacks run")
	}
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if err := base.enter(op); err != nil {
		return err
	}
	defer base.leave()

	if current := b.deferBase.Load(); current != nil {
		if current == base {
			return nil
		}
		return invalidError(op, "the Buffer already defers its callbacks to another Base")
	}
	// evbuffer_defer_callbacks gives the deferred callbacks the middle
	// priority of the base as it is now.
	b.deferPriority = int(base.npriorities.Load()) / 2
	C.evbuffer_defer_callbacks(b.ptr, base.ptr)
	base.addChild(b)
	b.deferBase.Store(base)
	return nil
}

// BufferEnd selects the front or the back of a Buffer for [Buffer.Freeze]
// and [Buffer.Unfreeze].
type BufferEnd int

const (
	// BufferBack is the end that data is added to.
	BufferBack BufferEnd = 0
	// BufferFront is the end that data is removed from.
	BufferFront BufferEnd = 1
)

// Freeze makes the calls that change the given end of the buffer fail with
// an error that matches ErrFrozen until Unfreeze (evbuffer_freeze). A frozen
// front rejects Remove, Read, Drain, CopyOut, ReadLine, Prepend, WriteFd and
// moves out of the buffer. A frozen back rejects Add, Reserve, Commit,
// ReadFd, AddReference, AddFile and moves into the buffer.
func (b *Buffer) Freeze(end BufferEnd) error {
	return b.setFrozen("evbuffer_freeze", end, true)
}

// Unfreeze undoes Freeze for the given end (evbuffer_unfreeze).
func (b *Buffer) Unfreeze(end BufferEnd) error {
	return b.setFrozen("evbuffer_unfreeze", end, false)
}

func (b *Buffer) setFrozen(op string, end BufferEnd, frozen bool) error {
	if end != BufferFront && end != BufferBack {
		return invalidError(op, "unknown buffer end %d; use BufferFront or BufferBack", int(end))
	}
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	front := C.int(0)
	flag := &b.frozenBack
	if end == BufferFront {
		front = 1
		flag = &b.frozenFront
	}
	var r C.int
	if frozen {
		r = C.evbuffer_freeze(b.ptr, front)
	} else {
		r = C.evbuffer_unfreeze(b.ptr, front)
	}
	if r != 0 {
		return opError(op, nil)
	}
	flag.Store(frozen)
	return nil
}

// BufferFlags change how a Buffer behaves (EVBUFFER_FLAG_*).
type BufferFlags uint64

const (
	// BufferDrainsToFd marks a buffer whose data goes to a descriptor.
	// File data added afterwards with AddFile or AddFileSegment is then
	// sent with sendfile, without being mapped or read into memory. Such data can only be written with WriteFd or
	// WriteFdAtMost, drained, or moved whole to another Buffer.
	BufferDrainsToFd BufferFlags = 1

	allBufferFlags = BufferDrainsToFd
)

// SetFlags sets flags on the buffer (evbuffer_set_flags).
func (b *Buffer) SetFlags(flags BufferFlags) error {
	return b.changeFlags("evbuffer_set_flags", flags, true)
}

// ClearFlags clears flags on the buffer (evbuffer_clear_flags).
func (b *Buffer) ClearFlags(flags BufferFlags) error {
	return b.changeFlags("evbuffer_clear_flags", flags, false)
}

// Flags returns the flags set on the buffer through SetFlags and ClearFlags,
// or those its bufferevent set. libevent has no function that reads them.
func (b *Buffer) Flags() BufferFlags {
	if b == nil {
		return 0
	}
	return BufferFlags(b.flags.Load())
}

func (b *Buffer) changeFlags(op string, flags BufferFlags, set bool) error {
	if flags&^allBufferFlags != 0 {
		return invalidError(op, "unknown buffer flags 0x%x", uint64(flags&^allBufferFlags))
	}
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	var r C.int
	if set {
		r = C.evbuffer_set_flags(b.ptr, C.ev_uint64_t(flags))
		b.flags.Or(uint64(flags))
	} else {
		r = C.evbuffer_clear_flags(b.ptr, C.ev_uint64_t(flags))
		b.flags.And(^uint64(flags))
	}
	if r != 0 {
		return opError(op, nil)
	}
	return nil
}

// EnableLocking gives the buffer a lock (evbuffer_enable_locking with a NULL
// lock), after which its methods may be called from several goroutines at
// once. Call it before the buffer is shared; calling it twice fails.
// libevent holds the lock while the buffer's callbacks run, so a callback
// that waits for another goroutine that calls the buffer can deadlock.
func (b *Buffer) EnableLocking() error {
	const op = "evbuffer_enable_locking"
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if b.lockingEnabled.Load() {
		return invalidError(op, "locking is already enabled")
	}
	if C.evbuffer_enable_locking(b.ptr, nil) != 0 {
		return opError(op, nil)
	}
	b.lockingEnabled.Store(true)
	return nil
}

// Lock takes the buffer's lock (evbuffer_lock), so that a sequence of calls
// runs without calls from other goroutines in between. The lock is
// recursive: the goroutine that holds it may call Lock again and must call
// Unlock as often. Until the matching Unlock the goroutine stays on its OS
// thread, because the lock belongs to the thread, and the buffer, and the
// base it defers its callbacks to, are not freed. Lock fails unless
// EnableLocking was called.
func (b *Buffer) Lock() error {
	const op = "evbuffer_lock"
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	if !b.lockingEnabled.Load() {
		c.leave()
		return invalidError(op, "locking is not enabled; call EnableLocking first")
	}
	runtime.LockOSThread()
	C.evbuffer_lock(b.ptr)
	b.mu.Lock()
	b.lockThread = uintptr(C.golibevent_current_thread())
	b.lockCalls = append(b.lockCalls, c)
	b.mu.Unlock()
	return nil
}

// Unlock releases the lock that the calling goroutine took with Lock
// (evbuffer_unlock). It fails if that goroutine does not hold the lock. It
// works after Close, which then frees the buffer when the last lock is
// released.
func (b *Buffer) Unlock() error {
	const op = "evbuffer_unlock"
	if b == nil || b.ptr == nil {
		return invalidError(op, "the Buffer was not created by NewBuffer")
	}
	thread := uintptr(C.golibevent_current_thread())
	b.mu.Lock()
	n := len(b.lockCalls)
	if n == 0 || b.lockThread != thread {
		b.mu.Unlock()
		return invalidError(op, "the calling goroutine does not hold the buffer's lock")
	}
	c := b.lockCalls[n-1]
	b.lockCalls = b.lockCalls[:n-1]
	b.mu.Unlock()
	C.evbuffer_unlock(b.ptr)
	runtime.UnlockOSThread()
	c.leave()
	return nil
}
