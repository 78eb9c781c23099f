//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BufferEventOptions are the options of a new bufferevent (BEV_OPT_*).
type BufferEventOptions int

const (
	// BEVOptCloseOnFree closes the descriptor when the bufferevent is
	// closed.
	BEVOptCloseOnFree BufferEventOptions = 0x01
	// BEVOptThreadSafe gives the bufferevent a lock, so that any goroutine
	// may call its methods. Without it, calls from another goroutine while
	// the base's loop runs return an error that matches ErrNotThreadSafe.
	BEVOptThreadSafe BufferEventOptions = 0x02
	// BEVOptDeferCallbacks runs the callbacks from the loop instead of
	// inside the operation that triggered them.
	BEVOptDeferCallbacks BufferEventOptions = 0x04
	// BEVOptUnlockCallbacks runs deferred callbacks without holding the
	// bufferevent's lock; it needs BEVOptDeferCallbacks.
	BEVOptUnlockCallbacks BufferEventOptions = 0x08

	allBufferEventOptions = BEVOptCloseOnFree | BEVOptThreadSafe | BEVOptDeferCallbacks | BEVOptUnlockCallbacks
)

// BEVEvents are the conditions that a bufferevent's event callback reports
// (BEV_EVENT_*).
type BEVEvents int16

const (
	// BEVEventReading marks an event that happened while reading.
	BEVEventReading BEVEvents = 0x01
	// BEVEventWriting marks an event that happened while writing.
	BEVEventWriting BEVEvents = 0x02
	// BEVEventEOF reports the end of the stream.
	BEVEventEOF BEVEvents = 0x10
	// BEVEventError reports an error; the callback's err holds its errno.
	BEVEventError BEVEvents = 0x20
	// BEVEventTimeout reports that a read or write timeout expired.
	BEVEventTimeout BEVEvents = 0x40
	// BEVEventConnected reports that a connect finished.
	BEVEventConnected BEVEvents = 0x80
)

var bevEventNames = []struct {
	event BEVEvents
	name  string
}{
	{BEVEventReading, "Reading"},
	{BEVEventWriting, "Writing"},
	{BEVEventEOF, "EOF"},
	{BEVEventError, "Error"},
	{BEVEventTimeout, "Timeout"},
	{BEVEventConnected, "Connected"},
}

func (e BEVEvents) String() string {
	var out []byte
	for _, n := range bevEventNames {
		if e&n.event != 0 {
			if len(out) > 0 {
				out = append(out, '|')
			}
			out = append(out, n.name...)
			e &^= n.event
		}
	}
	if e != 0 {
		if len(out) > 0 {
			out = append(out, '|')
		}
		out = fmt.Appendf(out, "0x%x", int(e))
	}
	if len(out) == 0 {
		return "0"
	}
	return string(out)
}

// FlushMode selects how Flush treats the data (BEV_NORMAL, BEV_FLUSH,
// BEV_FINISHED).
type FlushMode int

const (
	// FlushNormal processes data as usual.
	FlushNormal FlushMode = 0
	// FlushAll writes out as much data as possible, ignoring watermarks and
	// filters' wish to wait for more.
	FlushAll FlushMode = 1
	// FlushFinished is FlushAll, and also tells filters that no more data
	// follows.
	FlushFinished FlushMode = 2
)

// BufferEventFunc is a read or write callback of a bufferevent.
type BufferEventFunc func(bev *BufferEvent)

// BufferEventEventFunc is the event callback of a bufferevent. err is the
// errno of a BEVEventError as a syscall.Errno, a *DNSError when a
// ConnectHostname lookup failed, or nil. For an OpenSSL bufferevent it is a
// *TLSError, which wraps the errno where there is one.
type BufferEventEventFunc func(bev *BufferEvent, what BEVEvents, err error)

// BufferEvent is a bufferevent: a descriptor (or a pair partner, or a
// filtered bufferevent) with an input and an output buffer that libevent
// fills and drains from the loop. Create one with [Base.NewBufferEvent] or
// [Base.NewBufferEventPair].
type BufferEvent struct {
	st      *C.struct_golibevent_bev
	ptr     *C.struct_bufferevent
	key     unsafe.Pointer
	base    *Base
	life    lifetime
	options BufferEventOptions

	mu      sync.Mutex // guards the callbacks and links
	readFn  BufferEventFunc
	writeFn BufferEventFunc
	eventFn BufferEventEventFunc
	// links is nil until one of its fields is set: most bufferevents of a
	// server never need them, and an idle connection then costs 48 bytes
	// less.
	links *bufferEventLinks

	// released is set by the first call of release, which base.free and a
	// filter's release can both reach.
	released atomic.Bool
	// guard keeps Close, Enable and Disable from another goroutine from
	// waiting for a running callback.
	guard callbackGuard
}

