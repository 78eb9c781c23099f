//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EventFlags are the conditions an event waits for and the conditions that
// made it fire (EV_*).
type EventFlags int16

const (
	// EvTimeout reports that the event's timeout expired.
	EvTimeout EventFlags = 0x01
	// EvRead waits for the descriptor to become readable.
	EvRead EventFlags = 0x02
	// EvWrite waits for the descriptor to become writable.
	EvWrite EventFlags = 0x04
	// EvPersist keeps the event pending after it fires; without it the
	// event must be added again.
	EvPersist EventFlags = 0x10
	// EvET requests edge-triggered notification, on backends with
	// FeatureET (epoll).
	EvET EventFlags = 0x20
	// EvClosed waits for the peer to close the connection, on backends with
	// FeatureEarlyClose (epoll and poll on Linux).
	EvClosed EventFlags = 0x80
	// EvSignal marks a signal event (see [Base.NewSignalEvent]) and
	// reports that its signal arrived.
	EvSignal EventFlags = 0x08

	// evFinalize is a flag of libevent that the package does not accept
	// yet; String names it.
	evFinalize EventFlags = 0x40

	ioFlags        = EvRead | EvWrite | EvClosed
	allEventFlags  = EvTimeout | ioFlags | EvPersist | EvET
	activatedFlags = EvTimeout | ioFlags
)

var eventFlagNames = []struct {
	flag EventFlags
	name string
}{
	{EvTimeout, "EvTimeout"},
	{EvRead, "EvRead"},
	{EvWrite, "EvWrite"},
	{EvSignal, "EvSignal"},
	{EvPersist, "EvPersist"},
	{EvET, "EvET"},
	{evFinalize, "EvFinalize"},
	{EvClosed, "EvClosed"},
}

