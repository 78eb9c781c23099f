//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// DNSBaseFlags are the flags of [NewDNSBase] (EVDNS_BASE_*).
type DNSBaseFlags int

const (
	// DNSBaseInitializeNameservers reads the system configuration
	// (/etc/resolv.conf on Unix) when the resolver is created.
	DNSBaseInitializeNameservers DNSBaseFlags = C.EVDNS_BASE_INITIALIZE_NAMESERVERS
	// DNSBaseDisableWhenInactive removes the resolver's events from the
	// loop while no request is in flight, so that an idle resolver does
	// not keep Dispatch running.
	DNSBaseDisableWhenInactive DNSBaseFlags = C.EVDNS_BASE_DISABLE_WHEN_INACTIVE
	// DNSBaseNameserversNoDefault keeps libevent from adding 127.0.0.1 as
	// a nameserver when the system configuration lists none.
	DNSBaseNameserversNoDefault DNSBaseFlags = C.EVDNS_BASE_NAMESERVERS_NO_DEFAULT

	allDNSBaseFlags = DNSBaseInitializeNameservers | DNSBaseDisableWhenInactive | DNSBaseNameserversNoDefault
)

// ResolvConfOptions select what [DNSBase.ParseResolvConf] takes from a
// resolv.conf file (DNS_OPTION_*).
type ResolvConfOptions int

const (
	// DNSOptionSearch takes the search and domain lines and ndots.
	DNSOptionSearch ResolvConfOptions = C.DNS_OPTION_SEARCH
	// DNSOptionNameservers takes the nameserver lines.
	DNSOptionNameservers ResolvConfOptions = C.DNS_OPTION_NAMESERVERS
	// DNSOptionMisc takes the other options lines (timeout, attempts...).
	DNSOptionMisc ResolvConfOptions = C.DNS_OPTION_MISC
	// DNSOptionHostsFile also loads the system hosts file (/etc/hosts).
	DNSOptionHostsFile ResolvConfOptions = C.DNS_OPTION_HOSTSFILE
	// DNSOptionsAll is all of the above.
	DNSOptionsAll ResolvConfOptions = C.DNS_OPTIONS_ALL
	// DNSOptionNameserversNoDefault keeps libevent from adding 127.0.0.1
	// as a nameserver when the file lists none.
	DNSOptionNameserversNoDefault ResolvConfOptions = C.DNS_OPTION_NAMESERVERS_NO_DEFAULT

	allResolvConfOptions = DNSOptionsAll | DNSOptionNameserversNoDefault
)

// DNSBase is an evdns_base: an asynchronous DNS resolver whose requests
// and replies run on a Base's loop. Create one with [Base.NewDNSBase].
//
// Lookups report their outcome to a callback that runs exactly once: the
// answer, an error, ErrDNSCancel after [DNSRequest.Cancel], or
// ErrDNSShutdown when the resolver is closed first. It runs on the loop's
// goroutine, except for the shutdown errors of a Close made while the loop
// is not running, which run on the closing goroutine, and those of closing
// the Base, which run where the Base is freed.
// The methods may be called from any goroutine; calls that reach libevent
// run on the loop's goroutine while the loop runs.
type DNSBase struct {
	ptr  *C.struct_evdns_base
	base *Base
	life lifetime

	mu sync.Mutex
	// pending are the requests whose callback has not run yet.
	pending map[*DNSRequest]struct{}
	// outstanding are the requests that libevent will still call back,
	// by registry key. Close cancels them and frees the evdns_base once
	// they have all called back, because libevent 2.1.12 reads the
	// evdns_base in a cancelled getaddrinfo request's callback.
	outstanding map[unsafe.Pointer]*DNSRequest
	// httpConns are the HTTP connections that look names up with this
	// resolver. The evdns_base is freed only after they are, because
	// libevent keeps using it for their lookups.
	httpConns map[*HTTPConnection]struct{}
	// lookupBEVs are the bufferevents whose ConnectHostname lookup may
	// still run in libevent. The evdns_base is freed only after their
	// lookups end (see BufferEvent.startLookup).
	lookupBEVs map[*BufferEvent]struct{}
	// shutDown is set once Close has failed the pending requests.
	shutDown bool
	// cFreed is set once evdns_base_free has run.
	cFreed bool
}