// bufferEventLinks are a BufferEvent's links to other objects.
type bufferEventLinks struct {
	partner *BufferEvent
	bucket  *TokenBucket    // set by SetRateLimit
	group   *RateLimitGroup // set by RateLimitGroup.Add
	input   *Buffer         // made by Input on first use
	output  *Buffer         // made by Output on first use
	ownedBy *BufferEvent    // the filter that closes this bufferevent
	owns    *BufferEvent    // the bufferevent this filter closes
	tls     tlsReference    // set for an OpenSSL bufferevent
	dnsHost string          // the host of the last ConnectHostname
	// lookupIn is the resolver of a ConnectHostname lookup that may still
	// run in libevent: set until the connect or error event, or the free.
	lookupIn *DNSBase
	// foreign is set for a bufferevent from WrapBufferEvent, which C code
	// owns.
	foreign *foreignBufferEvent
}

// tlsReference is the package's own reference to the SSL object of an
// OpenSSL bufferevent, dropped once no callback can use the bufferevent.
type tlsReference interface {
	drop()
}

// linked returns a copy of the links, all nil when none was set. The caller
// holds bev.mu.
func (bev *BufferEvent) linked() bufferEventLinks {
	if bev.links == nil {
		return bufferEventLinks{}
	}
	return *bev.links
}

// linksLocked returns the links to set one of them, allocating them on
// first use. The caller holds bev.mu.
func (bev *BufferEvent) linksLocked() *bufferEventLinks {
	if bev.links == nil {
		bev.links = new(bufferEventLinks)
	}
	return bev.links
}

// ErrNotThreadSafe reports a call from another goroutine while the base's
// loop runs, on an object that was created without its thread-safe option.
var ErrNotThreadSafe = errors.New("object is not thread-safe and its base's loop runs on another goroutine; use Post or the thread-safe option")

