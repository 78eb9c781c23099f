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
// NOTE: close the bufferevent before d. libevent 2.1.12 drops the lookups
// of a freed resolver without calling back, which leaves a bufferevent that
// is still connecting by name waiting forever.
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
	err := bev.base.callOnLoop(func() {
		created, err := bev.socketForSelect(op, family)
		if err != nil {
			r = -1
			return
		}
		r = C.bufferevent_socket_connect_hostname(bev.ptr, d.ptr, C.int(family), chost, C.int(port))
		if r != 0 {
			bev.dropSocket(created)
		}
	})
	if err != nil {
		return err
	}
	if r != 0 {
		return opError(op, nil)
	}
	return nil
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
