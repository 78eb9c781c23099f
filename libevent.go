//go:build cgo

// Package libevent drives the C libevent 2.1 library (2.1.12 and later 2.1
// releases) from Go through cgo. libevent runs a callback when a file
// descriptor becomes ready, a timeout expires or an event is activated, over
// the best mechanism the operating system has (epoll, poll or select on
// Linux). Every event goes through libevent's own C code; this package adds Go
// types, Go errors and Go callbacks on top.
//
// # Getting started
//
// A [Base] wraps an event_base and runs the loop; an [Event] wraps a struct
// event:
//
//	base, err := libevent.NewBase(nil)
//	if err != nil { ... }
//	defer base.Close()
//	ev, err := base.NewEvent(fd, libevent.EvRead|libevent.EvPersist,
//		func(ev *libevent.Event, what libevent.EventFlags) { ... })
//	if err != nil { ... }
//	ev.Add()
//	err = base.Run(ctx)
//
// # Buffers
//
// A [Buffer] wraps an evbuffer, libevent's queue of bytes stored in chains
// of C memory. It implements io.Reader, io.Writer, io.ReaderFrom,
// io.WriterTo, io.ByteReader and io.StringWriter, and moves data between
// buffers, files and descriptors without copying where libevent can. Peek,
// Pullup and Reserve return slices over the C memory, which are valid only
// until the buffer next changes. A Buffer's callbacks run inside the call
// that changed it, and a panic in one leaves that call with the same value.
// After [Buffer.DeferCallbacks] they run from a base's loop instead. A
// Buffer is safe for concurrent use only after [Buffer.EnableLocking].
//
// # DNS
//
// A [DNSBase] wraps an evdns_base, libevent's asynchronous resolver, and a
// [DNSServer] an evdns_server_port. A DNSBase reads no system configuration
// unless asked to, so a program adds its nameservers itself or reads a
// resolv.conf file. Each lookup's callback runs exactly once, after the
// call that started the lookup returned. It gets the answer, a [*DNSError],
// ErrDNSCancel after Cancel, or ErrDNSShutdown when the resolver is closed
// first. It runs on the loop's goroutine, except that the shutdown errors
// of a Close made while the loop is not running are reported on the
// closing goroutine. A server's handler may answer at once or later from
// any goroutine.
//
// # Ownership
//
// Every wrapper has a Close method that frees the C object. Close is
// idempotent; any later use returns an error that matches [ErrClosed] and never
// touches freed memory. Closing a Base first closes the events created on it
// and the buffers that defer their callbacks to it. The zero value of a wrapper is not usable: its methods return an error that
// matches [ErrInvalid].
//
// # Threads and goroutines
//
// The package calls evthread_use_pthreads when it is initialized, so every
// base is locked and can be woken from another thread. Callbacks run on the
// goroutine that runs the base's loop ([Base.Dispatch], [Base.Loop] or
// [Base.Run]), on that loop's OS thread, one at a time, in libevent's order.
// The calls that libevent documents as thread-safe work from any goroutine and
// wake the loop: [Base.Post], [Event.Activate], [Event.Add], [Event.Del],
// [Base.LoopBreak], [Base.LoopExit] and [Base.ActivateFd]. Everything else
// belongs to the loop's goroutine, or to any goroutine while the loop is not
// running. A base created with [NoLock] has no locks: calls from another
// goroutine while its loop runs return an error that matches [ErrNoLock].
//
// Where each method may be called while the loop runs on another goroutine:
//
//	method                                  from any goroutine
//	--------------------------------------  ------------------------------------
//	Base.Post, LoopBreak, LoopExit,         yes
//	ActivateFd, Close
//	Event.Add, AddTimeout, Del, Activate,   yes (Del and Close wait for the
//	Pending, Close                          event's running callback)
//	Base.NewEvent, NewSignalEvent, Once     yes
//	BufferEvent methods                     only with BEVOptThreadSafe, else
//	                                        ErrNotThreadSafe
//	Listener methods                        only with LEVOptThreadSafe, else
//	                                        ErrNotThreadSafe
//	Buffer methods                          only after Buffer.EnableLocking
//	Base.SetPriorities, LoopContinue,       the loop's goroutine (a callback)
//	RunningEvent, Event.SetPriority
//	Group.Run, Group.Close                  yes
//
// Everything else belongs to the loop's goroutine, or to any goroutine while
// the loop is not running. Called from another goroutine while one of the
// object's own callbacks runs, BufferEvent.Close, Enable and Disable and
// Listener.Close, Enable and Disable return at once, and the loop carries
// them out after the callback.
//
// # Memory
//
// In a Go program, the package gives libevent allocation functions
// (event_set_mem_functions) when it is initialized, which keep freed blocks
// in a cache per thread. A thread keeps up to 64 blocks of each of glibc's
// small chunk sizes (24 bytes to 1 KiB) and of 2, 4, 8 and 16 KiB. It keeps
// at most 256 KiB in all and gives the blocks back to free when it ends. A block from the cache
// is never larger than the one malloc would give. A Go program always runs
// several threads, and there glibc's malloc takes a lock for each of the
// many small allocations of libevent's HTTP code that its own cache does
// not serve. Every block is an ordinary malloc block, so C code may free
// with free() what libevent returns, as libevent documents.
// GOLIBEVENT_MEMCACHE=off (or 0 or false) in the environment when the
// program starts keeps libevent on plain malloc, and [MemCacheEnabled]
// reports the choice. The cache is never installed in builds with
// AddressSanitizer (go build -asan), nor in a C program that links the
// package as a c-archive or c-shared library. There C code may use libevent
// with its own functions before the package is initialized.
//
// # Signals
//
// [Base.NewSignalEvent] delivers signals through os/signal rather than
// libevent's C handler, which libevent 2.1.12 installs without the
// SA_ONSTACK flag that Go requires. The callback runs on the loop's thread,
// every base may have signal events, channels registered with
// signal.Notify receive the signal too, and Go's handling of the signal
// returns once the event is deleted.
//
// A write to a closed peer raises SIGPIPE on the thread that runs the loop.
// Go's runtime ignores it on a goroutine, and the bufferevent reports EPIPE.
// On a thread that C code created, Go's runtime passes SIGPIPE to the
// default action, which ends the process, so such a thread must block
// SIGPIPE (pthread_sigmask) before it runs a loop, or the process must
// ignore it.
//
// # Interop with C
//
// [Base.C] returns the struct event_base *, and [WrapBase] wraps one that C
// code owns, which C code may also run on its own thread; Go callbacks then
// run on that thread. [Buffer.C], [WrapBuffer] and [BufferEvent.C] do the
// same for evbuffers and bufferevents. [HTTPServer.C], [HTTPRequest.C],
// [WrapHTTPServer] and [WrapHTTPRequest] let Go handlers serve on an evhttp
// that C code owns, or reply to a request that a C handler hands over.
// examples/mixed-c is a C program that links the package as a c-archive
// and shares its loop and HTTP server with Go. The c-archive contains no
// libevent, so its build links libevent's static archives once.
//
// After fork, the child's base shares the parent's kernel state, such as
// the epoll descriptor, until event_reinit ([Base.Reinit]) gives it its
// own and adds the pending events again. A C host that forks must call
// event_reinit in the child before the child uses the base. Go's runtime
// does not survive fork without exec (only the forking thread exists in
// the child), so the child calls event_reinit from C on the pointer from
// [Base.C] and does not call into Go.
//
// # All cores
//
// A base runs its callbacks one at a time. [Group] runs one base per core,
// each on its own goroutine locked to its OS thread, with SO_REUSEPORT
// listeners from [Group.Listen] so that the kernel spreads connections.
//
// # Callbacks
//
// C code never holds a Go pointer. libevent is given a key from a handle
// registry, and exported trampolines map the key back to the Go object. The
// key is released exactly when libevent can no longer call back for its
// object. A callback that arrives for an object that was closed meanwhile is
// dropped; with a logger at debug level each drop is logged.
//
// A panic in a callback does not unwind through libevent's C frames. The
// package recovers it, breaks the loop, and the call that ran the loop panics
// again with the same value on its own goroutine. The base stays usable. A
// callback must not call [runtime.Goexit] (testing.T.FailNow calls it).
//
// # Errors
//
// Failed calls return an [*Error] that names the libevent function and wraps
// the cause: a [syscall.Errno] where libevent set errno (so errors.Is(err,
// syscall.EBADF) works), or one of the sentinel errors of this package.
//
// # Logging
//
// libevent's log messages go to a [log/slog] logger, [slog.Default] unless
// [SetLogger] sets another. [SetDebugLogging] turns on libevent's debug
// messages and [EnableDebugMode] turns on its debug mode, which checks the
// use of events. A fatal libevent error is logged before libevent ends the
// process.
//
// # Build tags
//
// By default the package links libevent's static archives (libevent_core.a,
// libevent_extra.a, libevent_pthreads.a), so a program needs no libevent
// shared object at run time. The build tag libevent_shared links the shared
// libraries found through pkg-config instead. On Debian and Ubuntu,
// third_party/libevent/setup.sh installs libevent-dev, which ships both. The
// package needs cgo: building with CGO_ENABLED=0 fails with a message.
package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
)