// NewBufferEvent creates a bufferevent on the connected socket fd, or on no
// descriptor when fd is -1, for a later Connect or SetFd
// (bufferevent_socket_new). The descriptor must be non-blocking. Reading and
// writing start disabled and enabled respectively, as in libevent: call
// Enable(EvRead) to start reading.
func (b *Base) NewBufferEvent(fd int, options BufferEventOptions) (*BufferEvent, error) {
	const op = "bufferevent_socket_new"
	if err := checkBufferEventOptions(op, options); err != nil {
		return nil, err
	}
	if fd < -1 {
		return nil, invalidError(op, "invalid descriptor %d", fd)
	}
	if fd >= 0 {
		if err := checkDescriptor(op, fd, b); err != nil {
			return nil, err
		}
		if err := checkNonBlocking(op, fd); err != nil {
			return nil, err
		}
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	bev := &BufferEvent{base: b, options: options}
	bev.key = handles.register(bev)
	st, errno := C.golibevent_bev_new(b.ptr, C.evutil_socket_t(fd), C.int(options), bev.key)
	if st == nil {
		handles.release(bev.key)
		return nil, opError(op, errno)
	}
	bev.attach(st)
	return bev, nil
}

// NewBufferEventPair creates two bufferevents whose output is the other's
// input, with no descriptor between them (bufferevent_pair_new). libevent
// 2.1 always defers a pair's callbacks to the loop, so the pair's options
// include BEVOptDeferCallbacks.
func (b *Base) NewBufferEventPair(options BufferEventOptions) (*BufferEvent, *BufferEvent, error) {
	const op = "bufferevent_pair_new"
	if err := checkBufferEventOptions(op, options); err != nil {
		return nil, nil, err
	}
	// A pair has no descriptor to close, and libevent 2.1 always defers a
	// pair's callbacks.
	options &^= BEVOptCloseOnFree
	options |= BEVOptDeferCallbacks
	if err := b.enter(op); err != nil {
		return nil, nil, err
	}
	defer b.leave()

	first := &BufferEvent{base: b, options: options}
	second := &BufferEvent{base: b, options: options}
	first.key = handles.register(first)
	second.key = handles.register(second)
	var states [2]*C.struct_golibevent_bev
	r, errno := C.golibevent_bev_pair_new(b.ptr, C.int(options), first.key, second.key, &states[0])
	if r != 0 {
		handles.release(first.key)
		handles.release(second.key)
		return nil, nil, opError(op, errno)
	}
	first.attach(states[0])
	second.attach(states[1])
	first.linksLocked().partner = second
	second.linksLocked().partner = first
	return first, second, nil
}

func checkBufferEventOptions(op string, options BufferEventOptions) error {
	if options&^allBufferEventOptions != 0 {
		return invalidError(op, "unknown options 0x%x", int(options&^allBufferEventOptions))
	}
	if options&BEVOptUnlockCallbacks != 0 && options&BEVOptDeferCallbacks == 0 {
		return invalidError(op, "BEVOptUnlockCallbacks needs BEVOptDeferCallbacks")
	}
	return nil
}

func (bev *BufferEvent) attach(st *C.struct_golibevent_bev) {
	bev.st = st
	bev.ptr = st.bev
	bev.base.addChild(bev)
}

// enter starts a call on the bufferevent; every successful enter is paired
// with leave.
func (bev *BufferEvent) enter(op string) error {
	if bev == nil || bev.st == nil {
		return invalidError(op, "the BufferEvent was not created by NewBufferEvent")
	}
	b := bev.base
	if err := b.enter(op); err != nil {
		return err
	}
	if !bev.life.acquire() {
		b.leave()
		return wrapError(op, ErrClosed)
	}
	if bev.options&BEVOptThreadSafe == 0 && !b.noLock && b.running.Load() && !b.onLoopThread() {
		bev.leave()
		return wrapError(op, ErrNotThreadSafe)
	}
	return nil
}

func (bev *BufferEvent) leave() {
	if bev.life.release() {
		bev.free()
	}
	bev.base.leave()
}

// free releases the C bufferevent, unless Base.free has taken it over. The
// caller holds the base.
func (bev *BufferEvent) free() {
	if !bev.base.removeChild(bev) {
		return
	}
	bev.release()
}

func (bev *BufferEvent) freeWithBase() {
	bev.life.close()
	bev.release()
}

// release frees the bufferevent and then, once no callback can still be
// using them, its handle and C state.
func (bev *BufferEvent) release() {
	if !bev.released.CompareAndSwap(false, true) {
		return
	}
	bev.mu.Lock()
	owner, owned := bev.linked().ownedBy, bev.linked().owns
	bev.mu.Unlock()
	if owned != nil {
		// libevent frees the owned bufferevent with this filter; its Go
		// side goes first, while the C object is still valid.
		owned.life.close()
		owned.base.removeChild(owned)
		owned.release()
	}
	bev.leaveLimits()
	bev.mu.Lock()
	input, output, tls := bev.linked().input, bev.linked().output, bev.linked().tls
	foreign := bev.linked().foreign
	bev.mu.Unlock()
	if input != nil {
		input.detach()
	}
	if output != nil {
		output.detach()
	}
	if foreign != nil {
		bev.releaseForeign(foreign)
		return
	}
	st, key := bev.st, bev.key
	if owner != nil {
		// The filter frees this bufferevent; the package's evbuffer
		// callbacks were removed when the filter took it over.
		bev.base.releaseAfterCallbacks(func() {
			C.golibevent_bev_state_free(st)
			handles.release(key)
			if tls != nil {
				tls.drop()
			}
		})
		return
	}
	C.golibevent_bev_free(st)
	// libevent has cancelled the lookup, if any, so its resolver may go.
	bev.endLookup()
	bev.base.releaseAfterCallbacks(func() {
		C.golibevent_bev_state_free(st)
		handles.release(key)
		if tls != nil {
			tls.drop()
		}
	})
}

// leaveLimits takes the bufferevent out of its rate limit group and drops its
// rate limit. libevent finishes freeing a bufferevent only when its last
// reference goes, which pending deferred callbacks can delay, but a group
// cannot be freed with members and the TokenBucket may be freed next.
func (bev *BufferEvent) leaveLimits() {
	bev.mu.Lock()
	var bucket *TokenBucket
	var group *RateLimitGroup
	if l := bev.links; l != nil {
		bucket, group = l.bucket, l.group
		l.bucket, l.group = nil, nil
	}
	bev.mu.Unlock()
	if group != nil {
		C.bufferevent_remove_from_rate_limit_group(bev.ptr)
		group.forget(bev)
	}
	if bucket != nil {
		C.bufferevent_set_rate_limit(bev.ptr, nil)
		bucket.unuse()
	}
}

// Close frees the bufferevent (bufferevent_free), and closes its descriptor
// if it was created with BEVOptCloseOnFree. Data still in the output buffer
// is dropped. After Close no callback of the bufferevent starts. It is safe
// in the bufferevent's own callbacks. Closing twice is harmless. Called from
// another goroutine while one of the bufferevent's callbacks runs, Close
// returns at once and the loop frees the bufferevent after the callback.
func (bev *BufferEvent) Close() error {
	if bev == nil || bev.st == nil {
		return nil
	}
	b := bev.base
	if !b.life.acquire() {
		bev.life.close()
		return nil
	}
	defer b.leave()
	if bev.options&BEVOptThreadSafe == 0 && !b.noLock && b.running.Load() && !b.onLoopThread() {
		return wrapError("bufferevent_free", ErrNotThreadSafe)
	}
	bev.mu.Lock()
	owner := bev.linked().ownedBy
	bev.mu.Unlock()
	if owner != nil {
		// The filter that took it over closes it.
		return nil
	}
	first, idle := bev.life.close()
	if !first || !idle {
		return nil
	}
	if bev.guard.shouldQueue(b) {
		// If the base closes before the loop gets to it, Base.free frees
		// the bufferevent instead.
		_ = bev.guard.queue(b, bev.free)
		return nil
	}
	bev.free()
	return nil
}

// SetCallbacks sets the read, write and event callbacks
// (bufferevent_setcb). A nil function removes that callback. The read
// callback runs when the input has reached the low read watermark, the write
// callback when the output has drained to the low write watermark, and the
// event callback on EOF, errors, timeouts and a finished connect.
func (bev *BufferEvent) SetCallbacks(read, write BufferEventFunc, event BufferEventEventFunc) error {
	const op = "bufferevent_setcb"
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	bev.mu.Lock()
	bev.readFn, bev.writeFn, bev.eventFn = read, write, event
	bev.mu.Unlock()
	bev.installCallbacks()
	return nil
}

// installCallbacks gives libevent the C callbacks that the Go ones need. The
// event callback stays while a lookup by name may run, because its resolver
// waits for the event that ends it.
func (bev *BufferEvent) installCallbacks() {
	bev.mu.Lock()
	which := 0
	if bev.readFn != nil {
		which |= 1
	}
	if bev.writeFn != nil {
		which |= 2
	}
	if bev.eventFn != nil || bev.linked().lookupIn != nil {
		which |= 4
	}
	bev.mu.Unlock()
	C.golibevent_bev_setcb(bev.st, C.int(which))
}

func (bev *BufferEvent) callbacks() (read, write BufferEventFunc, event BufferEventEventFunc) {
	bev.mu.Lock()
	defer bev.mu.Unlock()
	return bev.readFn, bev.writeFn, bev.eventFn
}

// Enable starts reading, writing or both (bufferevent_enable); what is EvRead,
// EvWrite or both.
func (bev *BufferEvent) Enable(what EventFlags) error {
	return bev.enableDisable("bufferevent_enable", what, true)
}

// Disable stops reading, writing or both (bufferevent_disable). Enable and
// Disable from another goroutine while one of the bufferevent's callbacks
// runs return at once and take effect on the loop after the callback.
func (bev *BufferEvent) Disable(what EventFlags) error {
	return bev.enableDisable("bufferevent_disable", what, false)
}

func (bev *BufferEvent) enableDisable(op string, what EventFlags, enable bool) error {
	if what&^(EvRead|EvWrite) != 0 || what == 0 {
		return invalidError(op, "invalid flags %v; use EvRead, EvWrite or both", what)
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	if bev.guard.shouldQueue(bev.base) {
		return bev.guard.queue(bev.base, func() {
			if err := bev.enableDisable(op, what, enable); err != nil && !errors.Is(err, ErrClosed) {
				currentLogger().Error("libevent: a queued bufferevent call failed", slog.String("op", op), slog.Any("error", err))
			}
		})
	}
	var r C.int
	var errno error
	if enable {
		r, errno = C.golibevent_bev_enable(bev.st, C.short(what))
	} else {
		r, errno = C.golibevent_bev_disable(bev.st, C.short(what))
	}
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// Enabled returns the directions that are enabled (bufferevent_get_enabled).
// Reading counts as enabled while the package holds it back because the
// input is at the high watermark.
func (bev *BufferEvent) Enabled() EventFlags {
	if bev.enter("bufferevent_get_enabled") != nil {
		return 0
	}
	defer bev.leave()
	return EventFlags(C.golibevent_bev_get_enabled(bev.st))
}

// Write appends p to the output buffer (bufferevent_write); libevent sends
// it from the loop, or Write sends it at once with write-through on (see
// [BufferEvent.SetWriteThrough]). It implements io.Writer.
func (bev *BufferEvent) Write(p []byte) (int, error) {
	const op = "bufferevent_write"
	if err := bev.enter(op); err != nil {
		return 0, err
	}
	defer bev.leave()
	if len(p) == 0 {
		return 0, nil
	}
	if C.golibevent_bev_write(bev.st, unsafe.Pointer(&p[0]), C.size_t(len(p))) != 0 {
		return 0, opError(op, nil)
	}
	return len(p), nil
}

// WriteString appends s to the output buffer, as Write does. It implements
// io.StringWriter.
func (bev *BufferEvent) WriteString(s string) (int, error) {
	const op = "bufferevent_write"
	if err := bev.enter(op); err != nil {
		return 0, err
	}
	defer bev.leave()
	if len(s) == 0 {
		return 0, nil
	}
	if C.golibevent_bev_write(bev.st, unsafe.Pointer(unsafe.StringData(s)), C.size_t(len(s))) != 0 {
		return 0, opError(op, nil)
	}
	return len(s), nil
}

// Input returns the input buffer (bufferevent_get_input), which libevent
// fills from the descriptor or the partner. Its back end is frozen: only
// libevent adds to it. The Buffer belongs to the bufferevent, so it becomes
// unusable when the bufferevent is closed and its Close does nothing to the
// data. Positions and reservations in it go stale when libevent reads into
// it. It returns nil after Close.
func (bev *BufferEvent) Input() *Buffer {
	return bev.borrowed("bufferevent_get_input", true)
}

// Output returns the output buffer (bufferevent_get_output), from which
// libevent writes. Its front end is frozen: only libevent removes from it.
// The rules of Input apply.
func (bev *BufferEvent) Output() *Buffer {
	return bev.borrowed("bufferevent_get_output", false)
}

func (bev *BufferEvent) borrowed(op string, input bool) *Buffer {
	if bev == nil || bev.st == nil {
		return nil
	}
	b := bev.base
	if !b.life.acquire() {
		return nil
	}
	defer b.leave()
	if !bev.life.acquire() {
		return nil
	}
	defer func() {
		if bev.life.release() {
			bev.free()
		}
	}()
	if buf := bev.existingBorrowed(input); buf != nil {
		return buf
	}

	// The change counter that keeps positions honest needs the buffer's
	// callback. Adding it changes the evbuffer's callback list, which only
	// the loop's goroutine may do on a bufferevent without a lock while the
	// loop runs.
	var r C.int
	track := func() { r = C.golibevent_bev_track(bev.st, boolInt(input)) }
	if bev.options&BEVOptThreadSafe != 0 {
		track()
	} else if b.callOnLoop(track) != nil {
		return nil
	}
	if r != 0 {
		return nil
	}

	bev.mu.Lock()
	defer bev.mu.Unlock()
	locking := bev.options&BEVOptThreadSafe != 0
	l := bev.linksLocked()
	switch {
	case input && l.input == nil:
		l.input = borrowBuffer(C.bufferevent_get_input(bev.ptr), bev, b, 0, locking, &bev.st.input_changes)
		l.input.frozenBack.Store(true)
	case !input && l.output == nil:
		l.output = borrowBuffer(C.bufferevent_get_output(bev.ptr), bev, b, 0, locking, &bev.st.output_changes)
		l.output.frozenFront.Store(true)
	}
	if input {
		return l.input
	}
	return l.output
}

func (bev *BufferEvent) existingBorrowed(input bool) *Buffer {
	bev.mu.Lock()
	defer bev.mu.Unlock()
	if input {
		return bev.linked().input
	}
	return bev.linked().output
}

// ReadBuffer moves all of the input into dst without copying
// (bufferevent_read_buffer).
func (bev *BufferEvent) ReadBuffer(dst *Buffer) error {
	const op = "bufferevent_read_buffer"
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	c, err := dst.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if err := dst.checkBack(op); err != nil {
		return err
	}
	dst.changed()
	if C.bufferevent_read_buffer(bev.ptr, dst.ptr) != 0 {
		if err := bev.frozenError(op, true); err != nil {
			return err
		}
		return opError(op, nil)
	}
	return nil
}

// WriteBuffer moves all of src into the output without copying
// (bufferevent_write_buffer). With write-through on, what the socket takes
// at once is written from src instead.
func (bev *BufferEvent) WriteBuffer(src *Buffer) error {
	const op = "bufferevent_write_buffer"
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	c, err := src.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if err := src.checkFront(op); err != nil {
		return err
	}
	if err := src.checkReadable(op); err != nil {
		return err
	}
	src.changed()
	if C.golibevent_bev_write_buffer(bev.st, src.ptr) != 0 {
		if err := bev.frozenError(op, false); err != nil {
			return err
		}
		return opError(op, nil)
	}
	return nil
}

// MoveInputTo moves all of the input buffer to the output buffer of dst
// without copying (evbuffer_add_buffer), as a relay between two
// connections does, and returns the number of bytes moved. dst may be bev
// itself, which echoes the input. It is one call into C, where ReadBuffer
// and dst.WriteBuffer are two. Both bufferevents must be usable from the
// calling goroutine. The event callback reports the peer's EOF as usual.
// libevent 2.1 has no call that half-closes a bufferevent. A relay that
// passes the EOF on therefore shuts down the writing side of dst's
// descriptor itself, once dst's output is empty.
func (bev *BufferEvent) MoveInputTo(dst *BufferEvent) (int, error) {
	const op = "evbuffer_add_buffer"
	if dst == nil {
		return 0, invalidError(op, "nil destination BufferEvent")
	}
	if err := bev.enter(op); err != nil {
		return 0, err
	}
	defer bev.leave()
	if dst != bev {
		if err := dst.enter(op); err != nil {
			return 0, destinationError(err)
		}
		defer dst.leave()
	}
	n := C.golibevent_bev_move_input(bev.ptr, dst.st)
	if n < 0 {
		if err := bev.frozenError(op, true); err != nil {
			return 0, err
		}
		if err := dst.frozenError(op, false); err != nil {
			return 0, destinationError(err)
		}
		return 0, opError(op, nil)
	}
	return int(n), nil
}

// destinationError marks err, which the destination of a move returned,
// as the destination's.
func destinationError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Op: e.Op, Err: fmt.Errorf("destination: %w", e.Err)}
	}
	return err
}

