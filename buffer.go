//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ErrFrozen reports an operation on an end of a Buffer that [Buffer.Freeze]
// has frozen: adding at a frozen back, or removing, copying out or
// prepending at a frozen front.
var ErrFrozen = errors.New("buffer end is frozen")

// maxChunk is the largest number of bytes that one call passes to the
// libevent functions whose results are C ints, such as evbuffer_remove.
const maxChunk = math.MaxInt32

// copyChunk is the size of the scratch buffer that ReadFrom and WriteTo
// copy through.
const copyChunk = 32 << 10

// Buffer is an evbuffer: a queue of bytes, stored in a chain of C memory
// blocks, that data is added to at the back and removed from at the front.
// Create one with [NewBuffer].
//
// A Buffer is not safe for concurrent use unless [Buffer.EnableLocking] was
// called. Then each method is atomic, and [Buffer.Lock] makes a sequence of
// calls atomic. Methods that return slices over the buffer's C memory
// (Peek, Pullup, Reserve) document how long the slices stay valid.
type Buffer struct {
	ptr  *C.struct_evbuffer
	life lifetime

	// owner is the object that owns a borrowed evbuffer, such as a
	// bufferevent, and ownerBase the base whose loop runs its callbacks.
	// owner is nil when the Buffer owns its evbuffer.
	owner     bufferOwner
	ownerBase *Base
	// deferBase is the base that DeferCallbacks set, or nil. It is set
	// once; deferPriority is the priority libevent gave the deferred
	// callbacks then.
	deferBase     atomic.Pointer[Base]
	deferPriority int

	// callbackDepth counts the callbacks of this buffer that are running,
	// on any thread.
	callbackDepth atomic.Int32
	// changes counts the changes made to the buffer through this package.
	// Positions and reservations record it and become invalid when it
	// moves on.
	changes atomic.Uint64
	// libeventChanges, for a borrowed evbuffer, counts the changes that
	// libevent made itself, such as a bufferevent reading into its input.
	// The owner's C code increments it from an evbuffer callback.
	libeventChanges *C.uint64_t

	flags       atomic.Uint64
	frozenFront atomic.Bool
	frozenBack  atomic.Bool
	// sendfileData is set while the buffer may hold file data that
	// libevent sends with sendfile. Such a chain has no data in memory, so
	// reading it would read unrelated memory.
	sendfileData   atomic.Bool
	lockingEnabled atomic.Bool

	mu        sync.Mutex
	callbacks map[*BufferCallback]struct{}
	// stale are removed callbacks whose entries are disabled but still
	// allocated, with their registry keys. libevent may be walking the
	// entries, and Enable or Disable may be using one, so removeStale
	// frees them later, when neither is the case.
	stale      []*BufferCallback
	staleCount atomic.Int32
	// entryUsers counts the Enable and Disable calls in flight, which use
	// an entry outside buf.mu.
	entryUsers  atomic.Int32
	reservation reservation
	// lockThread and lockCalls describe the holder of Lock: its thread and
	// one call for each Lock not yet unlocked.
	lockThread uintptr
	lockCalls  []bufferCall
}

// bufferOwner is the object that owns a borrowed evbuffer. Its enter and
// leave bracket each call on the Buffer, so the owner cannot free the
// evbuffer during one.
type bufferOwner interface {
	enter(op string) error
	leave()
}

// NewBuffer creates an empty Buffer (evbuffer_new).
func NewBuffer() (*Buffer, error) {
	ptr, errno := C.evbuffer_new()
	if ptr == nil {
		return nil, opError("evbuffer_new", errno)
	}
	return &Buffer{ptr: ptr, callbacks: make(map[*BufferCallback]struct{})}, nil
}

// borrowBuffer wraps an evbuffer that owner owns, such as a bufferevent's
// input or output. Closing the wrapper removes the callbacks added through
// it but never frees the evbuffer. base is the base whose loop runs the
// evbuffer's callbacks. flags and lockingEnabled must match what the owner
// set up, and the owner stores the ends it freezes in frozenFront and
// frozenBack. The owner calls detach before it frees the evbuffer.
//
// Positions and reservations are checked against the changes made through
// this package and those that libevent counts in *libeventChanges, which the
// owner's C code increments from an evbuffer callback whenever libevent
// changes the evbuffer itself, such as a bufferevent reading into its input.
func borrowBuffer(ptr *C.struct_evbuffer, owner bufferOwner, base *Base, flags BufferFlags, lockingEnabled bool,
	libeventChanges *C.uint64_t) *Buffer {
	b := &Buffer{
		ptr:             ptr,
		owner:           owner,
		ownerBase:       base,
		callbacks:       make(map[*BufferCallback]struct{}),
		libeventChanges: libeventChanges,
	}
	b.flags.Store(uint64(flags))
	b.lockingEnabled.Store(lockingEnabled)
	return b
}

