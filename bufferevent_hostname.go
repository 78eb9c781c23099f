//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ConnectHostname resolves host with the resolver d and connects to the
// first address it gets, on port (bufferevent_socket_connect_hostname).
// family is AF_INET, AF_INET6 or AF_UNSPEC (0) for either. The event
// callback reports BEVEventConnected, or BEVEventError with an error that
// is a *DNSError when the lookup failed (bufferevent_socket_get_dns_error)
// and a syscall.Errno when the connect failed. On the select backend the
// family must be AF_INET or AF_INET6, because the package creates the
// socket there before the lookup.
//
// While a lookup, or the connect that follows it, is in progress, another
// ConnectHostname on the same bufferevent fails with an error that matches
// syscall.EALREADY, because libevent 2.1.12 would start a second lookup
// beside the first and connect once for each. The package cannot see the
// lookups of a bufferevent from WrapBufferEvent, so it does not check those.
//
// Closing d does not end the lookup: it finishes or times out as usual, and
// d's C resolver is freed after it. For a bufferevent from WrapBufferEvent,
// whose C owner frees it, close d only after the lookup has ended or the
// bufferevent is freed: libevent 2.1.12 reads the resolver when it cancels
// the lookup of a bufferevent it frees.
func (bev *BufferEvent) ConnectHostname(d *DNSBase, family int, host string, port int) error {
	const op = "bufferevent_socket_connect_hostname"
	if d == nil || d.ptr == nil {
		return invalidError(op, "nil DNSBase")
	}
	if family != unix.AF_UNSPEC && family != unix.AF_INET && family != unix.AF_INET6 {
		return invalidError(op, "unsupported address family %d; use AF_INET, AF_INET6 or AF_UNSPEC", family)
	}
	if port < 1 || port > 65535 {
		return invalidError(op, "port %d is out of range 1 to 65535", port)
	}
	if err := checkDNSName(op, host); err != nil {
		return err
	}
	if bev.base != d.base {
		return invalidError(op, "the DNSBase runs on another Base")
	}
	if err := d.enter(op); err != nil {
		return err
	}
	defer d.leave()
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	if bev.base.backend() == "select" && family == unix.AF_UNSPEC && C.bufferevent_getfd(bev.ptr) < 0 {
		return invalidError(op, "the select backend needs AF_INET or AF_INET6 to create the socket")
	}

	chost := C.CString(host)
	defer C.free(unsafe.Pointer(chost))
	bev.mu.Lock()
	bev.linksLocked().dnsHost = host
	bev.mu.Unlock()
	var r C.int
	var lookupErr error
	// C code frees a wrapped bufferevent, and the package cannot see its
	// lookup end, so d does not wait for it.
	tracked := !bev.isForeign()
	err := bev.base.callOnLoop(func() {
		// libevent may finish the lookup, and send the event, before
		// bufferevent_socket_connect_hostname returns.
		if tracked {
			if lookupErr = bev.startLookup(d); lookupErr != nil {
				return
			}
		}
		created, err := bev.socketForSelect(op, family)
		if err != nil {
			bev.endLookup()
			r = -1
			return
		}
		r = C.bufferevent_socket_connect_hostname(bev.ptr, d.ptr, C.int(family), chost, C.int(port))
		if r != 0 {
			bev.endLookup()
			bev.dropSocket(created)
		}
	})
	switch {
	case err != nil:
		return err
	case lookupErr != nil:
		return wrapError(op, lookupErr)
	case r != 0:
		return opError(op, nil)
	}
	return nil
}

// startLookup records that a lookup of bev runs in d, whose evdns_base then
// stays until endLookup. libevent 2.1.12 cancels a bufferevent's lookup when
// it frees the bufferevent, which reads the evdns_base, and drops the
// lookups of a freed evdns_base without calling back. It returns ErrClosed
// when d is closed, and unix.EALREADY while bev has a lookup, or the connect
// after one, in progress.
func (bev *BufferEvent) startLookup(d *DNSBase) error {
	bev.mu.Lock()
	busy := bev.linked().lookupIn != nil
	bev.mu.Unlock()
	if busy {
		return unix.EALREADY
	}
	d.mu.Lock()
	if d.shutDown || d.cFreed {
		d.mu.Unlock()
		return ErrClosed
	}
	if d.lookupBEVs == nil {
		d.lookupBEVs = make(map[*BufferEvent]struct{})
	}
	d.lookupBEVs[bev] = struct{}{}
	d.mu.Unlock()

	bev.mu.Lock()
	bev.linksLocked().lookupIn = d
	bev.mu.Unlock()
	bev.installCallbacks()
	return nil
}

// endLookup lets the resolver of bev's lookup go: the lookup has ended with
// an event, or it was cancelled when the bufferevent was freed.
func (bev *BufferEvent) endLookup() {
	bev.mu.Lock()
	d := bev.linked().lookupIn
	if d != nil {
		bev.linksLocked().lookupIn = nil
	}
	bev.mu.Unlock()
	if d != nil {
		d.removeLookupBEV(bev)
	}
}

// removeLookupBEV drops bev from d's lookups, and frees the evdns_base of a
// closed d that was waiting only for it.
func (d *DNSBase) removeLookupBEV(bev *BufferEvent) {
	d.removeUser(func() bool {
		_, had := d.lookupBEVs[bev]
		delete(d.lookupBEVs, bev)
		return had
	})
}

// dnsError returns the error of the bufferevent's last lookup by name, or
// nil (bufferevent_socket_get_dns_error).
func (bev *BufferEvent) dnsError() error {
	code := int(C.bufferevent_socket_get_dns_error(bev.ptr))
	if code == 0 {
		return nil
	}
	bev.mu.Lock()
	host := bev.linked().dnsHost
	bev.mu.Unlock()
	return &DNSError{Op: "bufferevent_socket_connect_hostname", Name: host, Code: code, EAI: true}
}
