//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"context"
	"net/netip"
	"time"
	"unsafe"
)

// DNSResult is the answer to a ResolveIPv4, ResolveIPv6 or ResolveReverse
// lookup.
type DNSResult struct {
	// Addrs are the addresses of an IPv4 or IPv6 lookup.
	Addrs []netip.Addr
	// Names are the names of a reverse lookup.
	Names []string
	// TTL is the smallest time to live of the answer's records.
	TTL time.Duration
}

// DNSCallback receives the outcome of a lookup: a result, or an error that
// is a *DNSError. It runs once, on the loop's goroutine.
type DNSCallback func(result DNSResult, err error)

// AddrInfo is one result of GetAddrInfo (struct evutil_addrinfo).
type AddrInfo struct {
	// Family is AF_INET or AF_INET6 (unix.AF_INET, unix.AF_INET6).
	Family int
	// SockType is SOCK_STREAM, SOCK_DGRAM or 0.
	SockType int
	// Protocol is IPPROTO_TCP, IPPROTO_UDP or 0.
	Protocol int
	// Addr is the address and the port of the service.
	Addr netip.AddrPort
	// CanonName is the canonical name, in the first result only and only
	// when AICanonName was requested and the name came from a query.
	CanonName string
}

// AddrInfoFlags are the flags of AddrInfoHints (EVUTIL_AI_*).
type AddrInfoFlags int

const (
	// AIPassive makes an empty host the unspecified address, for binding.
	AIPassive AddrInfoFlags = C.EVUTIL_AI_PASSIVE
	// AICanonName requests the canonical name.
	AICanonName AddrInfoFlags = C.EVUTIL_AI_CANONNAME
	// AINumericHost accepts only an IP literal as the host; it never
	// sends a query.
	AINumericHost AddrInfoFlags = C.EVUTIL_AI_NUMERICHOST
	// AINumericServ accepts only a port number as the service.
	AINumericServ AddrInfoFlags = C.EVUTIL_AI_NUMERICSERV
	// AIV4Mapped returns IPv4 addresses as IPv4-mapped IPv6 addresses
	// when IPv6 was requested and no IPv6 address exists.
	AIV4Mapped AddrInfoFlags = C.EVUTIL_AI_V4MAPPED
	// AIAll, with AIV4Mapped, returns both IPv6 and mapped IPv4 addresses.
	AIAll AddrInfoFlags = C.EVUTIL_AI_ALL
	// AIAddrConfig returns only the families that the host has addresses
	// for.
	AIAddrConfig AddrInfoFlags = C.EVUTIL_AI_ADDRCONFIG

	allAddrInfoFlags = AIPassive | AICanonName | AINumericHost | AINumericServ | AIV4Mapped | AIAll | AIAddrConfig
)

// AddrInfoHints restrict GetAddrInfo's results, as struct addrinfo's
// hints do. The zero value requests every family and socket type.
type AddrInfoHints struct {
	// Family is AF_UNSPEC (0), AF_INET or AF_INET6.
	Family int
	// SockType is 0, SOCK_STREAM or SOCK_DGRAM.
	SockType int
	// Protocol is 0, IPPROTO_TCP or IPPROTO_UDP.
	Protocol int
	// Flags are EVUTIL_AI_* flags.
	Flags AddrInfoFlags
}

// AddrInfoCallback receives the outcome of GetAddrInfo: the results, or an
// error that is a *DNSError. It runs once, on the loop's goroutine.
type AddrInfoCallback func(results []AddrInfo, err error)

// DNSQueryFlags are the flags of a lookup (DNS_QUERY_*).
type DNSQueryFlags int

// DNSQueryNoSearch sends the name as is, without the search domains.
const DNSQueryNoSearch DNSQueryFlags = C.DNS_QUERY_NO_SEARCH

// DNSRequest is a lookup in progress. Its callback runs exactly once.
type DNSRequest struct {
	d    *DNSBase
	op   string
	name string
	key  unsafe.Pointer
	fn   DNSCallback
	// gaiFn is set for a GetAddrInfo request, fn for the others.
	gaiFn     AddrInfoCallback
	handle    *C.struct_evdns_request
	gaiHandle *C.struct_evdns_getaddrinfo_request

	// Guarded by d.mu.
	// starting is set while the C call that starts the lookup runs.
	starting bool
	// cDone is set once libevent has called back; the C handle is freed
	// then and must not be used.
	cDone bool
	// cCancelled is set once the package asked libevent to cancel.
	cCancelled bool
	// cancelled is set by Cancel; the callback then reports ErrDNSCancel.
	cancelled bool
	delivered bool
	// early is an outcome that arrived during the starting call, kept
	// until the loop runs the callback.
	early *dnsOutcome
}