// frozenError returns an error matching ErrFrozen when the caller froze,
// through Input or Output, the end of a buffer that a move needs: the
// front of the input buffer (input true) or the back of the output
// buffer. libevent refuses such a move without saying why.
func (bev *BufferEvent) frozenError(op string, input bool) error {
	buf := bev.existingBorrowed(input)
	if buf == nil {
		return nil
	}
	if input {
		return buf.checkFront(op)
	}
	return buf.checkBack(op)
}

// Read moves up to len(p) bytes from the input buffer into p
// (bufferevent_read). It implements io.Reader with the rule of
// bytes.Buffer: io.EOF means that the input buffer is empty now, not that
// the peer has closed; the event callback reports that.
func (bev *BufferEvent) Read(p []byte) (int, error) {
	const op = "bufferevent_read"
	if err := bev.enter(op); err != nil {
		return 0, err
	}
	defer bev.leave()
	if len(p) == 0 {
		return 0, nil
	}
	n := int(C.bufferevent_read(bev.ptr, unsafe.Pointer(&p[0]), C.size_t(len(p))))
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Connect connects the bufferevent to address, an IPv4 or IPv6 literal with
// a port such as "127.0.0.1:8080" or "[::1]:8080"
// (bufferevent_socket_connect). Without a descriptor, it creates a
// non-blocking socket. The event callback reports BEVEventConnected, or
// BEVEventError with the errno, such as ECONNREFUSED. Connect enables
// writing; enable reading to receive data.
func (bev *BufferEvent) Connect(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return invalidError("bufferevent_socket_connect", "address %q is not an IP address with a port: %v", address, err)
	}
	return bev.connectAddrPort(ap)
}

