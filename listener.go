//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ListenerOptions are the options of a listener (LEV_OPT_*).
type ListenerOptions uint

const (
	// LEVOptLeaveSocketsBlocking leaves accepted sockets in blocking mode.
	LEVOptLeaveSocketsBlocking ListenerOptions = 0x01
	// LEVOptCloseOnFree closes the listening socket when the listener is
	// closed. Listeners that the package binds always have it.
	LEVOptCloseOnFree ListenerOptions = 0x02
	// LEVOptCloseOnExec sets close-on-exec on the listening socket.
	LEVOptCloseOnExec ListenerOptions = 0x04
	// LEVOptReusable sets SO_REUSEADDR, so that a restarted server can bind
	// the address at once.
	LEVOptReusable ListenerOptions = 0x08
	// LEVOptThreadSafe gives the listener a lock, so that any goroutine may
	// call its methods.
	LEVOptThreadSafe ListenerOptions = 0x10
	// LEVOptDisabled creates the listener disabled; Enable starts it.
	LEVOptDisabled ListenerOptions = 0x20
	// LEVOptDeferredAccept asks the kernel to report a connection only once
	// the client has sent data (TCP_DEFER_ACCEPT on Linux).
	LEVOptDeferredAccept ListenerOptions = 0x40
	// LEVOptReusablePort sets SO_REUSEPORT, so that several listeners, one
	// per base and core, can share a port.
	LEVOptReusablePort ListenerOptions = 0x80
	// LEVOptBindIPv6Only makes an IPv6 listener accept IPv6 connections
	// only (IPV6_V6ONLY).
	LEVOptBindIPv6Only ListenerOptions = 0x100

	allListenerOptions = LEVOptLeaveSocketsBlocking | LEVOptCloseOnFree | LEVOptCloseOnExec |
		LEVOptReusable | LEVOptThreadSafe | LEVOptDisabled | LEVOptDeferredAccept |
		LEVOptReusablePort | LEVOptBindIPv6Only
)

// AcceptFunc is a listener's accept callback. fd is the accepted connection,
// which the callback owns: it must close it or hand it on, for example to
// NewBufferEvent with BEVOptCloseOnFree. addr is the peer's address.
type AcceptFunc func(l *Listener, fd int, addr net.Addr)

// ListenerErrorFunc is a listener's error callback; err is the errno of the
// failed accept as a syscall.Errno.
type ListenerErrorFunc func(l *Listener, err error)