const (
	// minVersionNumber is libevent 2.1.12, the oldest release this package
	// supports.
	minVersionNumber = 0x02010c00
	// nextSeriesNumber is libevent 2.2.0; the 2.2 series changed behaviour
	// that the package relies on.
	nextSeriesNumber = 0x02020000
)

func init() {
	if err := checkVersion(VersionNumber(), Version()); err != nil {
		panic(err)
	}
	installMemCache()
	if C.golibevent_setup() != 0 {
		panic("libevent: evthread_use_pthreads failed; libevent was built without pthreads support")
	}
}

// Version returns the version string of the linked libevent, such as
// "2.1.12-stable".
func Version() string {
	return C.GoString(C.event_get_version())
}

// VersionNumber returns the version of the linked libevent as a number in
// libevent's format: 0x02010c00 for 2.1.12.
func VersionNumber() uint32 {
	return uint32(C.event_get_version_number())
}

// checkVersion rejects libevent releases outside 2.1.12 to 2.1.x. The
// compile-time check in libevent_version.h covers the headers. This one
// covers the library that is loaded, which can differ from the headers only
// with the libevent_shared build tag.
func checkVersion(number uint32, version string) error {
	if number < minVersionNumber || number >= nextSeriesNumber {
		return fmt.Errorf("libevent: linked libevent %s (0x%08x) is not supported; "+
			"this package needs libevent 2.1.12 or a later 2.1 release (run third_party/libevent/setup.sh)",
			version, number)
	}
	return nil
}

