//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
	"unsafe"
)

// The methods that add records validate them at once and keep them in Go.
// Respond hands them to libevent with the flags and the response code in
// one C call (golibevent_dns_respond), because every C call adds a fixed
// cost to each request. libevent rejects a valid record only when memory
// runs out, which Respond then reports.

// recordHeaderSize is the size of a serialized record's fixed fields:
// section (1 byte), is_name (1), type (2), class (2), TTL (4) and the name's
// length (2), in the host's byte order, as golibevent_dns_respond reads
// them.
const recordHeaderSize = 12

func ttlSeconds(op string, ttl time.Duration) (uint32, error) {
	if ttl < 0 || ttl/time.Second > 1<<31-1 {
		return 0, invalidError(op, "TTL %v is out of range 0 to 2^31-1 seconds", ttl)
	}
	return uint32(ttl / time.Second), nil
}

// appendRecord serializes one record onto r.records; the caller holds
// server.mu and has validated the fields.
func (r *DNSServerRequest) appendRecord(section DNSSection, name string, rrType DNSType, class int,
	seconds uint32, isName bool, data []byte) {
	var header [recordHeaderSize]byte
	header[0] = byte(section)
	if isName {
		header[1] = 1
	}
	binary.NativeEndian.PutUint16(header[2:], uint16(rrType))
	binary.NativeEndian.PutUint16(header[4:], uint16(class))
	binary.NativeEndian.PutUint32(header[6:], seconds)
	binary.NativeEndian.PutUint16(header[10:], uint16(len(name)))
	r.records = append(r.records, header[:]...)
	r.records = append(r.records, name...)
	r.records = binary.NativeEndian.AppendUint16(r.records, uint16(len(data)))
	r.records = append(r.records, data...)
}

// AddReply adds a record with raw data to section
// (evdns_server_request_add_reply).
func (r *DNSServerRequest) AddReply(section DNSSection, name string, rrType DNSType, class int, ttl time.Duration, data []byte) error {
	const op = "evdns_server_request_add_reply"
	return r.addReply(op, section, name, rrType, class, ttl, data, false)
}

// AddNameReply adds a record whose data is a domain name, such as NS,
// CNAME or PTR, to section. libevent encodes and compresses the name
// (evdns_server_request_add_reply with is_name).
func (r *DNSServerRequest) AddNameReply(section DNSSection, name string, rrType DNSType, class int, ttl time.Duration, target string) error {
	const op = "evdns_server_request_add_reply"
	if err := checkDNSName(op, target); err != nil {
		return err
	}
	return r.addReply(op, section, name, rrType, class, ttl, append([]byte(target), 0), true)
}

func (r *DNSServerRequest) addReply(op string, section DNSSection, name string, rrType DNSType, class int,
	ttl time.Duration, data []byte, isName bool) error {
	if section < DNSAnswerSection || section > DNSAdditionalSection {
		return invalidError(op, "unknown section %d", section)
	}
	if rrType < 0 || rrType > 0xffff || class < 0 || class > 0xffff {
		return invalidError(op, "type %d or class %d is out of range 0 to 65535", rrType, class)
	}
	if len(data) > 0xffff {
		return invalidError(op, "data of %d bytes is longer than 65535", len(data))
	}
	if err := checkDNSName(op, name); err != nil {
		return err
	}
	seconds, err := ttlSeconds(op, ttl)
	if err != nil {
		return err
	}
	return r.call(op, func() error {
		r.appendRecord(section, name, rrType, class, seconds, isName, data)
		return nil
	})
}

// AddA adds A records for name to the answer section, one per address, as
// evdns_server_request_add_a_reply does. Every address must be IPv4.
func (r *DNSServerRequest) AddA(name string, addrs []netip.Addr, ttl time.Duration) error {
	const op = "evdns_server_request_add_a_reply"
	for _, a := range addrs {
		if !a.Unmap().Is4() {
			return invalidError(op, "%v is not an IPv4 address", a)
		}
	}
	return r.addAddresses(op, name, addrs, ttl, DNSTypeA)
}

// AddAAAA adds AAAA records for name to the answer section, one per
// address, as evdns_server_request_add_aaaa_reply does. Every address must
// be IPv6.
func (r *DNSServerRequest) AddAAAA(name string, addrs []netip.Addr, ttl time.Duration) error {
	const op = "evdns_server_request_add_aaaa_reply"
	for _, a := range addrs {
		if !a.Is6() || a.Is4In6() {
			return invalidError(op, "%v is not an IPv6 address", a)
		}
	}
	return r.addAddresses(op, name, addrs, ttl, DNSTypeAAAA)
}