const (
	// minAcceptBackoff and maxAcceptBackoff bound the pause after accept
	// fails for lack of descriptors or memory.
	minAcceptBackoff = 10 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// Listener is an evconnlistener: a listening socket whose connections the
// loop accepts. Create one with [Base.Listen], [Base.NewListener] or
// [Base.NewListenerFromNet].
//
// When accept fails because the process or the system is out of descriptors
// or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), libevent 2.1 would retry at
// once, forever, because the pending connection keeps the socket readable.
// The package pauses the listener instead and retries after a back-off that
// grows from 10 ms to 1 s, and reports the failure once per episode: to the
// error callback, or else to the logger at warn level.
type Listener struct {
	ptr      *C.struct_evconnlistener
	fd       int
	key      unsafe.Pointer
	base     *Base
	life     lifetime
	options  ListenerOptions
	unixPath string // removed on Close when the listener bound it

	mu       sync.Mutex // guards the fields below
	acceptFn AcceptFunc
	errorFn  ListenerErrorFunc
	disabled bool // by the user
	// held are connections that libevent accepted after Disable returned
	// but before the loop disabled the listener; Enable delivers them.
	held    []heldConn
	backoff time.Duration // the last pause after a resource error
	retry   *Event        // re-enables the listener after the back-off
	failing bool          // an accept error episode has been reported

	// guard keeps Close, Enable and Disable from another goroutine from
	// waiting for a running accept callback.
	guard callbackGuard
}

// Listen creates a listener bound to address (evconnlistener_new_bind).
// network is "tcp", "tcp4" or "tcp6" with an IP literal and a port, such as
// "127.0.0.1:0" or "[::1]:8080", or "unix" with a socket path, which Close
// removes. backlog is passed to listen; a negative value lets libevent
// choose. The listener always has LEVOptCloseOnFree.
func (b *Base) Listen(network, address string, options ListenerOptions, backlog int, fn AcceptFunc) (*Listener, error) {
	const op = "evconnlistener_new_bind"
	if err := checkListenerOptions(op, options); err != nil {
		return nil, err
	}
	options |= LEVOptCloseOnFree
	var family C.int
	var raw []byte
	var port int
	var scope uint32
	var unixPath string
	switch network {
	case "tcp", "tcp4", "tcp6":
		ap, err := parseListenAddress(network, address)
		if err != nil {
			return nil, invalidError(op, "%v", err)
		}
		port = int(ap.Port())
		if ap.Addr().Is4() {
			family = unix.AF_INET
			a4 := ap.Addr().As4()
			raw = a4[:]
		} else {
			family = unix.AF_INET6
			a16 := ap.Addr().As16()
			raw = a16[:]
			if zone := ap.Addr().Zone(); zone != "" {
				iface, err := net.InterfaceByName(zone)
				if err != nil {
					return nil, invalidError(op, "unknown IPv6 zone %q: %v", zone, err)
				}
				scope = uint32(iface.Index)
			}
		}
	case "unix":
		if address == "" {
			return nil, invalidError(op, "empty unix socket path")
		}
		family = unix.AF_UNIX
		raw = append([]byte(address), 0)
		unixPath = address
	default:
		return nil, invalidError(op, "unsupported network %q; use tcp, tcp4, tcp6 or unix", network)
	}
	l, err := b.newListener(op, -1, options, backlog, family, raw, port, scope, fn)
	if err != nil {
		return nil, err
	}
	l.unixPath = unixPath
	return l, nil
}

// parseListenAddress parses "host:port" for network, where host is an IP
// literal or empty for all addresses.
func parseListenAddress(network, address string) (netip.AddrPort, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := net.LookupPort("tcp", portText)
	if err != nil || strings.ContainsAny(portText, " ") {
		return netip.AddrPort{}, errors.New("invalid port " + portText)
	}
	var addr netip.Addr
	switch {
	case host == "" && network == "tcp4":
		addr = netip.IPv4Unspecified()
	case host == "":
		addr = netip.IPv6Unspecified()
	default:
		addr, err = netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, errors.New("host " + host + " is not an IP address; this package resolves no names here")
		}
	}
	if network == "tcp4" && !addr.Unmap().Is4() {
		return netip.AddrPort{}, errors.New(host + " is not an IPv4 address")
	}
	if network == "tcp6" && addr.Is4() {
		return netip.AddrPort{}, errors.New(host + " is not an IPv6 address")
	}
	if network == "tcp4" {
		addr = addr.Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// NewListener creates a listener on the socket fd (evconnlistener_new). If
// backlog is positive, NewListener calls listen with it; 0 means that fd is
// already listening, and a negative value calls listen with libevent's
// default.
func (b *Base) NewListener(fd int, options ListenerOptions, backlog int, fn AcceptFunc) (*Listener, error) {
	const op = "evconnlistener_new"
	if err := checkListenerOptions(op, options); err != nil {
		return nil, err
	}
	if fd < 0 {
		return nil, invalidError(op, "invalid descriptor %d", fd)
	}
	if err := checkDescriptor(op, fd, b); err != nil {
		return nil, err
	}
	return b.newListener(op, fd, options, backlog, 0, nil, 0, 0, fn)
}

// NewListenerFromNet takes over the socket of ln, a *net.TCPListener or
// *net.UnixListener: the listener gets a duplicate of its descriptor, ln is
// closed, and the listener closes the duplicate when it is closed. A unix
// socket's file stays; remove it after Close if needed.
func (b *Base) NewListenerFromNet(ln net.Listener, options ListenerOptions, fn AcceptFunc) (*Listener, error) {
	const op = "evconnlistener_new"
	if ln == nil {
		return nil, invalidError(op, "nil net.Listener")
	}
	filer, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, invalidError(op, "%T has no descriptor to take over", ln)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	fd, err := dupDescriptor(op, filer.File)
	if err != nil {
		return nil, err
	}
	l, err := b.NewListener(fd, options|LEVOptCloseOnFree, 0, fn)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ln.Close()
	return l, nil
}

// dupDescriptor returns a non-blocking, close-on-exec duplicate of the
// descriptor of the *os.File that file returns; the caller owns it.
func dupDescriptor(op string, file func() (*os.File, error)) (int, error) {
	f, err := file()
	if err != nil {
		return -1, &Error{Op: op, Err: err}
	}
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, &Error{Op: op, Err: err}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, &Error{Op: op, Err: err}
	}
	return fd, nil
}

func checkListenerOptions(op string, options ListenerOptions) error {
	if options&^allListenerOptions != 0 {
		return invalidError(op, "unknown options 0x%x", uint(options&^allListenerOptions))
	}
	return nil
}

func (b *Base) newListener(op string, fd int, options ListenerOptions, backlog int, family C.int,
	raw []byte, port int, scope uint32, fn AcceptFunc) (*Listener, error) {
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	l := &Listener{base: b, options: options, acceptFn: fn, disabled: options&LEVOptDisabled != 0}
	l.key = handles.register(l)
	var addr unsafe.Pointer
	if len(raw) > 0 {
		addr = C.CBytes(raw)
		defer C.free(addr)
	}
	withCb := C.int(0)
	if fn != nil {
		withCb = 1
	}
	ptr, errno := C.golibevent_listener_new(b.ptr, C.uint(options), C.int(backlog), C.evutil_socket_t(fd),
		family, addr, C.int(port), C.uint32_t(scope), l.key, withCb)
	if ptr == nil {
		handles.release(l.key)
		return nil, opError(op, errno)
	}
	l.ptr = ptr
	l.fd = int(C.evconnlistener_get_fd(ptr))
	if err := b.checkSelectLimit(op, l.fd); err != nil {
		C.evconnlistener_free(ptr)
		handles.release(l.key)
		return nil, err
	}
	b.addChild(l)
	return l, nil
}

func (l *Listener) enter(op string) error {
	if l == nil || l.ptr == nil {
		return invalidError(op, "the Listener was not created by Listen or NewListener")
	}
	b := l.base
	if err := b.enter(op); err != nil {
		return err
	}
	if !l.life.acquire() {
		b.leave()
		return wrapError(op, ErrClosed)
	}
	if l.options&LEVOptThreadSafe == 0 && !b.noLock && b.running.Load() && !b.onLoopThread() {
		l.leave()
		return wrapError(op, ErrNotThreadSafe)
	}
	return nil
}

func (l *Listener) leave() {
	if l.life.release() {
		l.free()
	}
	l.base.leave()
}

func (l *Listener) free() {
	if !l.base.removeChild(l) {
		return
	}
	l.release()
}

func (l *Listener) freeWithBase() {
	l.life.close()
	l.release()
}

// release frees the listener. The accept callback runs without the
// listener's lock and with a copy of its argument, so the key is released
// only once no callback can be running.
func (l *Listener) release() {
	l.mu.Lock()
	retry := l.retry
	l.retry = nil
	l.mu.Unlock()
	if retry != nil {
		retry.Close()
	}
	// evconnlistener_free deletes the listening event while it holds the
	// listener's lock, and libevent 2.1 waits for a running accept callback
	// there, which itself waits for that lock: from another thread that
	// deadlocks, so the free runs on the loop's goroutine.
	if l.base.callOnLoop(func() { C.evconnlistener_free(l.ptr) }) != nil {
		C.evconnlistener_free(l.ptr)
	}
	if l.unixPath != "" {
		os.Remove(l.unixPath)
	}
	l.mu.Lock()
	held := l.held
	l.held = nil
	l.mu.Unlock()
	closeHeld(held)
	key := l.key
	l.base.releaseAfterCallbacks(func() { handles.release(key) })
}

// Close frees the listener (evconnlistener_free), which closes its socket if
// it has LEVOptCloseOnFree. No accept callback starts after Close. Closing
// twice is harmless. Called from another goroutine while the accept callback
// runs, Close returns at once, and the loop frees the listener and closes
// its socket after the callback.
func (l *Listener) Close() error {
	if l == nil || l.ptr == nil {
		return nil
	}
	b := l.base
	if !b.life.acquire() {
		l.life.close()
		return nil
	}
	defer b.leave()
	if l.options&LEVOptThreadSafe == 0 && !b.noLock && b.running.Load() && !b.onLoopThread() {
		return wrapError("evconnlistener_free", ErrNotThreadSafe)
	}
	first, idle := l.life.close()
	if !first || !idle {
		return nil
	}
	if l.guard.shouldQueue(b) {
		// If the base closes before the loop gets to it, Base.free frees
		// the listener instead.
		_ = l.guard.queue(b, l.free)
		return nil
	}
	l.free()
	return nil
}

// Enable starts accepting connections (evconnlistener_enable).
func (l *Listener) Enable() error {
	const op = "evconnlistener_enable"
	if err := l.enter(op); err != nil {
		return err
	}
	defer l.leave()
	l.mu.Lock()
	l.disabled = false
	retry := l.retry
	held := len(l.held)
	l.mu.Unlock()
	if held > 0 {
		if err := l.base.Post(l.deliverHeld); err != nil {
			return err
		}
	}
	if l.guard.shouldQueue(l.base) {
		return l.guard.queue(l.base, func() { l.logQueuedError(op, l.Enable()) })
	}
	if retry != nil {
		if pending, _, _ := retry.Pending(EvTimeout); pending != 0 {
			// The back-off timer enables the listener when it expires.
			return nil
		}
	}
	if C.evconnlistener_enable(l.ptr) != 0 {
		return opError(op, nil)
	}
	return nil
}

// Disable stops accepting connections until Enable (evconnlistener_disable).
// From another goroutine while the loop runs, it runs on the loop's
// goroutine and waits: evconnlistener_disable from another thread can
// deadlock with an accept in libevent 2.1. While the accept callback runs,
// Enable and Disable from another goroutine return at once instead, and the
// loop carries them out after the callback. No accept callback starts after
// Disable returns: connections that libevent accepts until the loop has
// disabled the listener are held, and Enable hands them to the callback.
func (l *Listener) Disable() error {
	const op = "evconnlistener_disable"
	if err := l.enter(op); err != nil {
		return err
	}
	defer l.leave()
	// From here on the accept callback holds new connections back, so
	// none reaches the callback after Disable returns, even while the
	// disabling itself waits in the queue.
	l.mu.Lock()
	l.disabled = true
	l.mu.Unlock()
	if l.guard.shouldQueue(l.base) {
		return l.guard.queue(l.base, func() { l.logQueuedError(op, l.Disable()) })
	}
	// NOTE: an accept callback that starts after this check and waits for
	// this Disable to return still deadlocks with it, because callOnLoop
	// waits for the loop.
	var r C.int
	if err := l.base.callOnLoop(func() { r = C.evconnlistener_disable(l.ptr) }); err != nil {
		return err
	}
	if r != 0 {
		return opError(op, nil)
	}
	return nil
}

// SetCallback replaces the accept callback (evconnlistener_set_cb). With a
// nil fn the listener stops accepting, and connections wait in the backlog,
// until a callback is set again.
func (l *Listener) SetCallback(fn AcceptFunc) error {
	const op = "evconnlistener_set_cb"
	if err := l.enter(op); err != nil {
		return err
	}
	defer l.leave()
	l.mu.Lock()
	l.acceptFn = fn
	deliver := fn != nil && !l.disabled && len(l.held) > 0
	l.mu.Unlock()
	withCb := C.int(0)
	if fn != nil {
		withCb = 1
	}
	C.golibevent_listener_set_cb(l.ptr, l.key, withCb)
	if deliver {
		return l.base.Post(l.deliverHeld)
	}
	return nil
}

// SetErrorCallback sets the function that accept errors are reported to
// (evconnlistener_set_error_cb). Errors that only mean "try again" (EAGAIN,
// EINTR, ECONNABORTED) are not reported. A nil fn sends the reports to the
// logger.
func (l *Listener) SetErrorCallback(fn ListenerErrorFunc) error {
	const op = "evconnlistener_set_error_cb"
	if err := l.enter(op); err != nil {
		return err
	}
	defer l.leave()
	l.mu.Lock()
	l.errorFn = fn
	l.mu.Unlock()
	return nil
}

// Fd returns the listening socket (evconnlistener_get_fd), or -1 after
// Close. It may be called from any goroutine.
func (l *Listener) Fd() int {
	if l == nil || l.ptr == nil || l.life.isClosed() {
		return -1
	}
	return l.fd
}

// Addr returns the address the listener is bound to, as a *net.TCPAddr or
// *net.UnixAddr. It may be called from any goroutine.
func (l *Listener) Addr() (net.Addr, error) {
	const op = "getsockname"
	if l == nil || l.ptr == nil {
		return nil, invalidError(op, "the Listener was not created by Listen or NewListener")
	}
	if !l.life.acquire() {
		return nil, wrapError(op, ErrClosed)
	}
	defer l.life.release()
	sa, err := unix.Getsockname(l.fd)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	return sockaddrToAddr(sa), nil
}

// Base returns the listener's base (evconnlistener_get_base).
func (l *Listener) Base() *Base {
	if l == nil {
		return nil
	}
	return l.base
}

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)))
	case *unix.SockaddrInet6:
		addr := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			if iface, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				addr = addr.WithZone(iface.Name)
			}
		}
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(a.Port)))
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