// Sentinel errors. The package returns them wrapped in an [*Error] that names
// the operation; test for them with errors.Is.
var (
	// ErrClosed reports the use of an object after its Close, or of an
	// object whose Base was closed.
	ErrClosed = errors.New("use of closed object")
	// ErrInvalid reports invalid input: a nil callback, unknown flags, a
	// value out of range, a negative duration or a zero-value wrapper.
	ErrInvalid = errors.New("invalid argument")
	// ErrLoopRunning reports an attempt to run a base's loop while it is
	// already running, from another goroutine or from one of its callbacks.
	ErrLoopRunning = errors.New("event loop is already running on this base")
	// ErrNoEvents reports that the loop returned because no events were
	// pending or active (event_base_loop returned 1).
	ErrNoEvents = errors.New("no events pending or active")
	// ErrNoLock reports a call from another goroutine while the loop of a
	// base created with the NoLock flag runs. Such a base cannot be used
	// from two threads at once.
	ErrNoLock = errors.New("base has no lock and its loop is running on another goroutine")
	// ErrTooLate reports a global setting that libevent accepts only before
	// the first base is created.
	ErrTooLate = errors.New("must be called before the first base is created")
	// errFailed stands for a libevent failure that set no errno.
	errFailed = errors.New("failed")
)

// Error is the error type of this package: the libevent function (or Go
// method) that failed and the cause.
type Error struct {
	// Op is the libevent function that failed, such as "event_add".
	Op string
	// Err is the cause: a syscall.Errno or one of the package's sentinel
	// errors, possibly wrapped with detail.
	Err error
}

