//go:build cgo

package libevent

/*
#include <stdlib.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

// golibevent_query_new returns an empty query list, or NULL when malloc
// fails.
static struct evkeyvalq *golibevent_query_new(void)
{
	struct evkeyvalq *q = malloc(sizeof(*q));
	if (q != NULL) {
		q->tqh_first = NULL;
		q->tqh_last = &q->tqh_first;
	}
	return q;
}

// golibevent_query_first returns the first entry of a parsed query, so that
// Go can walk the list without naming TAILQ's fields.
static struct evkeyval *golibevent_query_first(struct evkeyvalq *q)
{
	return q->tqh_first;
}

static struct evkeyval *golibevent_query_next(struct evkeyval *kv)
{
	return kv->next.tqe_next;
}
*/
import "C"

import (
	"errors"
	"net/url"
	"strings"
	"syscall"
	"unsafe"
)

// URIFlags change how [ParseURI] parses (EVHTTP_URI_*).
type URIFlags uint

// URINonconformant makes the parser accept characters that RFC 3986 does not
// allow in the path, query and fragment, such as spaces and quotes, which
// some HTTP clients send unencoded (EVHTTP_URI_NONCONFORMANT).
const URINonconformant URIFlags = C.EVHTTP_URI_NONCONFORMANT

// ParseURI parses s as an RFC 3986 URI reference, either an absolute URI
// such as "http://user@host:8080/p?q#f" or a relative reference such as
// "/p?q" (evhttp_uri_parse_with_flags). It decodes nothing. The caller owns
// the URI and closes it.
//
// With flags 0 the parse is strict. It still accepts URIs that HTTP would
// not, such as "mailto:a@b" or "http:" with no host, because they conform
// to RFC 3986. libevent 2.1.12 rejects a port above 65535 and an empty port
// ("http://h:/") reads as no port.
func ParseURI(s string, flags URIFlags) (*URI, error) {
	const op = "evhttp_uri_parse_with_flags"
	if flags&^URINonconformant != 0 {
		return nil, invalidError(op, "unknown URI flags 0x%x", uint(flags&^URINonconformant))
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalidError(op, "URI %q contains a NUL byte", s)
	}
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	ptr, errno := C.evhttp_uri_parse_with_flags(cs, C.unsigned(flags))
	if ptr == nil {
		if errors.Is(errno, syscall.ENOMEM) {
			return nil, opError(op, errno)
		}
		return nil, invalidError(op, "malformed URI %q", s)
	}
	return uriFromC(ptr, true), nil
}

// cString converts s for a C function that takes a NUL-terminated string,
// which would silently end at an embedded NUL, so s must not contain one.
func cString(op, what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalidError(op, "%s %q contains a NUL byte", what, s)
	}
	return C.CString(s), nil
}

// takeCString copies and frees a string that libevent allocated. A nil
// result means that libevent failed to allocate it.
func takeCString(op string, s *C.char, n int) (string, error) {
	if s == nil {
		return "", opError(op, syscall.ENOMEM)
	}
	defer C.free(unsafe.Pointer(s))
	if n < 0 {
		return C.GoString(s), nil
	}
	return C.GoStringN(s, C.int(n)), nil
}

// EncodeURI percent-encodes every byte of s except RFC 3986's unreserved
// characters: ASCII letters, digits, "-", ".", "_" and "~"
// (evhttp_encode_uri). s must not contain a NUL byte; [URIEncode] takes any
// bytes.
func EncodeURI(s string) (string, error) {
	const op = "evhttp_encode_uri"
	cs, err := cString(op, "string", s)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(cs))
	return takeCString(op, C.evhttp_encode_uri(cs), -1)
}

// URIEncode percent-encodes s as [EncodeURI] does, NUL bytes included, and
// with spaceAsPlus encodes a space as "+" as HTML forms do, instead of "%20"
// (evhttp_uriencode).
func URIEncode(s string, spaceAsPlus bool) (string, error) {
	const op = "evhttp_uriencode"
	plus := C.int(0)
	if spaceAsPlus {
		plus = 1
	}
	// An empty string encodes to itself, and C.CBytes may return NULL
	// for it.
	if s == "" {
		return "", nil
	}
	cs := C.CBytes([]byte(s))
	defer C.free(cs)
	return takeCString(op, C.evhttp_uriencode((*C.char)(cs), C.ev_ssize_t(len(s)), plus), -1)
}

// DecodeURI decodes the percent-escapes of s, and turns "+" into a space
// only after the first "?" (evhttp_decode_uri). libevent keeps this for old
// callers; [URIDecode] decodes a single component. A malformed escape such
// as "%zz" stays as it is.
//
// libevent returns no length here, so a decoded NUL byte would cut the
// result short: DecodeURI rejects s when it contains "%00", and URIDecode
// handles it.
func DecodeURI(s string) (string, error) {
	const op = "evhttp_decode_uri"
	if strings.Contains(s, "%00") {
		return "", invalidError(op, "%q decodes to a NUL byte; use URIDecode", s)
	}
	cs, err := cString(op, "string", s)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(cs))
	return takeCString(op, C.evhttp_decode_uri(cs), -1)
}

// URIDecode decodes the percent-escapes of s, and with plusAsSpace turns
// every "+" into a space, as in a query value (evhttp_uridecode). A
// malformed escape such as "%zz" stays as it is. The result may contain any
// byte, NUL included.
func URIDecode(s string, plusAsSpace bool) (string, error) {
	const op = "evhttp_uridecode"
	cs, err := cString(op, "string", s)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(cs))
	plus := C.int(0)
	if plusAsSpace {
		plus = 1
	}
	var n C.size_t
	out := C.evhttp_uridecode(cs, plus, &n)
	return takeCString(op, out, int(n))
}

// ParseQuery splits a query string such as "a=1&b=two+words&a=3" into its
// names and decoded values (evhttp_parse_query_str), keeping each value of
// a name in order. libevent decodes "+" as a space and percent-escapes in
// values but not in names. It rejects a query with a part that lacks "=" or
// has an empty name.
func ParseQuery(query string) (url.Values, error) {
	const op = "evhttp_parse_query_str"
	cs, err := cString(op, "query", query)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cs))

	q := C.golibevent_query_new()
	if q == nil {
		return nil, opError(op, syscall.ENOMEM)
	}
	defer C.free(unsafe.Pointer(q))
	r := C.evhttp_parse_query_str(cs, q)
	defer C.evhttp_clear_headers(q)
	if r != 0 {
		return nil, invalidError(op, "malformed query %q", query)
	}
	values := url.Values{}
	for kv := C.golibevent_query_first(q); kv != nil; kv = C.golibevent_query_next(kv) {
		name := C.GoString(kv.key)
		values[name] = append(values[name], C.GoString(kv.value))
	}
	return values, nil
}

// HTMLEscape replaces the characters that HTML treats specially, "<", ">",
// "&", '"' and "'", with character references (evhttp_htmlescape).
func HTMLEscape(s string) (string, error) {
	const op = "evhttp_htmlescape"
	cs, err := cString(op, "string", s)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(cs))
	return takeCString(op, C.evhttp_htmlescape(cs), -1)
}