// NewDNSBase creates a resolver on the base (evdns_base_new). Without
// DNSBaseInitializeNameservers it has no nameservers; add them with
// AddNameserver, or read a file with ParseResolvConf.
func (b *Base) NewDNSBase(flags DNSBaseFlags) (*DNSBase, error) {
	const op = "evdns_base_new"
	if flags&^allDNSBaseFlags != 0 {
		return nil, invalidError(op, "unknown flags 0x%x", int(flags&^allDNSBaseFlags))
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()
	var ptr *C.struct_evdns_base
	if err := b.callOnLoop(func() { ptr = C.evdns_base_new(b.ptr, C.int(flags)) }); err != nil {
		return nil, err
	}
	if ptr == nil {
		if flags&DNSBaseInitializeNameservers != 0 {
			return nil, invalidError(op, "reading the system resolver configuration failed; "+
				"create the resolver without DNSBaseInitializeNameservers and add nameservers")
		}
		return nil, opError(op, nil)
	}
	d := &DNSBase{
		ptr:         ptr,
		base:        b,
		pending:     make(map[*DNSRequest]struct{}),
		outstanding: make(map[unsafe.Pointer]*DNSRequest),
	}
	b.addChild(d)
	return d, nil
}

// NewDNSBaseFromResolvConf creates a resolver without the system
// configuration and configures it from the resolv.conf file at path with
// the given options. If the file cannot be used, it returns an error that
// names the file and the reason, and no resolver.
func (b *Base) NewDNSBaseFromResolvConf(path string, options ResolvConfOptions) (*DNSBase, error) {
	d, err := b.NewDNSBase(0)
	if err != nil {
		return nil, err
	}
	if err := d.ParseResolvConf(options, path); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *DNSBase) enter(op string) error {
	if d == nil || d.ptr == nil {
		return invalidError(op, "the DNSBase was not created by NewDNSBase")
	}
	if err := d.base.enter(op); err != nil {
		return err
	}
	if !d.life.acquire() {
		d.base.leave()
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (d *DNSBase) leave() {
	if d.life.release() {
		d.shutdown()
	}
	d.base.leave()
}

// call runs fn with the evdns_base on the loop's goroutine, or at once when
// the loop is not running.
func (d *DNSBase) call(op string, fn func(ptr *C.struct_evdns_base)) error {
	if err := d.enter(op); err != nil {
		return err
	}
	defer d.leave()
	return d.base.callOnLoop(func() { fn(d.ptr) })
}

// Base returns the base the resolver runs on.
func (d *DNSBase) Base() *Base {
	if d == nil {
		return nil
	}
	return d.base
}

// Close fails every pending lookup with ErrDNSShutdown and frees the
// resolver (evdns_base_free). The callbacks of the pending lookups run
// before Close returns: on the loop's goroutine when the loop runs, and on
// the caller's goroutine otherwise. Lookups of BufferEvent.ConnectHostname
// are the exception: they finish or time out as usual, and the C resolver
// is freed after the last of them.
// libevent 2.1.12 frees the resolver with or without calling back its
// pending requests; Close always calls them back, because a lookup that
// never completes leaks whatever waits for it. Closing twice is harmless.
func (d *DNSBase) Close() error {
	if d == nil || d.ptr == nil {
		return nil
	}
	b := d.base
	if !b.life.acquire() {
		d.life.close()
		return nil
	}
	defer b.leave()
	if first, idle := d.life.close(); first && idle {
		d.shutdown()
	}
	return nil
}

// shutdown fails the pending requests, cancels those that libevent still
// holds, and frees the evdns_base once none is left. It runs once, when the
// resolver is closed and no call is in flight.
func (d *DNSBase) shutdown() {
	err := d.base.callOnLoop(func() {
		d.mu.Lock()
		d.shutDown = true
		pending := make([]*DNSRequest, 0, len(d.pending))
		for r := range d.pending {
			pending = append(pending, r)
		}
		conns := d.takeHTTPConnections()
		d.mu.Unlock()

		for _, r := range pending {
			d.failAtShutdown(r)
		}
		for _, c := range conns {
			c.closeByResolver()
		}

		d.mu.Lock()
		for _, r := range d.outstanding {
			r.cancelInC()
		}
		idle := d.idleLocked()
		d.mu.Unlock()
		if idle {
			d.scheduleFreeC()
		}
	})
	if err != nil {
		// The base is closing; its free calls freeWithBase.
		return
	}
}

// failAtShutdown runs r's callback with the outcome it has: an answer that
// arrived while the lookup started, ErrDNSCancel after Cancel, or
// ErrDNSShutdown.
func (d *DNSBase) failAtShutdown(r *DNSRequest) {
	d.mu.Lock()
	early := r.early
	cancelled := r.cancelled
	d.mu.Unlock()
	switch {
	case early != nil:
		d.deliver(r, *early)
	case cancelled:
		d.deliver(r, r.errorOutcome(int(C.DNS_ERR_CANCEL), false))
	default:
		d.deliver(r, r.errorOutcome(int(C.DNS_ERR_SHUTDOWN), false))
	}
}

// freeC frees the evdns_base once. Its caller has made sure that libevent
// holds no request of this resolver.
func (d *DNSBase) freeC() {
	if !d.base.removeChild(d) {
		// Base.free has taken the resolver and frees it.
		return
	}
	d.mu.Lock()
	d.cFreed = true
	d.mu.Unlock()
	C.evdns_base_free(d.ptr, 0)
}

// scheduleFreeC frees the evdns_base from a zero timeout. A cancelled
// getaddrinfo request can still run libevent code that locks the
// evdns_base after its callback reached the package: the cancellation of
// its other half is a deferred callback. libevent makes deferred callbacks
// active at the start of a loop iteration and timeouts after the backend
// wait, so a timeout added now runs after them.
// NOTE: this ordering is how libevent 2.1.12's event_base_loop works, not
// a documented guarantee.
func (d *DNSBase) scheduleFreeC() {
	if err := d.base.Once(-1, EvTimeout, 0, func(int, EventFlags) { d.freeC() }); err != nil {
		// The base is closing; Base.free frees the resolver.
		return
	}
}

// freeWithBase frees the resolver while its Base is freed. No callback can
// run any more, so the pending requests are failed here and the keys that
// libevent holds are released.
func (d *DNSBase) freeWithBase() {
	d.life.close()
	// The HTTP connections and the bufferevents that use the evdns_base
	// go first, because the Base frees its children in no particular order.
	d.mu.Lock()
	conns := d.takeHTTPConnections()
	bevs := make([]*BufferEvent, 0, len(d.lookupBEVs))
	for bev := range d.lookupBEVs {
		bevs = append(bevs, bev)
	}
	d.mu.Unlock()
	for _, c := range conns {
		c.freeWithBase()
	}
	for _, bev := range bevs {
		bev.freeWithBase()
	}
	d.mu.Lock()
	d.shutDown = true
	pending := make([]*DNSRequest, 0, len(d.pending))
	for r := range d.pending {
		pending = append(pending, r)
	}
	keys := make([]unsafe.Pointer, 0, len(d.outstanding))
	for key := range d.outstanding {
		keys = append(keys, key)
	}
	clear(d.outstanding)
	alreadyFreed := d.cFreed
	d.cFreed = true
	d.mu.Unlock()

	for _, r := range pending {
		d.failAtShutdown(r)
	}
	if !alreadyFreed {
		// No request is cancelled in C here: the event_base goes next, so
		// their deferred callbacks would never run anyway, and
		// evdns_base_free with fail_requests 0 calls nothing back.
		C.evdns_base_free(d.ptr, 0)
	}
	for _, key := range keys {
		handles.release(key)
	}
}

// ParseResolvConf reads nameservers, search domains and options from a
// resolv.conf file (evdns_base_resolv_conf_parse). options selects which
// parts it takes. The error names the file and the reason; when the file
// lists no nameserver, the resolver stays usable (with 127.0.0.1 added
// unless options has DNSOptionNameserversNoDefault).
func (d *DNSBase) ParseResolvConf(options ResolvConfOptions, path string) error {
	const op = "evdns_base_resolv_conf_parse"
	if options&^allResolvConfOptions != 0 {
		return invalidError(op, "unknown options 0x%x", int(options&^allResolvConfOptions))
	}
	if path == "" {
		return invalidError(op, "empty file name")
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var r, count C.int
	if err := d.call(op, func(ptr *C.struct_evdns_base) {
		r = C.evdns_base_resolv_conf_parse(ptr, C.int(options), cpath)
		count = C.evdns_base_count_nameservers(ptr)
	}); err != nil {
		return err
	}
	if r == 0 && options&DNSOptionNameservers != 0 && count == 0 {
		// With DNS_OPTION_NAMESERVERS_NO_DEFAULT, libevent 2.1.12 reports
		// success for a file without nameservers.
		r = 6
	}
	if r == 0 {
		return nil
	}
	return resolvConfError(op, path, int(r))
}

// resolvConfError explains a nonzero result of evdns_base_resolv_conf_parse.
func resolvConfError(op, path string, code int) error {
	var reason string
	switch code {
	case 1:
		reason = "cannot be opened"
		if _, err := os.Stat(path); err != nil {
			reason += ": " + err.Error()
		}
	case 2:
		reason = "cannot be read (stat failed)"
	case 3:
		reason = "is too large"
	case 4:
		reason = "cannot be parsed: out of memory"
	case 5:
		reason = "was read short"
	case 6:
		reason = "lists no nameserver; add one with AddNameserver"
	default:
		reason = "failed with code " + strconv.Itoa(code)
	}
	return &Error{Op: op, Err: fmt.Errorf("%w: resolv.conf file %s %s", ErrInvalid, path, reason)}
}

// LoadHosts reads a hosts file (evdns_base_load_hosts); its names are
// answered without a query. An empty path loads the system hosts file.
func (d *DNSBase) LoadHosts(path string) error {
	const op = "evdns_base_load_hosts"
	var cpath *C.char
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	var r C.int
	if err := d.call(op, func(ptr *C.struct_evdns_base) { r = C.evdns_base_load_hosts(ptr, cpath) }); err != nil {
		return err
	}
	if r != 0 {
		return &Error{Op: op, Err: fmt.Errorf("%w: hosts file %s cannot be read", ErrInvalid, path)}
	}
	return nil
}

// ClearHosts removes every host that LoadHosts loaded
// (evdns_base_clear_host_addresses).
func (d *DNSBase) ClearHosts() error {
	return d.call("evdns_base_clear_host_addresses", func(ptr *C.struct_evdns_base) {
		C.evdns_base_clear_host_addresses(ptr)
	})
}

// AddNameserver adds a nameserver at address, an IP literal with an
// optional port such as "127.0.0.1:5353", "[::1]:53" or "192.0.2.1"
// (evdns_base_nameserver_ip_add). The port defaults to 53.
func (d *DNSBase) AddNameserver(address string) error {
	const op = "evdns_base_nameserver_ip_add"
	ap, err := parseNameserver(address)
	if err != nil {
		return invalidError(op, "%v", err)
	}
	return d.addNameserver(op, ap)
}

// AddNameserverAddr adds a nameserver at addr
// (evdns_base_nameserver_sockaddr_add).
func (d *DNSBase) AddNameserverAddr(addr netip.AddrPort) error {
	const op = "evdns_base_nameserver_sockaddr_add"
	if !addr.IsValid() || addr.Port() == 0 {
		return invalidError(op, "invalid nameserver address %v", addr)
	}
	return d.addNameserver(op, addr)
}

func (d *DNSBase) addNameserver(op string, ap netip.AddrPort) error {
	family, raw := addrBytes(ap.Addr())
	craw := C.CBytes(raw)
	defer C.free(craw)
	var r C.int
	if err := d.call(op, func(ptr *C.struct_evdns_base) {
		r = C.golibevent_dns_nameserver_add(ptr, family, craw, C.int(ap.Port()))
	}); err != nil {
		return err
	}
	if r != 0 {
		return &Error{Op: op, Err: fmt.Errorf("%w: nameserver %v was not added (code %d)", errFailed, ap, int(r))}
	}
	return nil
}

// parseNameserver parses "ip", "ip:port" or "[ipv6]:port".
func parseNameserver(address string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(address); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("nameserver %q has port 0", address)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	addr, err := netip.ParseAddr(address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("nameserver %q is not an IP address with an optional port", address)
	}
	if addr.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("nameserver %q has a zone, which is not supported", address)
	}
	return netip.AddrPortFrom(addr.Unmap(), 53), nil
}

// addrBytes returns the address family and the raw bytes of addr.
func addrBytes(addr netip.Addr) (C.int, []byte) {
	addr = addr.Unmap()
	if addr.Is4() {
		a := addr.As4()
		return C.AF_INET, a[:]
	}
	a := addr.As16()
	return C.AF_INET6, a[:]
}

// Nameservers returns the addresses of the configured nameservers
// (evdns_base_get_nameserver_addr).
func (d *DNSBase) Nameservers() ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	err := d.call("evdns_base_get_nameserver_addr", func(ptr *C.struct_evdns_base) {
		var raw [16]byte
		var port C.int
		for i := 0; ; i++ {
			family := C.golibevent_dns_nameserver_addr(ptr, C.int(i), (*C.uint8_t)(unsafe.Pointer(&raw[0])), &port)
			if family < 0 {
				return
			}
			var addr netip.Addr
			if family == C.AF_INET {
				addr = netip.AddrFrom4([4]byte(raw[:4]))
			} else {
				addr = netip.AddrFrom16(raw)
			}
			out = append(out, netip.AddrPortFrom(addr, uint16(port)))
		}
	})
	return out, err
}

// CountNameservers returns the number of configured nameservers
// (evdns_base_count_nameservers).
func (d *DNSBase) CountNameservers() (int, error) {
	var n C.int
	err := d.call("evdns_base_count_nameservers", func(ptr *C.struct_evdns_base) {
		n = C.evdns_base_count_nameservers(ptr)
	})
	return int(n), err
}

// ClearNameserversAndSuspend removes every nameserver and holds new and
// in-flight requests until Resume (evdns_base_clear_nameservers_and_suspend).
func (d *DNSBase) ClearNameserversAndSuspend() error {
	const op = "evdns_base_clear_nameservers_and_suspend"
	var r C.int
	if err := d.call(op, func(ptr *C.struct_evdns_base) { r = C.evdns_base_clear_nameservers_and_suspend(ptr) }); err != nil {
		return err
	}
	if r != 0 {
		return opError(op, nil)
	}
	return nil
}

// Resume sends the requests held since ClearNameserversAndSuspend
// (evdns_base_resume).
func (d *DNSBase) Resume() error {
	const op = "evdns_base_resume"
	var r C.int
	if err := d.call(op, func(ptr *C.struct_evdns_base) { r = C.evdns_base_resume(ptr) }); err != nil {
		return err
	}
	if r != 0 {
		return opError(op, nil)
	}
	return nil
}

// ClearSearch removes every search domain (evdns_base_search_clear).
func (d *DNSBase) ClearSearch() error {
	return d.call("evdns_base_search_clear", func(ptr *C.struct_evdns_base) { C.evdns_base_search_clear(ptr) })
}

// AddSearch appends a search domain (evdns_base_search_add). Names with
// fewer dots than the ndots setting are tried with each search domain.
func (d *DNSBase) AddSearch(domain string) error {
	const op = "evdns_base_search_add"
	if err := checkDNSName(op, domain); err != nil {
		return err
	}
	cdomain := C.CString(domain)
	defer C.free(unsafe.Pointer(cdomain))
	return d.call(op, func(ptr *C.struct_evdns_base) { C.evdns_base_search_add(ptr, cdomain) })
}

// SetSearchNDots sets how many dots a name needs to be tried as is before
// the search domains (evdns_base_search_ndots_set).
func (d *DNSBase) SetSearchNDots(ndots int) error {
	const op = "evdns_base_search_ndots_set"
	if ndots < 0 || ndots > maxDNSNameLength {
		return invalidError(op, "ndots %d is out of range 0 to %d", ndots, maxDNSNameLength)
	}
	return d.call(op, func(ptr *C.struct_evdns_base) { C.evdns_base_search_ndots_set(ptr, C.int(ndots)) })
}

// maxDNSNameLength is the longest name in presentation form that fits the
// 255-byte wire form of RFC 1035.
const maxDNSNameLength = 253

// checkDNSName rejects names that libevent cannot put on the wire.
func checkDNSName(op, name string) error {
	switch {
	case name == "":
		return invalidError(op, "empty name")
	case len(name) > maxDNSNameLength+1:
		return invalidError(op, "name of %d bytes is longer than %d", len(name), maxDNSNameLength)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return invalidError(op, "name %q contains a NUL byte", name)
		}
	}
	return nil
}

// DNS resolver options (evdns_base_set_option). Each setter validates its
// value before it calls libevent.

// SetTimeout sets how long the resolver waits for a reply before it
// resends a request ("timeout:"); at least 1 ms. libevent's default is 5 s.
func (d *DNSBase) SetTimeout(timeout time.Duration) error {
	return d.setDurationOption("timeout:", timeout, 0)
}

// SetGetAddrInfoAllowSkew sets how long GetAddrInfo waits for the second
// of its IPv4 and IPv6 answers after the first arrived
// ("getaddrinfo-allow-skew:"); at least 1 ms. libevent's default is 3 s.
func (d *DNSBase) SetGetAddrInfoAllowSkew(skew time.Duration) error {
	return d.setDurationOption("getaddrinfo-allow-skew:", skew, 0)
}

// SetInitialProbeTimeout sets how long the resolver waits before it first
// probes a nameserver that it marked as down ("initial-probe-timeout:");
// 1 ms to 1 h. libevent's default is 10 s.
func (d *DNSBase) SetInitialProbeTimeout(timeout time.Duration) error {
	return d.setDurationOption("initial-probe-timeout:", timeout, time.Hour)
}

// SetAttempts sets how many times a request is sent before it fails with
// ErrDNSTimeout ("attempts:"); 1 to 255. libevent's default is 3.
func (d *DNSBase) SetAttempts(n int) error {
	return d.setIntOption("attempts:", n, 1, 255)
}

// SetNDots sets the search ndots ("ndots:"), as SetSearchNDots does.
func (d *DNSBase) SetNDots(n int) error {
	return d.setIntOption("ndots:", n, 0, maxDNSNameLength)
}

// SetMaxTimeouts sets how many timeouts in a row mark a nameserver as down
// ("max-timeouts:"); 1 to 255. libevent's default is 3.
func (d *DNSBase) SetMaxTimeouts(n int) error {
	return d.setIntOption("max-timeouts:", n, 1, 255)
}

// SetMaxInflight sets how many requests may wait for a reply at once; the
// others queue ("max-inflight:"); 1 to 65000. libevent's default is 64.
func (d *DNSBase) SetMaxInflight(n int) error {
	return d.setIntOption("max-inflight:", n, 1, 65000)
}

// SetRandomizeCase turns on or off the random upper and lower case of
// query names that makes replies harder to forge ("randomize-case:"). It
// is on by default.
func (d *DNSBase) SetRandomizeCase(on bool) error {
	v := 0
	if on {
		v = 1
	}
	return d.setIntOption("randomize-case:", v, 0, 1)
}

// SetSocketReceiveBuffer sets SO_RCVBUF, in bytes, on the sockets of
// nameservers added afterwards ("so-rcvbuf:"); 0 keeps the system default.
func (d *DNSBase) SetSocketReceiveBuffer(bytes int) error {
	return d.setIntOption("so-rcvbuf:", bytes, 0, math.MaxInt32)
}

// SetSocketSendBuffer sets SO_SNDBUF, in bytes, on the sockets of
// nameservers added afterwards ("so-sndbuf:"); 0 keeps the system default.
func (d *DNSBase) SetSocketSendBuffer(bytes int) error {
	return d.setIntOption("so-sndbuf:", bytes, 0, math.MaxInt32)
}

// SetBindTo sets the local address of the sockets of nameservers added
// afterwards ("bind-to:"); its port may be 0.
func (d *DNSBase) SetBindTo(addr netip.AddrPort) error {
	const op = "evdns_base_set_option"
	if !addr.IsValid() || addr.Addr().Zone() != "" {
		return invalidError(op, "bind-to: invalid address %v", addr)
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	value := addr.String()
	if addr.Port() == 0 {
		// evutil_parse_sockaddr_port rejects port 0 but takes an address
		// without a port as port 0.
		value = addr.Addr().String()
		if addr.Addr().Is6() {
			value = "[" + value + "]"
		}
	}
	return d.setOption("bind-to:", value)
}

func (d *DNSBase) setDurationOption(name string, value, max time.Duration) error {
	const op = "evdns_base_set_option"
	if value < time.Millisecond {
		return invalidError(op, "%s %v is shorter than 1ms", name, value)
	}
	if max > 0 && value > max {
		return invalidError(op, "%s %v is longer than %v", name, value, max)
	}
	if value > time.Duration(math.MaxInt32)*time.Second {
		return invalidError(op, "%s %v is too long", name, value)
	}
	micros := value.Microseconds()
	return d.setOption(name, fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6))
}

func (d *DNSBase) setIntOption(name string, value, min, max int) error {
	const op = "evdns_base_set_option"
	if value < min || value > max {
		return invalidError(op, "%s %d is out of range %d to %d", name, value, min, max)
	}
	return d.setOption(name, strconv.Itoa(value))
}

func (d *DNSBase) setOption(name, value string) error {
	const op = "evdns_base_set_option"
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	cvalue := C.CString(value)
	defer C.free(unsafe.Pointer(cvalue))
	var r C.int
	if err := d.call(op, func(ptr *C.struct_evdns_base) { r = C.evdns_base_set_option(ptr, cname, cvalue) }); err != nil {
		return err
	}
	if r != 0 {
		return invalidError(op, "libevent rejected %s %s", name, value)
	}
	return nil
}
