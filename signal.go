//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Signal events reach the loop through os/signal, not through libevent's own
// signal handling.
//
// libevent 2.1.12 installs its C handler with sigaction without SA_ONSTACK.
// The Go runtime requires SA_ONSTACK on handlers that C code installs,
// because a signal may land on a goroutine's small stack; without it the
// process can crash. libevent's handler would also replace Go's for that
// signal, so os/signal.Notify would stop working while the event exists, and
// libevent lets only one base per process receive signals.
//
// So no C handler is ever installed. A signal event is a libevent event that
// reads an eventfd. While the event is pending, signal.Notify delivers the
// signal to a channel, and a goroutine adds each delivery to the eventfd's
// counter. The eventfd becomes readable, the loop runs the event's callback
// on its own thread, and the callback reads and clears the counter. Because
// the eventfd is an ordinary descriptor, a pending signal event keeps the
// loop running, as it does in libevent.
//
// Consequences: every base can have signal events, and each receives every
// signal. Channels that the program registers with signal.Notify receive
// the signal too. Once no signal event for a signal is pending, and no
// channel of the program is registered for it, Go's default handling of that
// signal applies again.

// signalChannelSize is the buffer of the channel that signal.Notify fills.
// Go drops a signal when the channel is full. The goroutine that empties it
// takes everything queued at once, so the buffer only has to absorb a burst
// that arrives while that goroutine is not running.
const signalChannelSize = 256

// signalSource is the Go side of a signal event: the eventfd that its
// libevent event reads and the os/signal registration that feeds it.
type signalSource struct {
	signo syscall.Signal
	efd   int

	mu sync.Mutex
	// ch is non-nil while signal.Notify delivers to it.
	ch chan os.Signal
	// stopFeeding is closed to end the goroutine that feeds the eventfd;
	// fed is closed when it has ended.
	stopFeeding chan struct{}
	fed         chan struct{}

	// removed is set by Del and Close and cleared by Add. The callback
	// stops calling the event's function for the rest of a batch once it
	// is set, as libevent does for a signal event deleted in its callback.
	removed atomic.Bool
}

// NewSignalEvent creates an event that runs fn when the process receives
// signo (evsignal_new). flags may contain EvPersist, which keeps the event
// pending after it fires; without it the event fires once per Add. The
// callback runs on the loop's goroutine, never in signal context, with what
// set to EvSignal, or EvTimeout when a timeout from [Event.AddTimeout]
// expired.
//
// The callback runs once for each delivery that reached the process. The
// kernel, like Go's runtime, merges deliveries of a signal that arrive
// before the previous one was handled, so a burst may run it fewer times
// than the number of signals sent.
//
// Every base may have signal events for the same signal, and all of them
// fire. While the event is pending, channels registered with signal.Notify
// receive the signal too. After [Event.Del] or [Event.Close], Go's own
// handling of the signal applies again unless the program still has a
// channel registered for it: SIGINT and SIGTERM end the process again, and
// SIGUSR1 is ignored again. SIGKILL and SIGSTOP cannot be caught and are
// rejected.
func (b *Base) NewSignalEvent(signo syscall.Signal, flags EventFlags, fn EventFunc) (*Event, error) {
	const op = "evsignal_new"
	if fn == nil {
		return nil, invalidError(op, "nil callback")
	}
	if flags&^EvPersist != 0 {
		return nil, invalidError(op, "unsupported event flags %v; a signal event accepts only EvPersist", flags&^EvPersist)
	}
	if signo <= 0 || signo >= 65 {
		return nil, invalidError(op, "invalid signal number %d", int(signo))
	}
	if signo == syscall.SIGKILL || signo == syscall.SIGSTOP {
		return nil, invalidError(op, "%v cannot be caught", signo)
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, &Error{Op: op, Err: os.NewSyscallError("eventfd", err)}
	}
	if err := b.checkSelectLimit(op, efd); err != nil {
		unix.Close(efd)
		return nil, err
	}

	e := &Event{
		base:   b,
		fd:     int(signo),
		events: EvSignal | flags,
		fn:     fn,
		sig:    &signalSource{signo: signo, efd: efd},
	}
	e.key = handles.register(e)
	what := C.short(C.EV_READ) | C.short(flags&EvPersist)
	ptr, errno := C.golibevent_event_new(b.ptr, C.evutil_socket_t(efd), what, e.key)
	if ptr == nil {
		handles.release(e.key)
		unix.Close(efd)
		return nil, opError(op, errno)
	}
	e.ptr = ptr
	b.addChild(e)
	return e, nil
}

