//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DNSType is a resource record type (EVDNS_TYPE_*).
type DNSType int

// Record and query types that libevent names.
const (
	DNSTypeA     DNSType = C.EVDNS_TYPE_A
	DNSTypeNS    DNSType = C.EVDNS_TYPE_NS
	DNSTypeCNAME DNSType = C.EVDNS_TYPE_CNAME
	DNSTypeSOA   DNSType = C.EVDNS_TYPE_SOA
	DNSTypePTR   DNSType = C.EVDNS_TYPE_PTR
	DNSTypeMX    DNSType = C.EVDNS_TYPE_MX
	DNSTypeTXT   DNSType = C.EVDNS_TYPE_TXT
	DNSTypeAAAA  DNSType = C.EVDNS_TYPE_AAAA
	DNSQTypeAXFR DNSType = C.EVDNS_QTYPE_AXFR
	DNSQTypeAll  DNSType = C.EVDNS_QTYPE_ALL
)

// DNSClassInet is the Internet class (EVDNS_CLASS_INET).
const DNSClassInet = C.EVDNS_CLASS_INET

// DNSSection is the section of a reply that a record goes to.
type DNSSection int

const (
	// DNSAnswerSection is EVDNS_ANSWER_SECTION.
	DNSAnswerSection DNSSection = C.EVDNS_ANSWER_SECTION
	// DNSAuthoritySection is EVDNS_AUTHORITY_SECTION.
	DNSAuthoritySection DNSSection = C.EVDNS_AUTHORITY_SECTION
	// DNSAdditionalSection is EVDNS_ADDITIONAL_SECTION.
	DNSAdditionalSection DNSSection = C.EVDNS_ADDITIONAL_SECTION
)

// DNSServerFlags are the header flags of a reply (EVDNS_FLAGS_*).
type DNSServerFlags int

const (
	// DNSFlagAuthoritative marks the reply as authoritative (AA).
	DNSFlagAuthoritative DNSServerFlags = C.EVDNS_FLAGS_AA
	// DNSFlagRecursionDesired echoes the query's RD bit.
	DNSFlagRecursionDesired DNSServerFlags = C.EVDNS_FLAGS_RD
)

// DNS response codes for DNSServerRequest.Respond (RFC 1035).
const (
	DNSRcodeNoError        = 0
	DNSRcodeFormatError    = 1
	DNSRcodeServerFailure  = 2
	DNSRcodeNameError      = 3
	DNSRcodeNotImplemented = 4
	DNSRcodeRefused        = 5
)

// DNSQuestion is one question of a request to a DNSServer.
type DNSQuestion struct {
	// Name is the name as the client sent it. Resolvers such as libevent's
	// randomize its case by default, so compare it with strings.EqualFold.
	Name  string
	Type  DNSType
	Class int
}

// DNSHandler handles a request to a DNSServer. It runs on the loop's
// goroutine. It, or any goroutine later, must end the request with Respond
// or Drop.
type DNSHandler func(req *DNSServerRequest)

// DNSServer is an evdns_server_port: a DNS server on a UDP socket whose
// requests a DNSHandler answers. Create one with [Base.NewDNSServer] or
// [Base.NewDNSServerFromConn].
//
// libevent 2.1.12 crashes on a datagram shorter than a DNS header (12
// bytes), so the package attaches a socket filter that drops such
// datagrams before libevent reads them.
type DNSServer struct {
	ptr     *C.struct_evdns_server_port
	base    *Base
	key     unsafe.Pointer
	addr    netip.AddrPort
	handler DNSHandler
	life    lifetime

	mu sync.Mutex
	// requests are the requests that the handler has not ended yet.
	requests map[*DNSServerRequest]struct{}
	// queued is set once libevent queued a reply because the socket was
	// full. Such a port stays alive, and may still call back, until it
	// has sent the reply, which the package cannot observe.
	queued bool
	// portClosed is set when Close closed a port with a queued reply. The
	// server then stays a child of its Base only so that Base.Close
	// releases its registry key.
	portClosed bool
}