// noteChanged records a change that libevent made to a borrowed evbuffer
// outside this package's methods.
func (b *Buffer) noteChanged() {
	b.changes.Add(1)
}

// detach marks a borrowed Buffer closed because its owner is about to free
// the evbuffer. The owner calls it with no call in flight on itself, so none
// is in flight on the Buffer either. libevent frees the callback entries
// with the evbuffer; they are disabled here so that none can run before.
func (b *Buffer) detach() {
	b.life.close()
	b.dropCallbacks(false)
	b.mu.Lock()
	stale := b.stale
	b.stale = nil
	b.staleCount.Store(0)
	b.mu.Unlock()
	for _, cb := range stale {
		handles.release(cb.key)
	}
}

// bufferCall is one call in progress on a Buffer, from enter to leave.
type bufferCall struct {
	buf *Buffer
	// base is the base that enter entered because the buffer defers its
	// callbacks to it, or nil.
	base *Base
}

// enter starts a call on the buffer. It holds the owner and the deferring
// base as well, because freeing either would free or break the evbuffer.
// Every successful enter is paired with leave on the returned call.
func (b *Buffer) enter(op string) (bufferCall, error) {
	if b == nil || b.ptr == nil {
		return bufferCall{}, invalidError(op, "the Buffer was not created by NewBuffer")
	}
	c := bufferCall{buf: b}
	if b.owner != nil {
		if err := b.owner.enter(op); err != nil {
			return bufferCall{}, err
		}
	}
	if base := b.deferBase.Load(); base != nil {
		if err := base.enter(op); err != nil {
			if b.owner != nil {
				b.owner.leave()
			}
			return bufferCall{}, err
		}
		c.base = base
	}
	if !b.life.acquire() {
		if c.base != nil {
			c.base.leave()
		}
		if b.owner != nil {
			b.owner.leave()
		}
		return bufferCall{}, wrapError(op, ErrClosed)
	}
	return c, nil
}

// enterOther enters a second buffer that a call on b takes as an argument.
func (b *Buffer) enterOther(op string, other *Buffer, role string) (bufferCall, error) {
	if other == nil {
		return bufferCall{}, invalidError(op, "nil %s buffer", role)
	}
	if other == b {
		return bufferCall{}, invalidError(op, "the %s buffer is the buffer itself", role)
	}
	c, err := other.enter(op)
	if err != nil {
		return bufferCall{}, err
	}
	if other.ptr == b.ptr {
		c.leave()
		return bufferCall{}, invalidError(op, "the %s buffer wraps the same evbuffer", role)
	}
	return c, nil
}

func (c bufferCall) leave() {
	b := c.buf
	if b.staleCount.Load() > 0 && b.callbackDepth.Load() == 0 {
		b.removeStale()
	}
	if b.life.release() {
		b.free(false)
	}
	if c.base != nil {
		c.base.leave()
	}
	if b.owner != nil {
		b.owner.leave()
	}
}

// changed records a change to the buffer and returns the new change count.
func (b *Buffer) changed() uint64 {
	return b.changes.Add(1) + b.libeventCount()
}

// changeCount returns the number of changes made to the buffer through this
// package and, for a borrowed evbuffer, by libevent.
func (b *Buffer) changeCount() uint64 {
	return b.changes.Load() + b.libeventCount()
}

func (b *Buffer) libeventCount() uint64 {
	if b.libeventChanges == nil {
		return 0
	}
	return uint64(C.golibevent_load_u64(b.libeventChanges))
}

// Close frees the buffer (evbuffer_free). Data added by reference and file
// segments in it are released. Closing twice is harmless, and any later call
// returns an error that matches ErrClosed. Called from one of the buffer's
// callbacks or while another goroutine is in a call on it, Close marks the
// buffer closed at once and the memory is freed when the last call returns.
//
// A Buffer from a bufferevent belongs to it: Close removes the callbacks
// added through this wrapper and makes it unusable, but the evbuffer lives
// on until the bufferevent is freed.
//
// A buffer that defers its callbacks to a base created with NoLock cannot
// be freed from another goroutine while that base's loop runs: Close then
// returns an error that matches ErrNoLock and leaves the buffer open.
func (b *Buffer) Close() error {
	if b == nil || b.ptr == nil {
		return nil
	}
	const op = "evbuffer_free"
	if b.owner != nil {
		if b.owner.enter(op) != nil {
			// The owner is being freed and detaches the wrapper.
			b.life.close()
			return nil
		}
		defer b.owner.leave()
	}
	if base := b.deferBase.Load(); base != nil {
		err := base.enter(op)
		if errors.Is(err, ErrNoLock) {
			return err
		}
		if err != nil {
			// The base is closing, and Base.free frees the buffer.
			b.life.close()
			return nil
		}
		defer base.leave()
	}
	if first, idle := b.life.close(); first && idle {
		b.free(false)
	}
	return nil
}