func (r *DNSServerRequest) addAddresses(op, name string, addrs []netip.Addr, ttl time.Duration, rrType DNSType) error {
	if len(addrs) == 0 {
		return invalidError(op, "no addresses")
	}
	if err := checkDNSName(op, name); err != nil {
		return err
	}
	seconds, err := ttlSeconds(op, ttl)
	if err != nil {
		return err
	}
	return r.call(op, func() error {
		for _, a := range addrs {
			if rrType == DNSTypeA {
				raw := a.Unmap().As4()
				r.appendRecord(DNSAnswerSection, name, rrType, DNSClassInet, seconds, false, raw[:])
			} else {
				raw := a.As16()
				r.appendRecord(DNSAnswerSection, name, rrType, DNSClassInet, seconds, false, raw[:])
			}
		}
		return nil
	})
}

// AddCNAME adds a CNAME record that maps name to cname to the answer
// section, as evdns_server_request_add_cname_reply does.
func (r *DNSServerRequest) AddCNAME(name, cname string, ttl time.Duration) error {
	const op = "evdns_server_request_add_cname_reply"
	if err := checkDNSName(op, cname); err != nil {
		return err
	}
	return r.addReply(op, DNSAnswerSection, name, DNSTypeCNAME, DNSClassInet, ttl, append([]byte(cname), 0), true)
}

// AddPTR adds a PTR record that maps name, such as
// "1.0.0.127.in-addr.arpa", to hostname to the answer section, as
// evdns_server_request_add_ptr_reply does.
func (r *DNSServerRequest) AddPTR(name, hostname string, ttl time.Duration) error {
	const op = "evdns_server_request_add_ptr_reply"
	if err := checkDNSName(op, hostname); err != nil {
		return err
	}
	return r.addReply(op, DNSAnswerSection, name, DNSTypePTR, DNSClassInet, ttl, append([]byte(hostname), 0), true)
}

// SetFlags sets the reply's AA and RD flags
// (evdns_server_request_set_flags).
func (r *DNSServerRequest) SetFlags(flags DNSServerFlags) error {
	const op = "evdns_server_request_set_flags"
	if flags&^(DNSFlagAuthoritative|DNSFlagRecursionDesired) != 0 {
		return invalidError(op, "unknown flags 0x%x", int(flags))
	}
	return r.call(op, func() error {
		r.flags = flags
		r.flagsSet = true
		return nil
	})
}

// Respond adds the records, sets the flags and sends the reply with the
// response code rcode, 0 to 15, and ends the request
// (evdns_server_request_respond). If the reply cannot be built or sent,
// the request is dropped and the error returned.
func (r *DNSServerRequest) Respond(rcode int) error {
	const op = "evdns_server_request_respond"
	if rcode < 0 || rcode > 15 {
		return invalidError(op, "response code %d is out of range 0 to 15", rcode)
	}
	return r.call(op, func() error {
		s := r.server
		r.ended = true
		delete(s.requests, r)
		var records *C.uint8_t
		if len(r.records) > 0 {
			records = (*C.uint8_t)(unsafe.Pointer(&r.records[0]))
		}
		setFlags := C.int(0)
		if r.flagsSet {
			setFlags = 1
		}
		var failed C.int
		rc, errno := C.golibevent_dns_respond(r.ptr, records, C.size_t(len(r.records)), setFlags,
			C.int(r.flags), C.int(rcode), &failed)
		r.records = nil
		switch {
		case rc == C.GOLIBEVENT_DNS_RECORD_REJECTED:
			C.evdns_server_request_drop(r.ptr)
			return &Error{Op: "evdns_server_request_add_reply",
				Err: fmt.Errorf("%w: libevent rejected record %d of the reply", errFailed, int(failed))}
		case rc < 0:
			C.evdns_server_request_drop(r.ptr)
			return opError(op, errno)
		case rc > 0:
			s.queued = true
		}
		return nil
	})
}

// Drop ends the request without a reply (evdns_server_request_drop).
func (r *DNSServerRequest) Drop() error {
	const op = "evdns_server_request_drop"
	return r.call(op, func() error {
		s := r.server
		r.ended = true
		r.records = nil
		delete(s.requests, r)
		C.evdns_server_request_drop(r.ptr)
		return nil
	})
}