// DNSServerRequest is a request that a DNSServer received.
type DNSServerRequest struct {
	server *DNSServer
	ptr    *C.struct_evdns_server_request
	// Questions are the request's questions.
	Questions []DNSQuestion
	// Client is the address the request came from.
	Client netip.AddrPort
	// RecursionDesired is the request's RD bit.
	RecursionDesired bool
	// ended is set by Respond and Drop; guarded by server.mu.
	ended bool
	// records are the records added so far, serialized for
	// golibevent_dns_respond, which adds them and sends the reply in one
	// C call; guarded by server.mu.
	records []byte
	// flags are the header flags from SetFlags, if flagsSet; guarded by
	// server.mu.
	flags    DNSServerFlags
	flagsSet bool
}

// NewDNSServer creates a DNS server on a new UDP socket bound to address,
// an IP literal and a port such as "127.0.0.1:0"
// (evdns_add_server_port_with_base).
func (b *Base) NewDNSServer(address string, handler DNSHandler) (*DNSServer, error) {
	const op = "evdns_add_server_port_with_base"
	if handler == nil {
		return nil, invalidError(op, "nil handler")
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, invalidError(op, "address %q is not an IP address and port", address)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	family := unix.AF_INET6
	var sa unix.Sockaddr
	if ap.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &Error{Op: op, Err: fmt.Errorf("bind %v: %w", ap, err)}
	}
	s, err := b.newDNSServer(op, fd, handler)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return s, nil
}

// NewDNSServerFromConn creates a DNS server on the socket of pc, a
// *net.UDPConn: the server gets a duplicate of its descriptor, pc is
// closed, and the server closes the duplicate when it is closed.
func (b *Base) NewDNSServerFromConn(pc net.PacketConn, handler DNSHandler) (*DNSServer, error) {
	const op = "evdns_add_server_port_with_base"
	if handler == nil {
		return nil, invalidError(op, "nil handler")
	}
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, invalidError(op, "%T is not a *net.UDPConn", pc)
	}
	fd, err := dupDescriptor(op, conn.File)
	if err != nil {
		return nil, err
	}
	s, err := b.newDNSServer(op, fd, handler)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	pc.Close()
	return s, nil
}

