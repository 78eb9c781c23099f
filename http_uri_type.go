//go:build cgo

package libevent

/*
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>

// golibevent_uri_join joins uri into a new malloc'd string sized from its
// parts, so that evhttp_uri_join cannot run out of room. It returns NULL
// when malloc fails.
static char *golibevent_uri_join(struct evhttp_uri *uri)
{
	const char *parts[6];
	size_t size = 64;
	char *buf;
	int i;

	parts[0] = evhttp_uri_get_scheme(uri);
	parts[1] = evhttp_uri_get_userinfo(uri);
	parts[2] = evhttp_uri_get_host(uri);
	parts[3] = evhttp_uri_get_path(uri);
	parts[4] = evhttp_uri_get_query(uri);
	parts[5] = evhttp_uri_get_fragment(uri);
	for (i = 0; i < 6; i++) {
		if (parts[i] != NULL)
			size += strlen(parts[i]);
	}
	buf = malloc(size);
	if (buf == NULL)
		return NULL;
	if (evhttp_uri_join(uri, buf, size) == NULL) {
		free(buf);
		return NULL;
	}
	return buf;
}

// golibevent_uri_copy returns a copy of src that the caller owns, made by
// joining src and parsing the result, which gives back the same parts. It
// returns NULL when memory runs out.
static struct evhttp_uri *golibevent_uri_copy(const struct evhttp_uri *src)
{
	struct evhttp_uri *copy;
	char *joined = golibevent_uri_join((struct evhttp_uri *)src);

	if (joined == NULL)
		return NULL;
	copy = evhttp_uri_parse_with_flags(joined, EVHTTP_URI_NONCONFORMANT);
	free(joined);
	return copy;
}
*/
import "C"

import (
	"runtime"
	"strconv"
	"strings"
	"unsafe"
)

// URIPart names one component of a [URI].
type URIPart int

const (
	// URIScheme is the scheme, such as "http", without the colon.
	URIScheme URIPart = iota
	// URIUserinfo is the userinfo before the host, without the "@".
	URIUserinfo
	// URIHost is the host: a name, an IPv4 literal or a bracketed IPv6
	// literal.
	URIHost
	// URIPort is the port number.
	URIPort
	// URIPath is the path, which may be empty.
	URIPath
	// URIQuery is the query, without the "?".
	URIQuery
	// URIFragment is the fragment, without the "#".
	URIFragment
)

// String returns the part's name.
func (p URIPart) String() string {
	switch p {
	case URIScheme:
		return "scheme"
	case URIUserinfo:
		return "userinfo"
	case URIHost:
		return "host"
	case URIPort:
		return "port"
	case URIPath:
		return "path"
	case URIQuery:
		return "query"
	case URIFragment:
		return "fragment"
	}
	return "URIPart(" + strconv.Itoa(int(p)) + ")"
}

// URI is an evhttp_uri: a URI reference split into scheme, userinfo, host,
// port, path, query and fragment, as libevent parses and joins it. libevent
// keeps each part as it appeared, with no percent-decoding.
//
// Each part is either set, possibly to the empty string, or unset: the URI
// "file:///x" has an empty host, and "/x" has none. The getters return ""
// (or -1 for the port) for an unset part, so use [URI.Has] to distinguish.
//
// A URI is not safe for concurrent use. Close frees its C memory; a URI
// that is never closed is freed once the garbage collector finds it
// unreachable.
type URI struct {
	ptr  *C.struct_evhttp_uri
	life lifetime
	// cleanup frees ptr if the URI becomes unreachable before Close.
	cleanup runtime.Cleanup
}

// uriFromC wraps ptr. When owned is true the URI takes ptr over. Otherwise
// ptr stays with its owner, such as a request, and the URI wraps a copy
// that outlives that owner. It returns nil when ptr is nil or the copy
// fails for lack of memory.
func uriFromC(ptr *C.struct_evhttp_uri, owned bool) *URI {
	if ptr == nil {
		return nil
	}
	if !owned {
		ptr = C.golibevent_uri_copy(ptr)
		if ptr == nil {
			return nil
		}
	}
	u := &URI{ptr: ptr}
	u.cleanup = runtime.AddCleanup(u, freeURI, ptr)
	return u
}

func freeURI(ptr *C.struct_evhttp_uri) {
	C.evhttp_uri_free(ptr)
}