func (f EventFlags) String() string {
	var names []string
	for _, n := range eventFlagNames {
		if f&n.flag != 0 {
			names = append(names, n.name)
			f &^= n.flag
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("0x%x", int(f)))
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// EventFunc is an event's callback. It runs on the loop's goroutine; what
// holds the conditions that fired it.
type EventFunc func(ev *Event, what EventFlags)

// Event is a struct event: a descriptor, a timeout, or both, with a callback.
// Create one with [Base.NewEvent] or [Base.NewTimer].
type Event struct {
	ptr    *C.struct_event
	key    unsafe.Pointer
	base   *Base
	life   lifetime
	fd     int
	events EventFlags
	fn     EventFunc
	// sig is the signal source of an event from NewSignalEvent, nil for
	// other events.
	sig *signalSource
}

// NewEvent creates an event on fd that waits for the conditions in what and
// runs fn (event_new). A timer has fd -1 and no EvRead, EvWrite or EvClosed.
// The event is not pending until [Event.Add] or [Event.AddTimeout]. fd
// should be non-blocking (O_NONBLOCK), as libevent expects: os.File.Fd
// switches a file to blocking mode, and libevent's debug mode rejects such
// a descriptor.
//
// NewEvent rejects input that libevent would accept silently. fd must be
// open when what has EvRead, EvWrite or EvClosed, and EvET needs EvRead or
// EvWrite. EvClosed alone needs a backend with FeatureEarlyClose, because on
// others it would never fire.
func (b *Base) NewEvent(fd int, what EventFlags, fn EventFunc) (*Event, error) {
	const op = "event_new"
	if fn == nil {
		return nil, invalidError(op, "nil callback")
	}
	if what&EvSignal != 0 {
		return nil, invalidError(op, "EvSignal is not accepted here; use NewSignalEvent")
	}
	if err := b.checkEventArgs(op, fd, what, allEventFlags); err != nil {
		return nil, err
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	e := &Event{base: b, fd: fd, events: what, fn: fn}
	e.key = handles.register(e)
	ptr, errno := C.golibevent_event_new(b.ptr, C.evutil_socket_t(fd), C.short(what), e.key)
	if ptr == nil {
		handles.release(e.key)
		return nil, opError(op, errno)
	}
	e.ptr = ptr
	b.addChild(e)
	return e, nil
}

// NewTimer creates a timer event that runs fn once each time it is added
// with [Event.AddTimeout] (evtimer_new). For a timer that repeats at its
// interval until deleted, use NewEvent(-1, EvPersist, fn).
func (b *Base) NewTimer(fn EventFunc) (*Event, error) {
	return b.NewEvent(-1, 0, fn)
}

// checkEventArgs validates the descriptor and flags of a new event or a
// once-callback. allowed are the flags the caller accepts.
func (b *Base) checkEventArgs(op string, fd int, what EventFlags, allowed EventFlags) error {
	if what&^allowed != 0 {
		return invalidError(op, "unsupported event flags %v", what&^allowed)
	}
	if what&ioFlags == 0 {
		if fd < -1 {
			return invalidError(op, "invalid descriptor %d", fd)
		}
		if what&EvET != 0 {
			return invalidError(op, "EvET needs EvRead or EvWrite")
		}
		if fd >= 0 {
			return checkNonBlocking(op, fd)
		}
		return nil
	}
	if fd < 0 {
		return invalidError(op, "invalid descriptor %d for %v", fd, what)
	}
	if what&EvET != 0 && what&(EvRead|EvWrite) == 0 {
		return invalidError(op, "EvET needs EvRead or EvWrite")
	}
	if b != nil && b.ptr != nil && what&ioFlags == EvClosed && b.features&FeatureEarlyClose == 0 {
		return invalidError(op, "EvClosed alone never fires on the %s backend, which lacks FeatureEarlyClose; add EvRead and read to the end of the stream", b.backend())
	}
	if err := checkDescriptor(op, fd, b); err != nil {
		return err
	}
	return checkNonBlocking(op, fd)
}

// checkNonBlocking rejects a descriptor without O_NONBLOCK while libevent's
// debug mode is on: event_assign then asserts that the descriptor is
// non-blocking and ends the process when it is not.
func checkNonBlocking(op string, fd int) error {
	if !debugModeEnabled() {
		return nil
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	if flags&unix.O_NONBLOCK == 0 {
		return invalidError(op, "descriptor %d is in blocking mode, which libevent's debug mode does not allow; set O_NONBLOCK", fd)
	}
	return nil
}

// checkDescriptor fails with EBADF for a descriptor that is not open, and
// with EPERM on the epoll backend for a descriptor that epoll cannot watch:
// regular files, directories and devices without poll support such as
// /dev/null. epoll_ctl rejects those, but with the changelist the rejection
// would only be logged at dispatch time and the event would never fire.
func checkDescriptor(op string, fd int, b *Base) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &Error{Op: op, Err: err}
	}
	if err := b.checkSelectLimit(op, fd); err != nil {
		return err
	}
	if b == nil || b.backend() != "epoll" {
		return nil
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK, unix.S_IFIFO:
		return nil
	case unix.S_IFREG, unix.S_IFDIR:
		return &Error{Op: op, Err: fmt.Errorf("descriptor %d is a regular file or directory, which epoll cannot watch (use the poll or select backend): %w", fd, unix.EPERM)}
	}
	if err := probeEpoll(fd); err != nil {
		return &Error{Op: op, Err: fmt.Errorf("epoll cannot watch descriptor %d (use the poll or select backend): %w", fd, err)}
	}
	return nil
}

// selectSetSize is FD_SETSIZE, the size of the select backend's fd_set.
const selectSetSize = 1024

// checkSelectLimit rejects a descriptor of FD_SETSIZE or more on the select
// backend. libevent 2.1 grows its fd_sets past FD_SETSIZE, but glibc's
// FD_SET, when built with _FORTIFY_SOURCE as Debian and Ubuntu build
// libevent, ends the process for such a descriptor.
func (b *Base) checkSelectLimit(op string, fd int) error {
	if b == nil || b.backend() != "select" || fd < selectSetSize {
		return nil
	}
	return invalidError(op, "descriptor %d is at or above FD_SETSIZE (%d), which the select backend cannot watch; use the poll or epoll backend", fd, selectSetSize)
}

// epollProbe is an epoll instance, opened on first use and kept for the life
// of the process, on which probeEpoll tries descriptors of types that epoll
// may or may not support.
var epollProbe struct {
	once sync.Once
	mu   sync.Mutex
	fd   int
	err  error
}

// probeEpoll returns the error that epoll_ctl gives for fd, or nil if epoll
// accepts it (or if the probe itself cannot be set up).
func probeEpoll(fd int) error {
	epollProbe.once.Do(func() {
		epollProbe.fd, epollProbe.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	})
	if epollProbe.err != nil {
		return nil
	}
	epollProbe.mu.Lock()
	defer epollProbe.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epollProbe.fd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	_ = unix.EpollCtl(epollProbe.fd, unix.EPOLL_CTL_DEL, fd, nil)
	return nil
}

// enter starts a call on the event; every successful enter is paired with
// leave.
func (e *Event) enter(op string) error {
	if e == nil || e.ptr == nil {
		return invalidError(op, "the Event was not created by NewEvent")
	}
	if err := e.base.enter(op); err != nil {
		return err
	}
	if !e.life.acquire() {
		e.base.leave()
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (e *Event) leave() {
	if e.life.release() {
		e.free()
	}
	e.base.leave()
}

// free releases the C event, unless Base.free has taken it over. The caller
// holds the base.
func (e *Event) free() {
	if !e.base.removeChild(e) {
		return
	}
	C.event_free(e.ptr)
	handles.release(e.key)
	if e.sig != nil {
		e.sig.close()
	}
}

func (e *Event) freeWithBase() {
	e.life.close()
	C.event_free(e.ptr)
	handles.release(e.key)
	if e.sig != nil {
		e.sig.close()
	}
}

// Close deletes the event and frees it (event_free). It is safe in the
// event's own callback. Called from another goroutine while the callback
// runs, Close waits for the callback to return, as event_free does. After
// Close the callback is not called again. Closing twice is harmless. On a
// base created with NoLock, Close from another goroutine while the loop
// runs returns an error that matches ErrNoLock and leaves the event open.
func (e *Event) Close() error {
	if e == nil || e.ptr == nil {
		return nil
	}
	if b := e.base; b.noLock && b.running.Load() && !b.onLoopThread() {
		return wrapError("event_free", ErrNoLock)
	}
	if !e.base.life.acquire() {
		// The base is closing; Base.free frees the event.
		e.life.close()
		return nil
	}
	defer e.base.leave()
	if first, idle := e.life.close(); first && idle {
		e.free()
	}
	return nil
}

// Add makes the event pending with no timeout (event_add with a NULL
// timeout). It may be called from any goroutine.
func (e *Event) Add() error {
	return e.add(-1)
}

// AddTimeout makes the event pending with a timeout (event_add). A zero
// timeout fires at once, in the next round of callbacks. If the event is
// already pending, its timeout is replaced. It may be called from any
// goroutine.
func (e *Event) AddTimeout(timeout time.Duration) error {
	if timeout < 0 {
		return invalidError("event_add", "negative timeout %v", timeout)
	}
	return e.add(durationToMicros(timeout))
}

func (e *Event) add(timeoutMicros int64) error {
	const op = "event_add"
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.leave()
	if e.events&ioFlags != 0 {
		if err := checkDescriptor(op, e.fd, e.base); err != nil {
			return err
		}
	}
	r, errno := C.golibevent_event_add(e.ptr, C.int64_t(timeoutMicros))
	if r != 0 {
		return opError(op, errno)
	}
	if e.sig != nil {
		e.sig.start()
	}
	return nil
}

// AddCommonTimeout makes the event pending with a common timeout of its base
// (event_add with the timeval from event_base_init_common_timeout).
func (e *Event) AddCommonTimeout(ct *CommonTimeout) error {
	const op = "event_add"
	if ct == nil || ct.base == nil {
		return invalidError(op, "nil CommonTimeout")
	}
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.leave()
	if ct.base != e.base {
		return invalidError(op, "the CommonTimeout belongs to another Base")
	}
	if e.events&ioFlags != 0 {
		if err := checkDescriptor(op, e.fd, e.base); err != nil {
			return err
		}
	}
	tv := ct.tv
	r, errno := C.event_add(e.ptr, &tv)
	if r != 0 {
		return opError(op, errno)
	}
	if e.sig != nil {
		e.sig.start()
	}
	return nil
}

// Del makes the event non-pending and non-active (event_del). Called from
// another goroutine while the event's callback runs, it waits for the
// callback to return. It may be called from any goroutine.
func (e *Event) Del() error {
	return e.del("event_del", func(ev *C.struct_event) C.int { return C.event_del(ev) })
}

// DelNoBlock is Del without the wait: the callback may still be running when
// it returns (event_del_noblock).
func (e *Event) DelNoBlock() error {
	return e.del("event_del_noblock", func(ev *C.struct_event) C.int { return C.event_del_noblock(ev) })
}

// DelBlock is Del that always waits for a running callback, even for events
// whose finalization would otherwise not wait (event_del_block).
func (e *Event) DelBlock() error {
	return e.del("event_del_block", func(ev *C.struct_event) C.int { return C.event_del_block(ev) })
}

func (e *Event) del(op string, call func(*C.struct_event) C.int) error {
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.leave()
	if call(e.ptr) != 0 {
		return opError(op, nil)
	}
	if e.sig != nil {
		e.sig.removed.Store(true)
		e.sig.stop()
	}
	return nil
}

// RemoveTimer removes the event's timeout but leaves its descriptor
// conditions pending (event_remove_timer).
func (e *Event) RemoveTimer() error {
	const op = "event_remove_timer"
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.leave()
	if C.event_remove_timer(e.ptr) != 0 {
		return opError(op, nil)
	}
	return nil
}

// Activate makes the event active as if the conditions in what had occurred
// (event_active). Its callback runs in the next round of callbacks, whether
// or not the event is pending. It may be called from any goroutine. A signal
// event accepts only EvSignal, which counts as one more delivery of the
// signal; its callback runs only while the event is pending.
func (e *Event) Activate(what EventFlags) error {
	const op = "event_active"
	if e != nil && e.sig != nil {
		return e.activateSignal(op, what)
	}
	if what&^activatedFlags != 0 {
		return invalidError(op, "unsupported flags %v; use EvTimeout, EvRead, EvWrite or EvClosed", what&^activatedFlags)
	}
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.leave()
	C.event_active(e.ptr, C.int(what), 0)
	return nil
}

// Pending reports which of the conditions in what the event is pending or
// active for (event_pending). If it is pending with a timeout and what
// includes EvTimeout, left is the time until the timeout expires on the
// base's monotonic clock, or zero if it has passed. left is exact when
// Pending runs on the loop's goroutine or while the loop is not running.
// For a signal event, what may contain EvSignal.
func (e *Event) Pending(what EventFlags) (pending EventFlags, left time.Duration, err error) {
	const op = "event_pending"
	allowed := activatedFlags
	if e != nil && e.sig != nil {
		allowed = EvSignal | EvTimeout
	}
	if what&^allowed != 0 {
		return 0, 0, invalidError(op, "unsupported flags %v", what&^allowed)
	}
	if err := e.enter(op); err != nil {
		return 0, 0, err
	}
	defer e.leave()
	query := what
	if e.sig != nil {
		// The libevent event of a signal event waits for its eventfd to
		// become readable.
		query = what &^ EvSignal
		if what&EvSignal != 0 {
			query |= EvRead
		}
	}
	var leftMicros C.int64_t
	r := EventFlags(C.golibevent_event_pending(e.ptr, C.short(query), &leftMicros))
	if e.sig != nil && r&EvRead != 0 {
		r = r&^EvRead | EvSignal
	}
	return r, time.Duration(leftMicros) * time.Microsecond, nil
}

// SetPriority sets the event's priority, from 0 (first) to the base's
// Priorities()-1 (event_priority_set). It fails while the event is active.
func (e *Event) SetPriority(priority int) error {
	const op = "event_priority_set"
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.leave()
	if n := int(e.base.npriorities.Load()); priority < 0 || priority >= n {
		return invalidError(op, "priority %d out of range [0, %d)", priority, n)
	}
	if C.event_priority_set(e.ptr, C.int(priority)) != 0 {
		return &Error{Op: op, Err: fmt.Errorf("event is active: %w", errFailed)}
	}
	return nil
}

// Priority returns the event's priority (event_get_priority), or -1 after
// Close.
func (e *Event) Priority() int {
	if e.enter("event_get_priority") != nil {
		return -1
	}
	defer e.leave()
	return int(C.event_get_priority(e.ptr))
}

// Fd returns the event's descriptor, -1 for a timer (event_get_fd).
func (e *Event) Fd() int {
	if e == nil {
		return -1
	}
	return e.fd
}

// Events returns the flags the event was created with (event_get_events).
func (e *Event) Events() EventFlags {
	if e == nil {
		return 0
	}
	return e.events
}

// Base returns the base the event belongs to (event_get_base).
func (e *Event) Base() *Base {
	if e == nil {
		return nil
	}
	return e.base
}

// Callback returns the event's callback (event_get_callback).
func (e *Event) Callback() EventFunc {
	if e == nil {
		return nil
	}
	return e.fn
}

// OnceFunc is the callback of [Base.Once]; fd and what are those of the
// event that fired.
type OnceFunc func(fd int, what EventFlags)

// onceCall is the registry entry of a pending once-callback.
type onceCall struct {
	base *Base
	fn   OnceFunc
}

// Once runs fn once, when fd meets the conditions in what or when timeout
// expires (event_base_once). For a timer, fd is -1 and what is EvTimeout or
// 0, and a zero timeout runs fn in the next round of callbacks. For a
// descriptor, a zero timeout means no timeout. EvPersist is not allowed.
// If the base is closed first, fn never runs.
func (b *Base) Once(fd int, what EventFlags, timeout time.Duration, fn OnceFunc) error {
	const op = "event_base_once"
	if fn == nil {
		return invalidError(op, "nil callback")
	}
	if timeout < 0 {
		return invalidError(op, "negative timeout %v", timeout)
	}
	if err := b.checkEventArgs(op, fd, what, EvTimeout|ioFlags|EvET); err != nil {
		return err
	}
	if err := b.enter(op); err != nil {
		return err
	}
	defer b.leave()

	micros := durationToMicros(timeout)
	if what&ioFlags != 0 && timeout == 0 {
		micros = -1
	}
	if what&ioFlags == 0 {
		what |= EvTimeout
	}
	key := handles.register(&onceCall{base: b, fn: fn})
	b.mu.Lock()
	b.onces[key] = struct{}{}
	b.mu.Unlock()
	r, errno := C.golibevent_base_once(b.ptr, C.evutil_socket_t(fd), C.short(what), key, C.int64_t(micros))
	if r != 0 {
		b.forgetOnce(key)
		return opError(op, errno)
	}
	return nil
}

// forgetOnce releases the key of a once-callback that has fired or failed to
// register.
func (b *Base) forgetOnce(key unsafe.Pointer) {
	b.mu.Lock()
	_, ok := b.onces[key]
	delete(b.onces, key)
	b.mu.Unlock()
	if ok {
		handles.release(key)
	}
}

// CommonTimeout is a timeout duration that many events of one base share.
// libevent keeps the events with the same common timeout in a queue instead
// of its heap, which makes adding and expiring them O(1). Create one with
// [Base.CommonTimeout] and use it with [Event.AddCommonTimeout].
type CommonTimeout struct {
	base     *Base
	tv       C.struct_timeval // the magic timeval that names the queue
	duration time.Duration
}

// CommonTimeout returns the common timeout for d on this base
// (event_base_init_common_timeout). Asking twice for the same duration
// returns the same queue. A base has at most 256 common timeouts.
func (b *Base) CommonTimeout(d time.Duration) (*CommonTimeout, error) {
	const op = "event_base_init_common_timeout"
	if d < 0 {
		return nil, invalidError(op, "negative duration %v", d)
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()
	ct := &CommonTimeout{base: b, duration: d}
	r, errno := C.golibevent_init_common_timeout(b.ptr, C.int64_t(durationToMicros(d)), &ct.tv)
	if r != 0 {
		return nil, opError(op, errno)
	}
	return ct, nil
}

// Duration returns the timeout's duration.
func (ct *CommonTimeout) Duration() time.Duration {
	if ct == nil {
		return 0
	}
	return ct.duration
}