// newDNSServer creates the server port on fd, which it owns on success.
func (b *Base) newDNSServer(op string, fd int, handler DNSHandler) (*DNSServer, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	if r, errno := C.golibevent_dns_attach_min_length_filter(C.int(fd)); r != 0 {
		return nil, opError("setsockopt SO_ATTACH_FILTER", errno)
	}
	if err := b.checkSelectLimit(op, fd); err != nil {
		return nil, err
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	s := &DNSServer{base: b, handler: handler, requests: make(map[*DNSServerRequest]struct{})}
	if udp, ok := sockaddrToAddr(sa).(*net.TCPAddr); ok {
		s.addr = udp.AddrPort()
	}
	s.key = handles.register(s)
	var ptr *C.struct_evdns_server_port
	if err := b.callOnLoop(func() { ptr = C.golibevent_dns_server_new(b.ptr, C.evutil_socket_t(fd), s.key) }); err != nil {
		handles.release(s.key)
		return nil, err
	}
	if ptr == nil {
		handles.release(s.key)
		return nil, opError(op, nil)
	}
	s.ptr = ptr
	b.addChild(s)
	return s, nil
}

// Addr returns the address the server is bound to.
func (s *DNSServer) Addr() netip.AddrPort {
	if s == nil {
		return netip.AddrPort{}
	}
	return s.addr
}

func (s *DNSServer) enter(op string) error {
	if s == nil || s.ptr == nil {
		return invalidError(op, "the DNSServer was not created by NewDNSServer")
	}
	if err := s.base.enter(op); err != nil {
		return err
	}
	if !s.life.acquire() {
		s.base.leave()
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (s *DNSServer) leave() {
	if s.life.release() {
		s.free()
	}
	s.base.leave()
}

func (s *DNSServer) free() {
	b := s.base
	if !b.running.Load() {
		if b.removeChild(s) {
			s.release()
		}
		return
	}
	// While the loop runs, the port is closed from a posted function. Closed
	// from inside its own request callback, libevent 2.1.12 would free the
	// port while server_port_read still loops over it. Until the posted
	// function runs, requests that arrive are dropped.
	closeLater := func() {
		if b.removeChild(s) {
			s.release()
		}
	}
	// Post fails only when the base is closing, and then freeWithBase
	// closes the port.
	_ = b.Post(closeLater)
}

func (s *DNSServer) freeWithBase() {
	s.life.close()
	s.mu.Lock()
	portClosed := s.portClosed
	s.mu.Unlock()
	if !portClosed {
		s.closePort()
	}
	// The event_base goes next, so the port cannot call back any more.
	handles.release(s.key)
}

// release closes the port of a server that its Base no longer holds, and
// releases the registry key once the port can no longer call back.
func (s *DNSServer) release() {
	if !s.closePort() {
		key := s.key
		s.base.releaseAfterCallbacks(func() { handles.release(key) })
		return
	}
	// libevent frees a port with a queued reply after sending it, which the
	// package cannot observe, so the key stays until the Base is freed.
	s.mu.Lock()
	s.portClosed = true
	s.mu.Unlock()
	s.base.addChild(s)
}

// closePort drops the requests that are still open and closes the port
// (evdns_close_server_port). The port frees itself, and closes its socket,
// once its last request is gone. closePort reports whether a reply was
// queued, in which case the port may still call back.
func (s *DNSServer) closePort() (queued bool) {
	s.mu.Lock()
	open := make([]*DNSServerRequest, 0, len(s.requests))
	for r := range s.requests {
		r.ended = true
		open = append(open, r)
	}
	clear(s.requests)
	queued = s.queued
	s.mu.Unlock()
	for _, r := range open {
		C.evdns_server_request_drop(r.ptr)
	}
	C.evdns_close_server_port(s.ptr)
	return queued
}

// Close drops the requests that have no reply yet and closes the
// server (evdns_close_server_port), which closes its socket. No handler
// starts after Close. Closing twice is harmless.
func (s *DNSServer) Close() error {
	if s == nil || s.ptr == nil {
		return nil
	}
	b := s.base
	if !b.life.acquire() {
		s.life.close()
		return nil
	}
	defer b.leave()
	if first, idle := s.life.close(); first && idle {
		s.free()
	}
	return nil
}

//export goDNSServerCallback
func goDNSServerCallback(req *C.struct_evdns_server_request, key unsafe.Pointer) {
	s, _ := handles.lookup(key).(*DNSServer)
	if s == nil || s.life.isClosed() {
		C.evdns_server_request_drop(req)
		noteDropped("DNS server", -1)
		return
	}
	r := &DNSServerRequest{server: s, ptr: req, RecursionDesired: req.flags&C.EVDNS_FLAGS_RD != 0}
	for i := 0; i < int(req.nquestions); i++ {
		var qtype, qclass C.int
		name := C.golibevent_dns_question(req, C.int(i), &qtype, &qclass)
		r.Questions = append(r.Questions, DNSQuestion{Name: C.GoString(name), Type: DNSType(qtype), Class: int(qclass)})
	}
	var raw [16]byte
	var port C.int
	switch C.golibevent_dns_request_addr(req, (*C.uint8_t)(unsafe.Pointer(&raw[0])), &port) {
	case C.AF_INET:
		r.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[:4])), uint16(port))
	case C.AF_INET6:
		r.Client = netip.AddrPortFrom(netip.AddrFrom16(raw), uint16(port))
	}
	s.mu.Lock()
	s.requests[r] = struct{}{}
	s.mu.Unlock()

	defer s.base.recoverCallback()
	s.handler(r)
}

// call runs fn while the request is open, with s.mu held.
func (r *DNSServerRequest) call(op string, fn func() error) error {
	if r == nil || r.server == nil {
		return invalidError(op, "the request did not come from a DNSServer")
	}
	s := r.server
	if err := s.enter(op); err != nil {
		return err
	}
	defer s.leave()
	// The evdns server functions lock the port, so any goroutine may call
	// them. s.mu keeps Close from dropping the request during fn.
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ended {
		return invalidError(op, "the request already has a reply or was dropped; a DNS request gets one Respond or Drop")
	}
	return fn()
}
