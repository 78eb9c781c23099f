//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Sentinel errors of DNS lookups, one per libevent DNS_ERR_* code. A
// *DNSError matches the sentinel of its code with errors.Is.
var (
	// ErrDNSFormat is DNS_ERR_FORMAT: the nameserver could not parse the
	// query.
	ErrDNSFormat = errors.New("nameserver could not parse the query")
	// ErrDNSServerFailed is DNS_ERR_SERVERFAILED.
	ErrDNSServerFailed = errors.New("nameserver failed")
	// ErrDNSNotExist is DNS_ERR_NOTEXIST: the name does not exist.
	ErrDNSNotExist = errors.New("name does not exist")
	// ErrDNSNotImplemented is DNS_ERR_NOTIMPL: the nameserver does not
	// support the query.
	ErrDNSNotImplemented = errors.New("nameserver does not implement the query")
	// ErrDNSRefused is DNS_ERR_REFUSED.
	ErrDNSRefused = errors.New("nameserver refused the query")
	// ErrDNSTruncated is DNS_ERR_TRUNCATED: the reply was truncated or
	// malformed.
	ErrDNSTruncated = errors.New("reply truncated or malformed")
	// ErrDNSUnknown is DNS_ERR_UNKNOWN.
	ErrDNSUnknown = errors.New("unknown DNS error")
	// ErrDNSTimeout is DNS_ERR_TIMEOUT: no nameserver answered in time.
	ErrDNSTimeout = errors.New("request timed out")
	// ErrDNSShutdown is DNS_ERR_SHUTDOWN: the resolver was closed while
	// the request was pending.
	ErrDNSShutdown = errors.New("resolver closed while the request was pending")
	// ErrDNSCancel is DNS_ERR_CANCEL (and EVUTIL_EAI_CANCEL): the request
	// was cancelled.
	ErrDNSCancel = errors.New("request cancelled")
	// ErrDNSNoData is DNS_ERR_NODATA (and EVUTIL_EAI_NODATA): the name
	// exists but has no address of the requested family.
	ErrDNSNoData = errors.New("no address of the requested family")
)

// Sentinel errors of getaddrinfo, one per EVUTIL_EAI_* code that has no
// DNS_ERR_* counterpart above.
var (
	// ErrEAIAddrFamily is EVUTIL_EAI_ADDRFAMILY.
	ErrEAIAddrFamily = errors.New("host has no address in the requested family")
	// ErrEAIAgain is EVUTIL_EAI_AGAIN: a temporary failure.
	ErrEAIAgain = errors.New("temporary failure in name resolution")
	// ErrEAIBadFlags is EVUTIL_EAI_BADFLAGS.
	ErrEAIBadFlags = errors.New("invalid getaddrinfo flags")
	// ErrEAIFail is EVUTIL_EAI_FAIL. libevent 2.1.12 reports every DNS
	// error of getaddrinfo other than a missing name with it, timeouts and
	// empty answers included.
	ErrEAIFail = errors.New("non-recoverable failure in name resolution")
	// ErrEAIFamily is EVUTIL_EAI_FAMILY: the address family is not
	// supported.
	ErrEAIFamily = errors.New("address family not supported")
	// ErrEAIMemory is EVUTIL_EAI_MEMORY.
	ErrEAIMemory = errors.New("out of memory")
	// ErrEAINoName is EVUTIL_EAI_NONAME: the name is not known.
	ErrEAINoName = errors.New("name or service not known")
	// ErrEAIService is EVUTIL_EAI_SERVICE: the service is not known for
	// the socket type.
	ErrEAIService = errors.New("service not supported for the socket type")
	// ErrEAISockType is EVUTIL_EAI_SOCKTYPE.
	ErrEAISockType = errors.New("socket type not supported")
	// ErrEAISystem is EVUTIL_EAI_SYSTEM.
	ErrEAISystem = errors.New("system error in name resolution")
)

// DNSError is the error of a DNS lookup: the libevent function, the name or
// address looked up, and the code that libevent reported.
type DNSError struct {
	// Op is the libevent function that started the lookup, such as
	// "evdns_getaddrinfo".
	Op string
	// Name is the name or address that was looked up.
	Name string
	// Code is a DNS_ERR_* value, or an EVUTIL_EAI_* value when EAI is true.
	Code int
	// EAI reports that Code is an EVUTIL_EAI_* value.
	EAI bool
}