func (e *Error) Error() string {
	return "libevent: " + e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error {
	return e.Err
}

// opError wraps the result of a failed libevent call. cause is the error that
// cgo's two-result call returned: the errno after the call, or nil when the
// call left errno at zero.
func opError(op string, cause error) error {
	var errno syscall.Errno
	if errors.As(cause, &errno) && errno != 0 {
		return &Error{Op: op, Err: errno}
	}
	return &Error{Op: op, Err: errFailed}
}

func wrapError(op string, sentinel error) error {
	return &Error{Op: op, Err: sentinel}
}

func invalidError(op, format string, args ...any) error {
	return &Error{Op: op, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
}

// logger is the destination of libevent's messages; nil means slog.Default(),
// looked up for each message so that slog.SetDefault takes effect.
var logger atomic.Pointer[slog.Logger]

// SetLogger sends libevent's log messages, and the package's own reports
// (dropped callbacks, fatal errors), to l. A nil l restores [slog.Default].
// libevent's severities map to slog levels: debug to Debug, msg to Info, warn
// to Warn and err to Error. libevent can log while it holds a base's lock,
// which is not recursive, so the logger's handler must not call this package.
func SetLogger(l *slog.Logger) {
	logger.Store(l)
}

func currentLogger() *slog.Logger {
	if l := logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

func logLevel(severity C.int) slog.Level {
	switch severity {
	case C.EVENT_LOG_DEBUG:
		return slog.LevelDebug
	case C.EVENT_LOG_MSG:
		return slog.LevelInfo
	case C.EVENT_LOG_WARN:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// SetDebugLogging turns libevent's debug messages on or off
// (event_enable_debug_logging with EVENT_DBG_ALL or EVENT_DBG_NONE). They
// reach the logger at slog.LevelDebug, so the logger's handler must enable
// that level for them to appear.
func SetDebugLogging(on bool) {
	if on {
		C.event_enable_debug_logging(C.EVENT_DBG_ALL)
	} else {
		C.event_enable_debug_logging(C.EVENT_DBG_NONE)
	}
}

var (
	// baseCreated is set before the first event_base is created; libevent
	// aborts the process if debug mode or lock debugging is switched on
	// after that.
	baseCreated   atomic.Bool
	globalsMu     sync.Mutex
	debugModeOn   bool
	lockDebugOn   bool
	fatalReported atomic.Bool
)

// EnableDebugMode turns on libevent's debug mode (event_enable_debug_mode),
// in which libevent tracks every event and reports misuse such as adding an
// event that was never set up. It costs memory and time for each event. In
// debug mode libevent ends the process when an event is created on a
// descriptor without O_NONBLOCK, so NewEvent and Once return an error for
// such a descriptor instead. It
// must be called before the first [NewBase]; later calls return an error that
// matches [ErrTooLate]. Calling it again after success does nothing.
func EnableDebugMode() error {
	globalsMu.Lock()
	defer globalsMu.Unlock()
	if debugModeOn {
		return nil
	}
	if baseCreated.Load() {
		return wrapError("event_enable_debug_mode", ErrTooLate)
	}
	C.event_enable_debug_mode()
	debugModeOn = true
	return nil
}

// debugModeEnabled reports whether EnableDebugMode has succeeded.
func debugModeEnabled() bool {
	globalsMu.Lock()
	defer globalsMu.Unlock()
	return debugModeOn
}

// EnableLockDebugging wraps libevent's locks in checks that catch a lock
// released by the wrong thread or released twice
// (evthread_enable_lock_debugging). It must be called before the first
// [NewBase]; later calls return an error that matches [ErrTooLate].
func EnableLockDebugging() error {
	globalsMu.Lock()
	defer globalsMu.Unlock()
	if lockDebugOn {
		return nil
	}
	if baseCreated.Load() {
		return wrapError("evthread_enable_lock_debugging", ErrTooLate)
	}
	C.evthread_enable_lock_debugging()
	lockDebugOn = true
	return nil
}

// raiseFatalErrorForTest makes libevent report a fatal error, which ends the
// process after the fatal callback. Enabling debug mode twice is a fatal
// error in libevent 2.1. Only the package's tests call it, in a child
// process.
func raiseFatalErrorForTest() {
	C.event_enable_debug_mode()
	C.event_enable_debug_mode()
}

func logFatal(code int) {
	fatalReported.Store(true)
	currentLogger().Log(context.Background(), slog.LevelError,
		"libevent: fatal error; libevent ends the process", slog.Int("code", code))
}