type dnsOutcome struct {
	result DNSResult
	addrs  []AddrInfo
	err    error
}

func (r *DNSRequest) errorOutcome(code int, eai bool) dnsOutcome {
	return dnsOutcome{err: &DNSError{Op: r.op, Name: r.name, Code: code, EAI: eai}}
}

// ResolveIPv4 looks up the IPv4 addresses of name
// (evdns_base_resolve_ipv4).
func (d *DNSBase) ResolveIPv4(name string, flags DNSQueryFlags, fn DNSCallback) (*DNSRequest, error) {
	return d.resolveName("evdns_base_resolve_ipv4", C.GOLIBEVENT_DNS_IPV4, name, flags, fn)
}

// ResolveIPv6 looks up the IPv6 addresses of name
// (evdns_base_resolve_ipv6).
func (d *DNSBase) ResolveIPv6(name string, flags DNSQueryFlags, fn DNSCallback) (*DNSRequest, error) {
	return d.resolveName("evdns_base_resolve_ipv6", C.GOLIBEVENT_DNS_IPV6, name, flags, fn)
}

// ResolveReverse looks up the names of addr, an IPv4 or IPv6 address
// (evdns_base_resolve_reverse, evdns_base_resolve_reverse_ipv6).
func (d *DNSBase) ResolveReverse(addr netip.Addr, flags DNSQueryFlags, fn DNSCallback) (*DNSRequest, error) {
	op := "evdns_base_resolve_reverse"
	kind := C.int(C.GOLIBEVENT_DNS_REVERSE4)
	if !addr.IsValid() {
		return nil, invalidError(op, "invalid address")
	}
	addr = addr.Unmap()
	if addr.Is6() {
		op = "evdns_base_resolve_reverse_ipv6"
		kind = C.GOLIBEVENT_DNS_REVERSE6
	}
	if err := checkQueryArgs(op, flags, fn != nil); err != nil {
		return nil, err
	}
	_, raw := addrBytes(addr)
	r := &DNSRequest{d: d, op: op, name: addr.String(), fn: fn}
	err := d.start(r, func(ptr *C.struct_evdns_base) bool {
		craw := C.CBytes(raw)
		defer C.free(craw)
		r.handle = C.golibevent_dns_resolve(ptr, kind, nil, craw, C.int(flags), r.key)
		return r.handle != nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (d *DNSBase) resolveName(op string, kind C.int, name string, flags DNSQueryFlags, fn DNSCallback) (*DNSRequest, error) {
	if err := checkQueryArgs(op, flags, fn != nil); err != nil {
		return nil, err
	}
	if err := checkDNSName(op, name); err != nil {
		return nil, err
	}
	r := &DNSRequest{d: d, op: op, name: name, fn: fn}
	err := d.start(r, func(ptr *C.struct_evdns_base) bool {
		cname := C.CString(name)
		defer C.free(unsafe.Pointer(cname))
		r.handle = C.golibevent_dns_resolve(ptr, kind, cname, nil, C.int(flags), r.key)
		return r.handle != nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func checkQueryArgs(op string, flags DNSQueryFlags, haveCallback bool) error {
	if flags&^DNSQueryNoSearch != 0 {
		return invalidError(op, "unknown flags 0x%x", int(flags&^DNSQueryNoSearch))
	}
	if !haveCallback {
		return invalidError(op, "nil callback")
	}
	return nil
}

// GetAddrInfo resolves host and service as getaddrinfo does, with queries
// for a name that is neither an IP literal nor in a loaded hosts file
// (evdns_getaddrinfo). service is a port number or a service name, or empty
// for port 0. A lookup that libevent answers at once, such as one for an
// IP literal, still reports through fn from the loop, after GetAddrInfo
// returned. A successful answer without addresses is reported as an error
// that matches ErrDNSNoData. libevent 2.1.12 reports every DNS error other
// than DNS_ERR_NOTEXIST (EVUTIL_EAI_NONAME) as EVUTIL_EAI_FAIL, timeouts
// included; ResolveIPv4 and ResolveIPv6 report the precise DNS_ERR_* code.
func (d *DNSBase) GetAddrInfo(host, service string, hints *AddrInfoHints, fn AddrInfoCallback) (*DNSRequest, error) {
	const op = "evdns_getaddrinfo"
	var h AddrInfoHints
	if hints != nil {
		h = *hints
	}

	if fn == nil {
		return nil, invalidError(op, "nil callback")
	}
	if h.Flags&^allAddrInfoFlags != 0 {
		return nil, invalidError(op, "unknown flags 0x%x", int(h.Flags&^allAddrInfoFlags))
	}
	switch h.Family {
	case C.AF_UNSPEC, C.AF_INET, C.AF_INET6:
	default:
		return nil, invalidError(op, "unsupported address family %d", h.Family)
	}
	if host == "" && service == "" {
		return nil, invalidError(op, "empty host and service")
	}
	if host != "" {
		if err := checkDNSName(op, host); err != nil {
			return nil, err
		}
	}

	name := host
	if service != "" {
		name += ":" + service
	}
	r := &DNSRequest{d: d, op: op, name: name, gaiFn: fn}
	err := d.start(r, func(ptr *C.struct_evdns_base) bool {
		var chost, cservice *C.char
		if host != "" {
			chost = C.CString(host)
			defer C.free(unsafe.Pointer(chost))
		}
		if service != "" {
			cservice = C.CString(service)
			defer C.free(unsafe.Pointer(cservice))
		}
		r.gaiHandle = C.golibevent_getaddrinfo(ptr, chost, cservice, C.int(h.Family),
			C.int(h.SockType), C.int(h.Protocol), C.int(h.Flags), r.key)
		return r.gaiHandle != nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// start registers r and runs begin, which starts the lookup in libevent,
// on the loop's goroutine.
func (d *DNSBase) start(r *DNSRequest, begin func(ptr *C.struct_evdns_base) bool) error {
	if err := d.enter(r.op); err != nil {
		return err
	}
	defer d.leave()

	r.key = handles.register(r)
	d.mu.Lock()
	if d.shutDown {
		d.mu.Unlock()
		handles.release(r.key)
		return wrapError(r.op, ErrClosed)
	}
	d.pending[r] = struct{}{}
	d.outstanding[r.key] = r
	r.starting = true
	d.mu.Unlock()

	started := false
	ran := false
	err := d.base.callOnLoop(func() {
		ran = true
		started = begin(d.ptr)
	})

	d.mu.Lock()
	r.starting = false
	if !started && !r.cDone {
		// libevent did not start the lookup and will not call back.
		delete(d.pending, r)
		delete(d.outstanding, r.key)
		d.mu.Unlock()
		handles.release(r.key)
		if err != nil || !ran {
			return err
		}
		return invalidError(r.op, "libevent could not start the lookup of %q", r.name)
	}
	early := r.early != nil
	d.mu.Unlock()

	if early {
		if d.base.Post(func() { d.deliverEarly(r) }) != nil {
			d.deliverEarly(r)
		}
	}
	return nil
}

// deliverEarly runs the callback of a request whose outcome arrived during
// the call that started it.
func (d *DNSBase) deliverEarly(r *DNSRequest) {
	d.mu.Lock()
	early := r.early
	d.mu.Unlock()
	if early != nil {
		d.deliver(r, *early)
	}
}

// deliver runs r's callback with outcome, once.
func (d *DNSBase) deliver(r *DNSRequest, outcome dnsOutcome) {
	d.mu.Lock()
	if r.delivered {
		d.mu.Unlock()
		return
	}
	r.delivered = true
	r.early = nil
	delete(d.pending, r)
	d.mu.Unlock()

	defer recoverCallbackFor(d.base)
	if r.gaiFn != nil {
		r.gaiFn(outcome.addrs, outcome.err)
		return
	}
	r.fn(outcome.result, outcome.err)
}

// Cancel cancels the lookup (evdns_cancel_request, evdns_getaddrinfo_cancel).
// If the callback has not run when Cancel returns, it runs later, from the
// loop, with an error that matches ErrDNSCancel. Cancelling a finished
// lookup, or twice, is harmless.
func (r *DNSRequest) Cancel() error {
	if r == nil || r.d == nil {
		return nil
	}
	d := r.d
	if err := d.enter(r.op); err != nil {
		// A closed resolver has already run every callback.
		return nil
	}
	defer d.leave()
	return d.base.callOnLoop(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if r.delivered || r.cancelled {
			return
		}
		r.cancelled = true
		if r.cDone {
			if r.early != nil {
				cancelled := r.errorOutcome(int(C.DNS_ERR_CANCEL), false)
				r.early = &cancelled
			}
			return
		}
		r.cancelInC()
	})
}

// cancelInC requests that libevent cancel the request, which then calls back
// from the loop. The caller holds d.mu, so the handle cannot be freed
// meanwhile: libevent frees it only after the callback, which takes d.mu.
func (r *DNSRequest) cancelInC() {
	if r.cDone || r.cCancelled {
		return
	}
	r.cCancelled = true
	if r.gaiHandle != nil {
		C.evdns_getaddrinfo_cancel(r.gaiHandle)
		return
	}
	if r.handle != nil {
		C.evdns_cancel_request(r.d.ptr, r.handle)
	}
}

// arrived records that libevent called back for r and returns whether the
// package should run the callback now. outcome replaces what libevent
// reported when the request was cancelled.
func (d *DNSBase) arrived(r *DNSRequest, outcome *dnsOutcome) (deliverNow bool) {
	d.mu.Lock()
	r.cDone = true
	delete(d.outstanding, r.key)
	if r.cancelled {
		*outcome = r.errorOutcome(int(C.DNS_ERR_CANCEL), false)
	}
	if r.starting {
		r.early = outcome
	}
	deliverNow = !r.starting && !r.delivered
	freeNow := d.shutDown && d.idleLocked()
	d.mu.Unlock()

	handles.release(r.key)
	if freeNow {
		d.scheduleFreeC()
	}
	return deliverNow
}

//export goDNSCallback
func goDNSCallback(result C.int, kind C.char, count, ttl C.int, addresses unsafe.Pointer, key unsafe.Pointer) {
	r, _ := handles.lookup(key).(*DNSRequest)
	if r == nil {
		noteDropped("DNS request", -1)
		return
	}
	var outcome dnsOutcome
	if result != C.DNS_ERR_NONE {
		outcome = r.errorOutcome(int(result), false)
	} else {
		outcome.result = dnsResultFromC(kind, int(count), int(ttl), addresses)
		if len(outcome.result.Addrs) == 0 && len(outcome.result.Names) == 0 {
			outcome = r.errorOutcome(int(C.DNS_ERR_NODATA), false)
		}
	}
	if r.d.arrived(r, &outcome) {
		r.d.deliver(r, outcome)
	}
}

// dnsResultFromC copies the addresses or names of a reply.
func dnsResultFromC(kind C.char, count, ttl int, addresses unsafe.Pointer) DNSResult {
	res := DNSResult{TTL: time.Duration(max(ttl, 0)) * time.Second}
	if addresses == nil || count <= 0 {
		return res
	}
	switch kind {
	case C.DNS_IPv4_A:
		raw := unsafe.Slice((*byte)(addresses), 4*count)
		for i := 0; i < count; i++ {
			res.Addrs = append(res.Addrs, netip.AddrFrom4([4]byte(raw[4*i:4*i+4])))
		}
	case C.DNS_IPv6_AAAA:
		raw := unsafe.Slice((*byte)(addresses), 16*count)
		for i := 0; i < count; i++ {
			res.Addrs = append(res.Addrs, netip.AddrFrom16([16]byte(raw[16*i:16*i+16])))
		}
	case C.DNS_PTR:
		names := unsafe.Slice((**C.char)(addresses), count)
		for _, name := range names {
			if name != nil {
				res.Names = append(res.Names, C.GoString(name))
			}
		}
	}
	return res
}

//export goGetAddrInfoCallback
func goGetAddrInfoCallback(result C.int, res *C.struct_addrinfo, key unsafe.Pointer) {
	r, _ := handles.lookup(key).(*DNSRequest)
	if r == nil {
		noteDropped("getaddrinfo request", -1)
		return
	}
	var outcome dnsOutcome
	if result != 0 {
		outcome = r.errorOutcome(int(result), true)
	} else {
		outcome.addrs = addrInfoFromC(res)
		if len(outcome.addrs) == 0 {
			outcome = r.errorOutcome(int(C.EVUTIL_EAI_NODATA), true)
		}
	}
	if r.d.arrived(r, &outcome) {
		r.d.deliver(r, outcome)
	}
}

// addrInfoFromC copies an addrinfo list.
func addrInfoFromC(res *C.struct_addrinfo) []AddrInfo {
	var out []AddrInfo
	for ai := res; ai != nil; ai = ai.ai_next {
		info := AddrInfo{Family: int(ai.ai_family), SockType: int(ai.ai_socktype), Protocol: int(ai.ai_protocol)}
		if ai.ai_canonname != nil {
			info.CanonName = C.GoString(ai.ai_canonname)
		}
		if ai.ai_addr == nil {
			continue
		}
		switch ai.ai_family {
		case C.AF_INET:
			sin := (*C.struct_sockaddr_in)(unsafe.Pointer(ai.ai_addr))
			raw := (*[4]byte)(unsafe.Pointer(&sin.sin_addr))
			info.Addr = netip.AddrPortFrom(netip.AddrFrom4(*raw), uint16(C.ntohs(sin.sin_port)))
		case C.AF_INET6:
			sin6 := (*C.struct_sockaddr_in6)(unsafe.Pointer(ai.ai_addr))
			raw := (*[16]byte)(unsafe.Pointer(&sin6.sin6_addr))
			info.Addr = netip.AddrPortFrom(netip.AddrFrom16(*raw), uint16(C.ntohs(sin6.sin6_port)))
		default:
			continue
		}
		out = append(out, info)
	}
	return out
}

// LookupIPv4 resolves name to IPv4 addresses and waits for the reply. It
// may be called from any goroutine except the loop's, and the loop must be
// running. When ctx ends first, the lookup is cancelled and ctx's error is
// returned.
func (d *DNSBase) LookupIPv4(ctx context.Context, name string) (DNSResult, error) {
	return d.lookupWait(ctx, func(fn DNSCallback) (*DNSRequest, error) { return d.ResolveIPv4(name, 0, fn) })
}

// LookupIPv6 is LookupIPv4 for IPv6 addresses.
func (d *DNSBase) LookupIPv6(ctx context.Context, name string) (DNSResult, error) {
	return d.lookupWait(ctx, func(fn DNSCallback) (*DNSRequest, error) { return d.ResolveIPv6(name, 0, fn) })
}

// LookupAddr resolves addr to names (a PTR lookup) and waits, as LookupIPv4
// does.
func (d *DNSBase) LookupAddr(ctx context.Context, addr netip.Addr) (DNSResult, error) {
	return d.lookupWait(ctx, func(fn DNSCallback) (*DNSRequest, error) { return d.ResolveReverse(addr, 0, fn) })
}

func (d *DNSBase) lookupWait(ctx context.Context, start func(DNSCallback) (*DNSRequest, error)) (DNSResult, error) {
	type reply struct {
		result DNSResult
		err    error
	}
	done := make(chan reply, 1)
	req, err := start(func(result DNSResult, err error) { done <- reply{result, err} })
	if err != nil {
		return DNSResult{}, err
	}
	select {
	case r := <-done:
		return r.result, r.err
	case <-ctx.Done():
		req.Cancel()
		return DNSResult{}, ctx.Err()
	}
}

// LookupAddrInfo runs GetAddrInfo and waits for the results, as LookupIPv4
// does.
func (d *DNSBase) LookupAddrInfo(ctx context.Context, host, service string, hints *AddrInfoHints) ([]AddrInfo, error) {
	type reply struct {
		results []AddrInfo
		err     error
	}
	done := make(chan reply, 1)
	req, err := d.GetAddrInfo(host, service, hints, func(results []AddrInfo, err error) { done <- reply{results, err} })
	if err != nil {
		return nil, err
	}
	select {
	case r := <-done:
		return r.results, r.err
	case <-ctx.Done():
		req.Cancel()
		return nil, ctx.Err()
	}
}
