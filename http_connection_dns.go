//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
#include <event2/bufferevent.h>
*/
import "C"

// What ties an HTTPConnection by host name to its DNSBase: the resolver
// keeps its evdns_base until the connections that use it are freed, closes
// them when it closes, and a request whose lookup failed reports the DNS
// error.

// addHTTPConnection records that c looks names up with d. It returns false
// when d is shutting down.
func (d *DNSBase) addHTTPConnection(c *HTTPConnection) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shutDown || d.cFreed {
		return false
	}
	if d.httpConns == nil {
		d.httpConns = make(map[*HTTPConnection]struct{})
	}
	d.httpConns[c] = struct{}{}
	return true
}

// removeHTTPConnection drops c from d once its C connection is freed, and frees
// the evdns_base if d was waiting only for it.
func (d *DNSBase) removeHTTPConnection(c *HTTPConnection) {
	d.removeUser(func() bool {
		_, had := d.httpConns[c]
		delete(d.httpConns, c)
		return had
	})
}

// removeUser runs remove, which drops a user of d's evdns_base under d.mu
// and reports whether it was there. If d is closed and waited only for that
// user, removeUser then frees the evdns_base.
func (d *DNSBase) removeUser(remove func() bool) {
	d.mu.Lock()
	had := remove()
	freeNow := had && d.shutDown && !d.cFreed && d.idleLocked()
	d.mu.Unlock()
	if freeNow {
		d.scheduleFreeC()
	}
}

// takeHTTPConnections returns the connections that use d. d.mu is held.
func (d *DNSBase) takeHTTPConnections() []*HTTPConnection {
	conns := make([]*HTTPConnection, 0, len(d.httpConns))
	for c := range d.httpConns {
		conns = append(conns, c)
	}
	return conns
}

// idleLocked reports whether libevent holds no lookup of d: no request
// that will still call back, no HTTP connection and no bufferevent that
// connects by name. d.mu is held.
func (d *DNSBase) idleLocked() bool {
	return len(d.outstanding) == 0 && len(d.httpConns) == 0 && len(d.lookupBEVs) == 0
}

// lookupError returns the error of the connection's last lookup of its
// host name (bufferevent_socket_get_dns_error), or nil. libevent clears it
// when the connection next looks the name up, so a failed connect that it
// reports is the one that the last lookup ended. It runs on the loop's
// goroutine.
func (c *HTTPConnection) lookupError() *DNSError {
	if c.dns == nil || c.released.Load() {
		return nil
	}
	bev := C.evhttp_connection_get_bufferevent(c.ptr)
	if bev == nil {
		return nil
	}
	code := int(C.bufferevent_socket_get_dns_error(bev))
	if code == 0 {
		return nil
	}
	return &DNSError{Op: "bufferevent_socket_connect_hostname", Name: c.host, Code: code, EAI: true}
}

// httpLookupFailure is the error of a request whose connection could not
// look its host name up. libevent reports it as a failed connection
// (EVREQ_HTTP_EOF, or no reason at all); the DNS error gives the reason.
type httpLookupFailure struct {
	dns *DNSError
}

func (f *httpLookupFailure) Error() string {
	return "looking up the HTTP server's name " + `"` + f.dns.Name + `"` + " failed: " + f.dns.CodeName()
}

func (f *httpLookupFailure) Unwrap() []error {
	return []error{ErrConnectFailed, f.dns}
}