// free releases what the buffer holds in C. It runs once, when the buffer is
// closed and no call is in flight. inCallback reports that the last call was
// one of the buffer's callbacks, so libevent may still be walking the list of
// callback entries, which must then stay allocated.
func (b *Buffer) free(inCallback bool) {
	if b.owner != nil {
		b.dropCallbacks(!inCallback)
		return
	}
	base := b.deferBase.Load()
	if base == nil {
		// Without a deferring base, callbacks run only inside the
		// calls of this package, which hold the buffer, so the last
		// release never comes from a callback.
		b.releaseC()
		return
	}
	if !inCallback {
		if base.removeChild(b) {
			b.releaseC()
		}
		return
	}
	// The base's loop is running this buffer's deferred callbacks.
	// Disabled entries are skipped, and the rest of the work runs from
	// the loop once that run has finished. If the base is closing
	// instead, Base.free frees the buffer.
	b.dropCallbacks(false)
	_ = base.Post(func() {
		if base.removeChild(b) {
			b.releaseC()
		}
	})
}

// freeWithBase frees a buffer whose deferring base is being freed. The
// evbuffer must go first, because freeing it touches the base. Base.free
// calls it with no call in flight on the base, and every call on the buffer
// holds the base.
func (b *Buffer) freeWithBase() {
	b.life.close()
	b.releaseC()
}

// releaseC frees the evbuffer of an owned buffer and releases the registry
// keys of its callbacks.
func (b *Buffer) releaseC() {
	b.mu.Lock()
	dropped := b.stale
	b.stale = nil
	b.staleCount.Store(0)
	for cb := range b.callbacks {
		cb.removed.Store(true)
		dropped = append(dropped, cb)
	}
	b.callbacks = nil
	b.mu.Unlock()
	entries := make([]*C.struct_evbuffer_cb_entry, len(dropped))
	for i, cb := range dropped {
		entries[i] = cb.entry
	}

	if b.deferBase.Load() != nil {
		var first **C.struct_evbuffer_cb_entry
		if len(entries) > 0 {
			first = &entries[0]
		}
		// NOTE: if a deferred run of the callbacks is scheduled, libevent
		// keeps the emptied evbuffer until the base's loop runs it. If
		// the base is freed first, libevent cancels the run and the
		// evbuffer struct (not its data) is never freed.
		C.golibevent_buffer_free_deferring(b.ptr, first, C.int(len(entries)))
	} else {
		// evbuffer_free frees the callback entries without running
		// any callback.
		C.evbuffer_free(b.ptr)
	}
	for _, cb := range dropped {
		handles.release(cb.key)
	}
}

// Len returns the number of bytes in the buffer (evbuffer_get_length), or 0
// after Close.
func (b *Buffer) Len() int {
	c, err := b.enter("evbuffer_get_length")
	if err != nil {
		return 0
	}
	defer c.leave()
	return int(C.evbuffer_get_length(b.ptr))
}

// ContiguousSpace returns the number of bytes at the front of the buffer
// that are stored contiguously (evbuffer_get_contiguous_space): Pullup of at
// most that many bytes copies nothing. It returns 0 after Close.
func (b *Buffer) ContiguousSpace() int {
	c, err := b.enter("evbuffer_get_contiguous_space")
	if err != nil {
		return 0
	}
	defer c.leave()
	return int(C.evbuffer_get_contiguous_space(b.ptr))
}