// start clears deliveries left from an earlier Add and registers with
// os/signal. Starting twice is harmless.
func (s *signalSource) start() {
	s.removed.Store(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		return
	}
	s.take()
	s.ch = make(chan os.Signal, signalChannelSize)
	s.stopFeeding = make(chan struct{})
	s.fed = make(chan struct{})
	signal.Notify(s.ch, s.signo)
	go s.feed(s.ch, s.stopFeeding, s.fed)
}

// feed adds each signal that arrives on ch to the eventfd's counter until
// stop is closed.
func (s *signalSource) feed(ch <-chan os.Signal, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var buf [8]byte
	for {
		select {
		case <-stop:
			return
		case <-ch:
		}
		n := uint64(1)
		for drained := false; !drained; {
			select {
			case <-ch:
				n++
			default:
				drained = true
			}
		}
		binary.NativeEndian.PutUint64(buf[:], n)
		// The write fails only when the counter would pass 2^64-2, which
		// no real count of signals reaches.
		_, _ = unix.Write(s.efd, buf[:])
	}
}

// stop unregisters from os/signal and waits until the goroutine that feeds
// the eventfd has ended. Stopping twice is harmless.
func (s *signalSource) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		return
	}
	// After Stop returns, os/signal sends nothing more to the channel.
	signal.Stop(s.ch)
	close(s.stopFeeding)
	<-s.fed
	s.ch = nil
}

// take reads and clears the eventfd's counter, the number of deliveries
// since the last take.
func (s *signalSource) take() uint64 {
	var buf [8]byte
	n, err := unix.Read(s.efd, buf[:])
	if err != nil || n != len(buf) {
		return 0
	}
	return binary.NativeEndian.Uint64(buf[:])
}

// close stops the source and closes the eventfd. The caller has freed the
// libevent event that reads it.
func (s *signalSource) close() {
	s.removed.Store(true)
	s.stop()
	unix.Close(s.efd)
}

// simulate adds one delivery as if the signal had arrived.
func (s *signalSource) simulate() error {
	var buf [8]byte
	binary.NativeEndian.PutUint64(buf[:], 1)
	_, err := unix.Write(s.efd, buf[:])
	if errors.Is(err, unix.EAGAIN) {
		return nil
	}
	return err
}

// runSignalCallback runs the callback of a signal event once for each
// delivery counted since the last run. what comes from libevent: EvRead for
// the eventfd, EvTimeout for a timeout.
func (e *Event) runSignalCallback(what EventFlags) {
	s := e.sig
	var n uint64
	if what&EvRead != 0 {
		n = s.take()
	}
	if e.events&EvPersist == 0 && (n > 0 || what&EvTimeout != 0) {
		// libevent has made the event non-pending, so Go's handling of
		// the signal comes back now.
		s.stop()
	}
	if what&EvTimeout != 0 {
		e.fn(e, EvTimeout)
	}
	for i := uint64(0); i < n; i++ {
		if e.life.isClosed() || s.removed.Load() {
			return
		}
		e.fn(e, EvSignal)
	}
}

// activateSignal is Activate for a signal event.
func (e *Event) activateSignal(op string, what EventFlags) error {
	if what != EvSignal {
		return invalidError(op, "unsupported flags %v; a signal event accepts only EvSignal", what)
	}
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.leave()
	if err := e.sig.simulate(); err != nil {
		return &Error{Op: op, Err: os.NewSyscallError("write", err)}
	}
	return nil
}