func (e *DNSError) Error() string {
	return fmt.Sprintf("libevent: %s %q: %s", e.Op, e.Name, e.CodeName())
}

// CodeName returns the name of the code, such as "DNS_ERR_TIMEOUT" or
// "EVUTIL_EAI_NONAME", followed by its meaning.
func (e *DNSError) CodeName() string {
	name, sentinel := dnsCodeInfo(e.Code, e.EAI)
	return name + " (" + sentinel.Error() + ")"
}

// Unwrap returns the sentinel of the code, so that errors.Is matches it.
func (e *DNSError) Unwrap() error {
	_, sentinel := dnsCodeInfo(e.Code, e.EAI)
	return sentinel
}

// errDNSUnknownCode stands for a code that libevent 2.1.12 does not define.
var errDNSUnknownCode = errors.New("unknown error code")

// dnsCodeInfo returns the C name of a DNS_ERR_* or EVUTIL_EAI_* code and
// its sentinel error.
func dnsCodeInfo(code int, eai bool) (string, error) {
	if !eai {
		switch code {
		case C.DNS_ERR_FORMAT:
			return "DNS_ERR_FORMAT", ErrDNSFormat
		case C.DNS_ERR_SERVERFAILED:
			return "DNS_ERR_SERVERFAILED", ErrDNSServerFailed
		case C.DNS_ERR_NOTEXIST:
			return "DNS_ERR_NOTEXIST", ErrDNSNotExist
		case C.DNS_ERR_NOTIMPL:
			return "DNS_ERR_NOTIMPL", ErrDNSNotImplemented
		case C.DNS_ERR_REFUSED:
			return "DNS_ERR_REFUSED", ErrDNSRefused
		case C.DNS_ERR_TRUNCATED:
			return "DNS_ERR_TRUNCATED", ErrDNSTruncated
		case C.DNS_ERR_UNKNOWN:
			return "DNS_ERR_UNKNOWN", ErrDNSUnknown
		case C.DNS_ERR_TIMEOUT:
			return "DNS_ERR_TIMEOUT", ErrDNSTimeout
		case C.DNS_ERR_SHUTDOWN:
			return "DNS_ERR_SHUTDOWN", ErrDNSShutdown
		case C.DNS_ERR_CANCEL:
			return "DNS_ERR_CANCEL", ErrDNSCancel
		case C.DNS_ERR_NODATA:
			return "DNS_ERR_NODATA", ErrDNSNoData
		}
		return fmt.Sprintf("DNS error %d", code), errDNSUnknownCode
	}
	switch code {
	case C.EVUTIL_EAI_ADDRFAMILY:
		return "EVUTIL_EAI_ADDRFAMILY", ErrEAIAddrFamily
	case C.EVUTIL_EAI_AGAIN:
		return "EVUTIL_EAI_AGAIN", ErrEAIAgain
	case C.EVUTIL_EAI_BADFLAGS:
		return "EVUTIL_EAI_BADFLAGS", ErrEAIBadFlags
	case C.EVUTIL_EAI_FAIL:
		return "EVUTIL_EAI_FAIL", ErrEAIFail
	case C.EVUTIL_EAI_FAMILY:
		return "EVUTIL_EAI_FAMILY", ErrEAIFamily
	case C.EVUTIL_EAI_MEMORY:
		return "EVUTIL_EAI_MEMORY", ErrEAIMemory
	case C.EVUTIL_EAI_NODATA:
		return "EVUTIL_EAI_NODATA", ErrDNSNoData
	case C.EVUTIL_EAI_NONAME:
		return "EVUTIL_EAI_NONAME", ErrEAINoName
	case C.EVUTIL_EAI_SERVICE:
		return "EVUTIL_EAI_SERVICE", ErrEAIService
	case C.EVUTIL_EAI_SOCKTYPE:
		return "EVUTIL_EAI_SOCKTYPE", ErrEAISockType
	case C.EVUTIL_EAI_SYSTEM:
		return "EVUTIL_EAI_SYSTEM", ErrEAISystem
	case C.EVUTIL_EAI_CANCEL:
		return "EVUTIL_EAI_CANCEL", ErrDNSCancel
	}
	return fmt.Sprintf("getaddrinfo error %d", code), errDNSUnknownCode
}