// cSockaddrToAddr converts the struct sockaddr that libevent passes to an
// accept callback.
func cSockaddrToAddr(sa *C.struct_sockaddr, length C.int) net.Addr {
	if sa == nil || length < 2 {
		return nil
	}
	switch sa.sa_family {
	case unix.AF_INET:
		raw := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := uint16(raw.Port>>8) | uint16(raw.Port<<8)
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(raw.Addr), port))
	case unix.AF_INET6:
		raw := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := uint16(raw.Port>>8) | uint16(raw.Port<<8)
		return sockaddrToAddr(&unix.SockaddrInet6{Port: int(port), ZoneId: raw.Scope_id, Addr: raw.Addr})
	case unix.AF_UNIX:
		raw := (*unix.RawSockaddrUnix)(unsafe.Pointer(sa))
		n := int(length) - int(unsafe.Offsetof(raw.Path))
		var name []byte
		for i := 0; i < n && i < len(raw.Path) && raw.Path[i] != 0; i++ {
			name = append(name, byte(raw.Path[i]))
		}
		return &net.UnixAddr{Name: string(name), Net: "unix"}
	}
	return nil
}

//export goListenerAcceptCallback
func goListenerAcceptCallback(fd C.evutil_socket_t, sa *C.struct_sockaddr, length C.int, key unsafe.Pointer) {
	l, _ := handles.lookup(key).(*Listener)
	if l == nil {
		unix.Close(int(fd))
		noteDropped("listener accept", int(fd))
		return
	}
	l.guard.begin()
	defer l.guard.end()
	if l.life.isClosed() {
		unix.Close(int(fd))
		noteDropped("listener accept", int(fd))
		return
	}
	l.mu.Lock()
	fn := l.acceptFn
	if l.failing {
		l.failing = false
		l.backoff = 0
	}
	if l.disabled && fn != nil {
		l.held = append(l.held, heldConn{fd: int(fd), addr: cSockaddrToAddr(sa, length)})
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	if fn == nil {
		unix.Close(int(fd))
		return
	}
	defer l.base.recoverCallback()
	fn(l, int(fd), cSockaddrToAddr(sa, length))
}

// heldConn is a connection that was accepted while the listener was being
// disabled.
type heldConn struct {
	fd   int
	addr net.Addr
}

// deliverHeld runs the accept callback for the held connections, on the
// loop's goroutine, once the listener is enabled again and has a callback.
func (l *Listener) deliverHeld() {
	l.guard.begin()
	defer l.guard.end()
	l.mu.Lock()
	if l.disabled || l.acceptFn == nil || l.life.isClosed() {
		// They stay held until Enable or SetCallback, or Close closes
		// them.
		l.mu.Unlock()
		return
	}
	held, fn := l.held, l.acceptFn
	l.held = nil
	l.mu.Unlock()
	for i, c := range held {
		if l.life.isClosed() {
			closeHeld(held[i:])
			return
		}
		fn(l, c.fd, c.addr)
	}
}

// closeHeld closes held connections that no callback will get.
func closeHeld(held []heldConn) {
	for _, c := range held {
		unix.Close(c.fd)
	}
}

//export goListenerErrorCallback
func goListenerErrorCallback(errnum C.int, key unsafe.Pointer) {
	l, _ := handles.lookup(key).(*Listener)
	if l == nil || l.life.isClosed() {
		noteDropped("listener error", -1)
		return
	}
	defer l.base.recoverCallback()
	l.acceptFailed(syscall.Errno(errnum))
}

// acceptFailed handles an accept error on the loop's goroutine: it pauses
// the listener after a lack of resources, and reports the error.
func (l *Listener) acceptFailed(err syscall.Errno) {
	exhausted := err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM
	l.mu.Lock()
	report := true
	var backoff time.Duration
	if exhausted {
		report = !l.failing
		l.failing = true
		l.backoff = min(max(2*l.backoff, minAcceptBackoff), maxAcceptBackoff)
		backoff = l.backoff
	}
	fn := l.errorFn
	l.mu.Unlock()

	if exhausted {
		C.evconnlistener_disable(l.ptr)
		l.scheduleRetry(backoff)
	}
	if !report {
		return
	}
	opErr := &Error{Op: "accept", Err: err}
	if fn != nil {
		fn(l, opErr)
		return
	}
	attrs := []any{slog.Any("error", opErr)}
	if exhausted {
		attrs = append(attrs, slog.Duration("retry_after", backoff))
	}
	if addr, aerr := l.Addr(); aerr == nil {
		attrs = append(attrs, slog.String("addr", addr.String()))
	}
	currentLogger().Log(context.Background(), slog.LevelWarn, "libevent: accept failed; the listener pauses and retries", attrs...)
}

// scheduleRetry enables the listener again after backoff, unless the user
// disabled it meanwhile.
func (l *Listener) scheduleRetry(backoff time.Duration) {
	l.mu.Lock()
	retry := l.retry
	l.mu.Unlock()
	if retry == nil {
		var err error
		retry, err = l.base.NewTimer(func(*Event, EventFlags) {
			if l.life.isClosed() {
				return
			}
			l.mu.Lock()
			enable := !l.disabled
			l.mu.Unlock()
			if enable {
				C.evconnlistener_enable(l.ptr)
			}
		})
		if err != nil {
			return
		}
		l.mu.Lock()
		l.retry = retry
		l.mu.Unlock()
	}
	_ = retry.AddTimeout(backoff)
}

// logQueuedError logs the error of a call that was queued to the loop, whose
// caller has already returned.
func (l *Listener) logQueuedError(op string, err error) {
	if err != nil && !errors.Is(err, ErrClosed) {
		currentLogger().Error("libevent: a queued listener call failed", slog.String("op", op), slog.Any("error", err))
	}
}