// goStringOrEmpty converts a C string that may be NULL.
func goStringOrEmpty(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// NewURI returns a URI with no part set (evhttp_uri_new).
func NewURI() (*URI, error) {
	ptr, errno := C.evhttp_uri_new()
	if ptr == nil {
		return nil, opError("evhttp_uri_new", errno)
	}
	return uriFromC(ptr, true), nil
}

func (u *URI) enter(op string) error {
	if u == nil || u.ptr == nil {
		return invalidError(op, "the URI was not created by ParseURI or NewURI")
	}
	if !u.life.acquire() {
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (u *URI) leave() {
	if u.life.release() {
		u.free()
	}
}

func (u *URI) free() {
	u.cleanup.Stop()
	freeURI(u.ptr)
}

// Close frees the URI (evhttp_uri_free). Closing twice is harmless, and
// every method afterwards returns ErrClosed or an empty value.
func (u *URI) Close() error {
	if u == nil || u.ptr == nil {
		return nil
	}
	if first, idle := u.life.close(); first && idle {
		u.free()
	}
	return nil
}

// getPart returns part's value and whether it is set.
func (u *URI) getPart(part URIPart) (string, bool) {
	if u.enter("evhttp_uri_get") != nil {
		return "", false
	}
	defer u.leave()
	var s *C.char
	switch part {
	case URIScheme:
		s = C.evhttp_uri_get_scheme(u.ptr)
	case URIUserinfo:
		s = C.evhttp_uri_get_userinfo(u.ptr)
	case URIHost:
		s = C.evhttp_uri_get_host(u.ptr)
	case URIPort:
		port := int(C.evhttp_uri_get_port(u.ptr))
		return strconv.Itoa(port), port >= 0
	case URIPath:
		s = C.evhttp_uri_get_path(u.ptr)
	case URIQuery:
		s = C.evhttp_uri_get_query(u.ptr)
	case URIFragment:
		s = C.evhttp_uri_get_fragment(u.ptr)
	default:
		return "", false
	}
	if s == nil {
		return "", false
	}
	return C.GoString(s), true
}

// Has reports whether part is set. It returns false on a closed URI.
func (u *URI) Has(part URIPart) bool {
	_, ok := u.getPart(part)
	return ok
}

// HasHost reports whether the URI has a host, possibly empty, as
// "file:///x" has and "/x" has not.
func (u *URI) HasHost() bool {
	return u.Has(URIHost)
}

// Scheme returns the scheme, such as "http" (evhttp_uri_get_scheme).
func (u *URI) Scheme() string { s, _ := u.getPart(URIScheme); return s }

// Userinfo returns the userinfo, such as "user:password"
// (evhttp_uri_get_userinfo).
func (u *URI) Userinfo() string { s, _ := u.getPart(URIUserinfo); return s }

// Host returns the host (evhttp_uri_get_host). An IPv6 literal keeps its
// brackets, as in "[::1]".
func (u *URI) Host() string { s, _ := u.getPart(URIHost); return s }

// Port returns the port, or -1 when none is set (evhttp_uri_get_port).
func (u *URI) Port() int {
	if u.enter("evhttp_uri_get_port") != nil {
		return -1
	}
	defer u.leave()
	return int(C.evhttp_uri_get_port(u.ptr))
}

// Path returns the path, still percent-encoded (evhttp_uri_get_path).
func (u *URI) Path() string { s, _ := u.getPart(URIPath); return s }

// Query returns the query without the "?", still percent-encoded
// (evhttp_uri_get_query). [ParseQuery] splits it into values.
func (u *URI) Query() string { s, _ := u.getPart(URIQuery); return s }

// Fragment returns the fragment without the "#" (evhttp_uri_get_fragment).
func (u *URI) Fragment() string { s, _ := u.getPart(URIFragment); return s }

// setPart sets part to value, or clears it when clear is true. libevent
// checks each value against RFC 3986's grammar for that part and rejects
// what does not match.
func (u *URI) setPart(op string, part URIPart, value string, clear bool) error {
	if !clear && strings.IndexByte(value, 0) >= 0 {
		return invalidError(op, "%s %q contains a NUL byte", part, value)
	}
	if err := u.enter(op); err != nil {
		return err
	}
	defer u.leave()
	var cs *C.char
	if !clear {
		cs = C.CString(value)
		defer C.free(unsafe.Pointer(cs))
	}
	var r C.int
	switch part {
	case URIScheme:
		r = C.evhttp_uri_set_scheme(u.ptr, cs)
	case URIUserinfo:
		r = C.evhttp_uri_set_userinfo(u.ptr, cs)
	case URIHost:
		r = C.evhttp_uri_set_host(u.ptr, cs)
	case URIPath:
		r = C.evhttp_uri_set_path(u.ptr, cs)
	case URIQuery:
		r = C.evhttp_uri_set_query(u.ptr, cs)
	case URIFragment:
		r = C.evhttp_uri_set_fragment(u.ptr, cs)
	}
	if r != 0 {
		return invalidError(op, "%s %q does not conform to RFC 3986", part, value)
	}
	return nil
}

// SetScheme sets the scheme (evhttp_uri_set_scheme). It must start with a
// letter followed by letters, digits, "+", "-" or ".".
func (u *URI) SetScheme(scheme string) error {
	return u.setPart("evhttp_uri_set_scheme", URIScheme, scheme, false)
}

// SetUserinfo sets the userinfo (evhttp_uri_set_userinfo).
func (u *URI) SetUserinfo(userinfo string) error {
	return u.setPart("evhttp_uri_set_userinfo", URIUserinfo, userinfo, false)
}

// SetHost sets the host (evhttp_uri_set_host). An IPv6 literal needs its
// brackets, as in "[::1]".
func (u *URI) SetHost(host string) error {
	return u.setPart("evhttp_uri_set_host", URIHost, host, false)
}

// SetPort sets the port, 0 to 65535 (evhttp_uri_set_port).
func (u *URI) SetPort(port int) error {
	const op = "evhttp_uri_set_port"
	if port < 0 || port > 65535 {
		return invalidError(op, "port %d out of range [0, 65535]", port)
	}
	return u.setPort(op, port)
}

func (u *URI) setPort(op string, port int) error {
	if err := u.enter(op); err != nil {
		return err
	}
	defer u.leave()
	if C.evhttp_uri_set_port(u.ptr, C.int(port)) != 0 {
		return invalidError(op, "port %d rejected", port)
	}
	return nil
}

// SetPath sets the path (evhttp_uri_set_path). libevent does not encode it,
// so reserved characters must already be percent-encoded.
func (u *URI) SetPath(path string) error {
	return u.setPart("evhttp_uri_set_path", URIPath, path, false)
}

// SetQuery sets the query, without the "?" (evhttp_uri_set_query).
func (u *URI) SetQuery(query string) error {
	return u.setPart("evhttp_uri_set_query", URIQuery, query, false)
}

// SetFragment sets the fragment, without the "#" (evhttp_uri_set_fragment).
func (u *URI) SetFragment(fragment string) error {
	return u.setPart("evhttp_uri_set_fragment", URIFragment, fragment, false)
}

// Clear unsets part, which libevent stores as NULL (or port -1).
func (u *URI) Clear(part URIPart) error {
	const op = "evhttp_uri_set"
	switch part {
	case URIPort:
		return u.setPort(op, -1)
	case URIScheme, URIUserinfo, URIHost, URIPath, URIQuery, URIFragment:
		return u.setPart(op, part, "", true)
	}
	return invalidError(op, "unknown URI part %d", int(part))
}

// SetFlags sets the parsing flags that the URI keeps
// (evhttp_uri_set_flags). They matter to the setters: with
// URINonconformant, SetPath, SetQuery and SetFragment accept characters that
// RFC 3986 does not allow in those parts.
func (u *URI) SetFlags(flags URIFlags) error {
	const op = "evhttp_uri_set_flags"
	if flags&^URINonconformant != 0 {
		return invalidError(op, "unknown URI flags 0x%x", uint(flags&^URINonconformant))
	}
	if err := u.enter(op); err != nil {
		return err
	}
	defer u.leave()
	C.evhttp_uri_set_flags(u.ptr, C.unsigned(flags))
	return nil
}

// Join returns the URI reference that the parts form (evhttp_uri_join).
// libevent joins the parts as they are, without encoding, and leaves out the
// userinfo and port of a URI that has no host.
func (u *URI) Join() (string, error) {
	const op = "evhttp_uri_join"
	if err := u.enter(op); err != nil {
		return "", err
	}
	defer u.leave()
	s, errno := C.golibevent_uri_join(u.ptr)
	if s == nil {
		return "", opError(op, errno)
	}
	defer C.free(unsafe.Pointer(s))
	return C.GoString(s), nil
}

// String returns [URI.Join]'s result, or "" when Join fails, which happens
// only when memory runs out or the URI is closed.
func (u *URI) String() string {
	s, _ := u.Join()
	return s
}