// Expand makes room for n more bytes at the back, so that adding them
// allocates nothing (evbuffer_expand).
func (b *Buffer) Expand(n int) error {
	const op = "evbuffer_expand"
	if n < 0 {
		return invalidError(op, "negative size %d", n)
	}
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	r, errno := C.evbuffer_expand(b.ptr, C.size_t(n))
	b.changed()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// checkFront fails when the front of the buffer is frozen.
func (b *Buffer) checkFront(op string) error {
	if b.frozenFront.Load() {
		return wrapError(op, ErrFrozen)
	}
	return nil
}

// checkBack fails when the back of the buffer is frozen.
func (b *Buffer) checkBack(op string) error {
	if b.frozenBack.Load() {
		return wrapError(op, ErrFrozen)
	}
	return nil
}

// checkReadable fails while the buffer may hold data that sendfile sends
// (see sendfileData).
func (b *Buffer) checkReadable(op string) error {
	b.forgetSendfileIfEmpty()
	if b.sendfileData.Load() {
		return invalidError(op, "the buffer contains file data for sendfile, which only WriteFd, WriteFdAtMost, Drain and whole moves to another Buffer can handle")
	}
	return nil
}

// forgetSendfileIfEmpty drops the sendfile mark of an empty buffer. The
// calls that remove data call it, so that new data is readable again.
func (b *Buffer) forgetSendfileIfEmpty() {
	if b.sendfileData.Load() && C.evbuffer_get_length(b.ptr) == 0 {
		b.sendfileData.Store(false)
	}
}

// Add appends a copy of data to the buffer (evbuffer_add).
func (b *Buffer) Add(data []byte) error {
	if len(data) == 0 {
		return b.add("evbuffer_add", nil, 0)
	}
	return b.add("evbuffer_add", unsafe.Pointer(&data[0]), len(data))
}

// AddString appends a copy of s to the buffer (evbuffer_add).
func (b *Buffer) AddString(s string) error {
	return b.add("evbuffer_add", unsafe.Pointer(unsafe.StringData(s)), len(s))
}

func (b *Buffer) add(op string, data unsafe.Pointer, n int) error {
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if err := b.checkBack(op); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	r, errno := C.evbuffer_add(b.ptr, data, C.size_t(n))
	b.changed()
	rethrowSyncPanic()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// Write appends a copy of p to the buffer. It implements [io.Writer].
func (b *Buffer) Write(p []byte) (int, error) {
	if err := b.Add(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString appends a copy of s to the buffer. It implements
// [io.StringWriter].
func (b *Buffer) WriteString(s string) (int, error) {
	if err := b.AddString(s); err != nil {
		return 0, err
	}
	return len(s), nil
}

// Prepend inserts a copy of data at the front of the buffer
// (evbuffer_prepend).
func (b *Buffer) Prepend(data []byte) error {
	const op = "evbuffer_prepend"
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if err := b.checkFront(op); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	r, errno := C.evbuffer_prepend(b.ptr, unsafe.Pointer(&data[0]), C.size_t(len(data)))
	b.changed()
	rethrowSyncPanic()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// Remove moves up to len(p) bytes from the front of the buffer into p and
// returns how many it moved (evbuffer_remove). On an empty buffer it returns
// 0 and no error.
func (b *Buffer) Remove(p []byte) (int, error) {
	const op = "evbuffer_remove"
	c, err := b.enter(op)
	if err != nil {
		return 0, err
	}
	defer c.leave()
	if err := b.checkFront(op); err != nil {
		return 0, err
	}
	if err := b.checkReadable(op); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	r, errno := C.evbuffer_remove(b.ptr, unsafe.Pointer(&p[0]), C.size_t(min(len(p), maxChunk)))
	if r > 0 {
		b.changed()
	}
	rethrowSyncPanic()
	if r < 0 {
		return 0, opError(op, errno)
	}
	return int(r), nil
}

// Read moves up to len(p) bytes from the front of the buffer into p. It
// implements [io.Reader]. Like bytes.Buffer, it returns io.EOF when the
// buffer is empty, unless len(p) is zero.
func (b *Buffer) Read(p []byte) (int, error) {
	n, err := b.Remove(p)
	if err == nil && n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, err
}

// ReadByte removes and returns the first byte of the buffer. It implements
// [io.ByteReader]. It returns io.EOF when the buffer is empty.
func (b *Buffer) ReadByte() (byte, error) {
	var one [1]byte
	n, err := b.Remove(one[:])
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return one[0], nil
}

// Drain removes the first n bytes of the buffer, or all of them if it
// contains fewer (evbuffer_drain).
func (b *Buffer) Drain(n int) error {
	const op = "evbuffer_drain"
	if n < 0 {
		return invalidError(op, "negative size %d", n)
	}
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if err := b.checkFront(op); err != nil {
		return err
	}
	// Draining nothing changes nothing, so it must not cancel a
	// reservation or make positions stale.
	if n == 0 || C.evbuffer_get_length(b.ptr) == 0 {
		return nil
	}
	r, errno := C.evbuffer_drain(b.ptr, C.size_t(n))
	b.changed()
	b.forgetSendfileIfEmpty()
	rethrowSyncPanic()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// CopyOut copies up to len(p) bytes from the front of the buffer into p and
// returns how many it copied, leaving the buffer unchanged
// (evbuffer_copyout). libevent rejects it while the front is frozen.
func (b *Buffer) CopyOut(p []byte) (int, error) {
	const op = "evbuffer_copyout"
	c, err := b.enter(op)
	if err != nil {
		return 0, err
	}
	defer c.leave()
	if err := b.checkFront(op); err != nil {
		return 0, err
	}
	if err := b.checkReadable(op); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	r, errno := C.evbuffer_copyout(b.ptr, unsafe.Pointer(&p[0]), C.size_t(len(p)))
	if r < 0 {
		return 0, opError(op, errno)
	}
	return int(r), nil
}