// ConnectAddr connects to a *net.TCPAddr or a *net.UnixAddr (for a unix
// socket path).
func (bev *BufferEvent) ConnectAddr(addr net.Addr) error {
	const op = "bufferevent_socket_connect"
	switch a := addr.(type) {
	case *net.TCPAddr:
		if a == nil {
			return invalidError(op, "nil address")
		}
		ap := a.AddrPort()
		if !ap.Addr().IsValid() {
			return invalidError(op, "address %v has no IP address", a)
		}
		return bev.connectAddrPort(ap)
	case *net.UnixAddr:
		if a == nil {
			return invalidError(op, "nil address")
		}
		return bev.ConnectUnix(a.Name)
	default:
		return invalidError(op, "unsupported address type %T; use *net.TCPAddr or *net.UnixAddr", addr)
	}
}

func (bev *BufferEvent) connectAddrPort(ap netip.AddrPort) error {
	const op = "bufferevent_socket_connect"
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	addr := ap.Addr()
	var family C.int = unix.AF_INET
	var raw []byte
	var scope uint32
	if addr.Is4() || addr.Is4In6() {
		a4 := addr.Unmap().As4()
		raw = a4[:]
	} else {
		family = unix.AF_INET6
		a16 := addr.As16()
		raw = a16[:]
		if zone := addr.Zone(); zone != "" {
			iface, err := net.InterfaceByName(zone)
			if err != nil {
				return invalidError(op, "unknown IPv6 zone %q: %v", zone, err)
			}
			scope = uint32(iface.Index)
		}
	}
	created, err := bev.socketForSelect(op, int(family))
	if err != nil {
		return err
	}
	r, errno := C.golibevent_bev_connect_ip(bev.st, family, (*C.uint8_t)(unsafe.Pointer(&raw[0])),
		C.int(ap.Port()), C.uint32_t(scope))
	if r != 0 {
		bev.dropSocket(created)
		return opError(op, errno)
	}
	return nil
}

// socketForSelect creates the socket for a connect on the select backend
// when the bufferevent has none, because libevent would create one that
// select may not be able to watch. It returns the descriptor it created, or
// -1.
func (bev *BufferEvent) socketForSelect(op string, family int) (int, error) {
	if bev.base.backend() != "select" || C.bufferevent_getfd(bev.ptr) >= 0 {
		return -1, nil
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &Error{Op: op, Err: err}
	}
	if err := bev.base.checkSelectLimit(op, fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	C.bufferevent_setfd(bev.ptr, C.evutil_socket_t(fd))
	return fd, nil
}

// dropSocket undoes socketForSelect after a failed connect; libevent closes
// only sockets that it created itself.
func (bev *BufferEvent) dropSocket(fd int) {
	if fd < 0 {
		return
	}
	C.bufferevent_setfd(bev.ptr, -1)
	unix.Close(fd)
}

// ConnectUnix connects to the unix socket at path.
func (bev *BufferEvent) ConnectUnix(path string) error {
	const op = "bufferevent_socket_connect"
	if path == "" {
		return invalidError(op, "empty unix socket path")
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	created, err := bev.socketForSelect(op, unix.AF_UNIX)
	if err != nil {
		return err
	}
	r, errno := C.golibevent_bev_connect_unix(bev.st, cpath)
	if r != 0 {
		bev.dropSocket(created)
		return opError(op, errno)
	}
	return nil
}

// SetWatermark sets the low and high watermarks for EvRead, EvWrite or both
// (bufferevent_setwatermark). The read callback runs once the input holds
// at least low bytes; reading stops while it holds high bytes or more (0
// means no limit). The write callback runs once the output has drained to
// low bytes or fewer.
//
// libevent 2.1 runs the read callback again at once, in a loop, while the
// input stays at or above the high watermark. The package stops that: after
// a read callback that leaves the input at the high watermark, reading pauses
// until the input drops below it, for example when another goroutine drains
// it.
func (bev *BufferEvent) SetWatermark(what EventFlags, low, high int) error {
	const op = "bufferevent_setwatermark"
	if what&^(EvRead|EvWrite) != 0 || what == 0 {
		return invalidError(op, "invalid flags %v; use EvRead, EvWrite or both", what)
	}
	if low < 0 || high < 0 {
		return invalidError(op, "negative watermark (low %d, high %d)", low, high)
	}
	if high != 0 && low > high {
		return invalidError(op, "low watermark %d above high watermark %d", low, high)
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	C.golibevent_bev_setwatermark(bev.st, C.short(what), C.size_t(low), C.size_t(high))
	return nil
}

// Watermark returns the low and high watermarks for EvRead or EvWrite
// (bufferevent_getwatermark).
func (bev *BufferEvent) Watermark(what EventFlags) (low, high int, err error) {
	const op = "bufferevent_getwatermark"
	if what != EvRead && what != EvWrite {
		return 0, 0, invalidError(op, "invalid flags %v; use EvRead or EvWrite", what)
	}
	if err := bev.enter(op); err != nil {
		return 0, 0, err
	}
	defer bev.leave()
	var l, h C.size_t
	if C.bufferevent_getwatermark(bev.ptr, C.short(what), &l, &h) != 0 {
		return 0, 0, opError(op, nil)
	}
	return int(l), int(h), nil
}

// SetTimeouts sets the read and write timeouts (bufferevent_set_timeouts); 0
// means none. When one expires, the event callback gets BEVEventTimeout with
// BEVEventReading or BEVEventWriting, and that direction is disabled.
func (bev *BufferEvent) SetTimeouts(read, write time.Duration) error {
	const op = "bufferevent_set_timeouts"
	if read < 0 || write < 0 {
		return invalidError(op, "negative timeout (read %v, write %v)", read, write)
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	toMicros := func(d time.Duration) C.int64_t {
		if d == 0 {
			return -1
		}
		return C.int64_t(durationToMicros(d))
	}
	if C.golibevent_bev_set_timeouts(bev.ptr, toMicros(read), toMicros(write)) != 0 {
		return opError(op, nil)
	}
	return nil
}

// Flush pushes data through the bufferevent in direction what (EvRead,
// EvWrite or both) in the given mode (bufferevent_flush). It returns whether
// any data was flushed. Socket bufferevents do nothing; filters and pairs
// act on it.
func (bev *BufferEvent) Flush(what EventFlags, mode FlushMode) (bool, error) {
	const op = "bufferevent_flush"
	if what&^(EvRead|EvWrite) != 0 || what == 0 {
		return false, invalidError(op, "invalid flags %v; use EvRead, EvWrite or both", what)
	}
	if mode < FlushNormal || mode > FlushFinished {
		return false, invalidError(op, "unknown flush mode %d", int(mode))
	}
	if err := bev.enter(op); err != nil {
		return false, err
	}
	defer bev.leave()
	r := C.bufferevent_flush(bev.ptr, C.short(what), C.enum_bufferevent_flush_mode(mode))
	if r < 0 {
		return false, opError(op, nil)
	}
	return r > 0, nil
}

// Trigger runs the read or write callback as if data had arrived or drained
// (bufferevent_trigger). With ignoreWatermarks it runs even if the
// watermark is not reached; with deferCallbacks it runs from the loop.
func (bev *BufferEvent) Trigger(what EventFlags, ignoreWatermarks, deferCallbacks bool) error {
	const op = "bufferevent_trigger"
	if what&^(EvRead|EvWrite) != 0 || what == 0 {
		return invalidError(op, "invalid flags %v; use EvRead, EvWrite or both", what)
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	C.bufferevent_trigger(bev.ptr, C.short(what), triggerOptions(ignoreWatermarks, deferCallbacks))
	return nil
}

// TriggerEvent runs the event callback with what as if it had happened
// (bufferevent_trigger_event).
func (bev *BufferEvent) TriggerEvent(what BEVEvents, deferCallbacks bool) error {
	const op = "bufferevent_trigger_event"
	if what&^(BEVEventReading|BEVEventWriting|BEVEventEOF|BEVEventError|BEVEventTimeout|BEVEventConnected) != 0 || what == 0 {
		return invalidError(op, "invalid events %v", what)
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	C.bufferevent_trigger_event(bev.ptr, C.short(what), triggerOptions(false, deferCallbacks))
	return nil
}

func triggerOptions(ignoreWatermarks, deferCallbacks bool) C.int {
	var options C.int
	if ignoreWatermarks {
		options |= C.BEV_TRIG_IGNORE_WATERMARKS
	}
	if deferCallbacks {
		options |= C.BEV_TRIG_DEFER_CALLBACKS
	}
	return options
}

// Fd returns the bufferevent's descriptor, or -1 (bufferevent_getfd).
func (bev *BufferEvent) Fd() int {
	if bev.enter("bufferevent_getfd") != nil {
		return -1
	}
	defer bev.leave()
	return int(C.bufferevent_getfd(bev.ptr))
}

// SetFd makes the bufferevent use fd, a connected non-blocking socket
// (bufferevent_setfd).
func (bev *BufferEvent) SetFd(fd int) error {
	const op = "bufferevent_setfd"
	if fd < -1 {
		return invalidError(op, "invalid descriptor %d", fd)
	}
	if fd >= 0 {
		if err := checkDescriptor(op, fd, bev.base); err != nil {
			return err
		}
		if err := checkNonBlocking(op, fd); err != nil {
			return err
		}
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	if C.bufferevent_setfd(bev.ptr, C.evutil_socket_t(fd)) != 0 {
		return opError(op, nil)
	}
	return nil
}

// SetPriority sets the priority of the bufferevent's events
// (bufferevent_priority_set).
func (bev *BufferEvent) SetPriority(priority int) error {
	const op = "bufferevent_priority_set"
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	if n := int(bev.base.npriorities.Load()); priority < 0 || priority >= n {
		return invalidError(op, "priority %d out of range [0, %d)", priority, n)
	}
	if C.bufferevent_priority_set(bev.ptr, C.int(priority)) != 0 {
		return opError(op, nil)
	}
	return nil
}

// Priority returns the priority of the bufferevent's events
// (bufferevent_get_priority), or -1 after Close.
func (bev *BufferEvent) Priority() int {
	if bev.enter("bufferevent_get_priority") != nil {
		return -1
	}
	defer bev.leave()
	return int(C.bufferevent_get_priority(bev.ptr))
}

// SetMaxSingleRead and SetMaxSingleWrite set how many bytes one read or
// write may move (bufferevent_set_max_single_read and _write); 0 restores
// libevent's default.
func (bev *BufferEvent) SetMaxSingleRead(n int) error {
	return bev.setMaxSingle("bufferevent_set_max_single_read", n, true)
}

// SetMaxSingleWrite is the write counterpart of SetMaxSingleRead.
func (bev *BufferEvent) SetMaxSingleWrite(n int) error {
	return bev.setMaxSingle("bufferevent_set_max_single_write", n, false)
}

func (bev *BufferEvent) setMaxSingle(op string, n int, read bool) error {
	if n < 0 || int64(n) > int64(^uint32(0)>>1) {
		return invalidError(op, "size %d out of range", n)
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	var r C.int
	if read {
		r = C.bufferevent_set_max_single_read(bev.ptr, C.size_t(n))
	} else {
		r = C.bufferevent_set_max_single_write(bev.ptr, C.size_t(n))
	}
	if r != 0 {
		return opError(op, nil)
	}
	return nil
}

// MaxSingleRead and MaxSingleWrite return the current limits
// (bufferevent_get_max_single_read and _write).
func (bev *BufferEvent) MaxSingleRead() int {
	if bev.enter("bufferevent_get_max_single_read") != nil {
		return 0
	}
	defer bev.leave()
	return int(C.bufferevent_get_max_single_read(bev.ptr))
}

// MaxSingleWrite is the write counterpart of MaxSingleRead.
func (bev *BufferEvent) MaxSingleWrite() int {
	if bev.enter("bufferevent_get_max_single_write") != nil {
		return 0
	}
	defer bev.leave()
	return int(C.bufferevent_get_max_single_write(bev.ptr))
}

// Partner returns the other end of a pair, or nil
// (bufferevent_pair_get_partner). It returns nil once the partner is closed.
func (bev *BufferEvent) Partner() *BufferEvent {
	if bev.enter("bufferevent_pair_get_partner") != nil {
		return nil
	}
	defer bev.leave()
	bev.mu.Lock()
	p := bev.linked().partner
	bev.mu.Unlock()
	if p == nil || p.life.isClosed() {
		return nil
	}
	return p
}

// Base returns the bufferevent's base (bufferevent_get_base).
func (bev *BufferEvent) Base() *Base {
	if bev == nil {
		return nil
	}
	return bev.base
}

// Options returns the options the bufferevent was created with.
func (bev *BufferEvent) Options() BufferEventOptions {
	if bev == nil {
		return 0
	}
	return bev.options
}

//export goBufferEventReadCallback
func goBufferEventReadCallback(key unsafe.Pointer) {
	bev, _ := handles.lookup(key).(*BufferEvent)
	if bev == nil {
		noteDropped("bufferevent read", -1)
		return
	}
	bev.guard.begin()
	defer bev.guard.end()
	if bev.life.isClosed() {
		noteDropped("bufferevent read", -1)
		return
	}
	read, _, _ := bev.callbacks()
	if read == nil {
		return
	}
	defer bev.base.recoverCallback()
	read(bev)
}

//export goBufferEventWriteCallback
func goBufferEventWriteCallback(key unsafe.Pointer) {
	bev, _ := handles.lookup(key).(*BufferEvent)
	if bev == nil {
		noteDropped("bufferevent write", -1)
		return
	}
	bev.guard.begin()
	defer bev.guard.end()
	if bev.life.isClosed() {
		noteDropped("bufferevent write", -1)
		return
	}
	_, write, _ := bev.callbacks()
	if write == nil {
		return
	}
	defer bev.base.recoverCallback()
	write(bev)
}

//export goBufferEventEventCallback
func goBufferEventEventCallback(what C.short, errnum C.int, key unsafe.Pointer) {
	bev, _ := handles.lookup(key).(*BufferEvent)
	if bev == nil {
		noteDropped("bufferevent event", -1)
		return
	}
	bev.guard.begin()
	defer bev.guard.end()
	if bev.life.isClosed() {
		noteDropped("bufferevent event", -1)
		return
	}
	if BEVEvents(what)&(BEVEventConnected|BEVEventError) != 0 {
		bev.endLookup()
	}
	var err error
	if BEVEvents(what)&BEVEventError != 0 {
		// After a failed lookup errnum is a stale errno, such as the
		// EINPROGRESS of an earlier connect, so the DNS error comes first.
		err = bev.dnsError()
	}
	if err == nil && errnum != 0 {
		err = syscall.Errno(errnum)
	}
	bev.runEventCallback(BEVEvents(what), err)
}

// runEventCallback runs the event callback, if one is set, on the loop
// thread.
func (bev *BufferEvent) runEventCallback(what BEVEvents, err error) {
	_, _, event := bev.callbacks()
	if event == nil {
		return
	}
	defer bev.base.recoverCallback()
	event(bev, what, err)
}
