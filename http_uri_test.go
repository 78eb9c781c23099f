//go:build cgo

package libevent

import (
	"errors"
	"html"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uriParts is every part of a URI, with "-" for a part that is not set.
type uriParts struct {
	scheme, userinfo, host string
	port                   int
	path, query, fragment  string
}

const unset = "-"

func partsOf(u *URI) uriParts {
	get := func(part URIPart, value string) string {
		if !u.Has(part) {
			return unset
		}
		return value
	}
	return uriParts{
		scheme:   get(URIScheme, u.Scheme()),
		userinfo: get(URIUserinfo, u.Userinfo()),
		host:     get(URIHost, u.Host()),
		port:     u.Port(),
		path:     get(URIPath, u.Path()),
		query:    get(URIQuery, u.Query()),
		fragment: get(URIFragment, u.Fragment()),
	}
}

func parseURI(t *testing.T, s string, flags URIFlags) *URI {
	t.Helper()
	u, err := ParseURI(s, flags)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, u.Close()) })
	return u
}

func TestParseURIParts(t *testing.T) {
	cases := []struct {
		in   string
		want uriParts
	}{
		{"http://user:pw@example.com:8080/a/b?x=1&y=2#frag",
			uriParts{"http", "user:pw", "example.com", 8080, "/a/b", "x=1&y=2", "frag"}},
		{"http://[::1]:80/a?b#c", uriParts{"http", unset, "[::1]", 80, "/a", "b", "c"}},
		{"HTTP://U@H/", uriParts{"HTTP", "U", "H", -1, "/", unset, unset}},
		{"file:///etc/hosts", uriParts{"file", unset, "", -1, "/etc/hosts", unset, unset}},
		{"mailto:a@b", uriParts{"mailto", unset, unset, -1, "a@b", unset, unset}},
		{"/p?q", uriParts{unset, unset, unset, -1, "/p", "q", unset}},
		{"//h", uriParts{unset, unset, "h", -1, "", unset, unset}},
		{"?q", uriParts{unset, unset, unset, -1, "", "q", unset}},
		{"#f", uriParts{unset, unset, unset, -1, "", unset, "f"}},
		{"", uriParts{unset, unset, unset, -1, "", unset, unset}},
		{"http://h:0/", uriParts{"http", unset, "h", 0, "/", unset, unset}},
		{"http://h:/x", uriParts{"http", unset, "h", -1, "/x", unset, unset}},
		{"http://127.0.0.1:65535/%41", uriParts{"http", unset, "127.0.0.1", 65535, "/%41", unset, unset}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			for _, flags := range []URIFlags{0, URINonconformant} {
				u := parseURI(t, tc.in, flags)
				assert.Equal(t, tc.want, partsOf(u), "flags %d", flags)
			}
		})
	}
}

func TestParseURINonconformant(t *testing.T) {
	// RFC 3986 forbids these characters unencoded; URINonconformant lets
	// them through as some clients send them.
	for _, in := range []string{"/a b", "http://h/%zz", `/x?q="v"`, "/p#a b", "/{x}|^"} {
		_, err := ParseURI(in, 0)
		require.ErrorIs(t, err, ErrInvalid, "strict parse of %q", in)

		u := parseURI(t, in, URINonconformant)
		joined, err := u.Join()
		require.NoError(t, err)
		assert.Equal(t, in, joined)
	}
}

func TestParseURIRejects(t *testing.T) {
	for _, in := range []string{
		"http://h:65536/",
		"http://h:99999/",
		"http://h:8080junk/",
		"http://[::1/",
		"http://a b/",
		"1http://h/",
		"http://h/\x00x",
	} {
		for _, flags := range []URIFlags{0, URINonconformant} {
			u, err := ParseURI(in, flags)
			assert.Nil(t, u, "%q", in)
			assert.ErrorIs(t, err, ErrInvalid, "%q flags %d", in, flags)
		}
	}
	_, err := ParseURI("/", 0x80)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestURISettersAndJoin(t *testing.T) {
	u, err := NewURI()
	require.NoError(t, err)
	defer u.Close()

	joined, err := u.Join()
	require.NoError(t, err)
	assert.Equal(t, "", joined)

	require.NoError(t, u.SetScheme("http"))
	require.NoError(t, u.SetUserinfo("me"))
	require.NoError(t, u.SetHost("[::1]"))
	require.NoError(t, u.SetPort(8080))
	require.NoError(t, u.SetPath("/a%20b"))
	require.NoError(t, u.SetQuery("k=v"))
	require.NoError(t, u.SetFragment("top"))
	assert.Equal(t, "http://me@[::1]:8080/a%20b?k=v#top", u.String())
	assert.Equal(t, uriParts{"http", "me", "[::1]", 8080, "/a%20b", "k=v", "top"}, partsOf(u))

	require.NoError(t, u.Clear(URIUserinfo))
	require.NoError(t, u.Clear(URIPort))
	require.NoError(t, u.Clear(URIFragment))
	assert.False(t, u.Has(URIUserinfo))
	assert.False(t, u.Has(URIPort))
	assert.Equal(t, "http://[::1]/a%20b?k=v", u.String())

	// The joined string parses back to the same parts.
	back := parseURI(t, u.String(), 0)
	assert.Equal(t, partsOf(u), partsOf(back))
}

func TestURISettersReject(t *testing.T) {
	u, err := NewURI()
	require.NoError(t, err)
	defer u.Close()
	require.NoError(t, u.SetHost("h"))

	assert.ErrorIs(t, u.SetScheme("1x"), ErrInvalid)
	assert.ErrorIs(t, u.SetHost("bad host"), ErrInvalid)
	assert.ErrorIs(t, u.SetHost("[::1"), ErrInvalid)
	assert.ErrorIs(t, u.SetUserinfo("a@b"), ErrInvalid)
	assert.ErrorIs(t, u.SetPath("a b"), ErrInvalid)
	assert.ErrorIs(t, u.SetQuery("a b"), ErrInvalid)
	assert.ErrorIs(t, u.SetFragment("a#b"), ErrInvalid)
	assert.ErrorIs(t, u.SetPath("/a\x00b"), ErrInvalid)
	assert.ErrorIs(t, u.SetPort(-1), ErrInvalid)
	assert.ErrorIs(t, u.SetPort(65536), ErrInvalid)
	assert.ErrorIs(t, u.Clear(URIPart(99)), ErrInvalid)
	assert.ErrorIs(t, u.SetFlags(0x80), ErrInvalid)
	// A rejected value leaves the part as it was.
	assert.Equal(t, "h", u.Host())

	// URINonconformant relaxes the path, query and fragment setters.
	require.NoError(t, u.SetFlags(URINonconformant))
	require.NoError(t, u.SetPath("/a b"))
	assert.Equal(t, "//h/a b", u.String())
}

func TestURIJoinWithoutHost(t *testing.T) {
	u, err := NewURI()
	require.NoError(t, err)
	defer u.Close()
	require.NoError(t, u.SetUserinfo("me"))
	require.NoError(t, u.SetPort(99))
	require.NoError(t, u.SetPath("/x"))

	// With no host there is no authority, so libevent leaves out the
	// userinfo and the port.
	joined, err := u.Join()
	require.NoError(t, err)
	assert.Equal(t, "/x", joined)

	require.NoError(t, u.SetHost(""))
	joined, err = u.Join()
	require.NoError(t, err)
	assert.Equal(t, "//me@:99/x", joined)
}

func TestURICloseTwice(t *testing.T) {
	u, err := ParseURI("http://h/p", 0)
	require.NoError(t, err)
	require.NoError(t, u.Close())
	require.NoError(t, u.Close())

	assert.ErrorIs(t, u.SetHost("x"), ErrClosed)
	assert.ErrorIs(t, u.SetPort(1), ErrClosed)
	assert.ErrorIs(t, u.SetFlags(0), ErrClosed)
	_, err = u.Join()
	assert.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, "", u.Host())
	assert.Equal(t, -1, u.Port())
	assert.False(t, u.Has(URIPath))

	var zero URI
	assert.ErrorIs(t, zero.SetHost("x"), ErrInvalid)
	assert.NoError(t, zero.Close())
}

func TestEncodeURI(t *testing.T) {
	got, err := EncodeURI("a b/é~-._Z9")
	require.NoError(t, err)
	assert.Equal(t, "a%20b%2F%C3%A9~-._Z9", got)

	_, err = EncodeURI("a\x00b")
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestURIEncode(t *testing.T) {
	got, err := URIEncode("a b\x00+", true)
	require.NoError(t, err)
	assert.Equal(t, "a+b%00%2B", got)

	got, err = URIEncode("a b", false)
	require.NoError(t, err)
	assert.Equal(t, "a%20b", got)

	got, err = URIEncode("", true)
	require.NoError(t, err)
	assert.Equal(t, "", got)
}

func TestURIEncodeRoundTrip(t *testing.T) {
	// Random bytes, encoded by libevent, decode to the same bytes with
	// both libevent's and net/url's decoders.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		raw := make([]byte, rng.IntN(40))
		for i := range raw {
			raw[i] = byte(rng.IntN(256))
		}
		s := string(raw)

		enc, err := URIEncode(s, false)
		require.NoError(t, err)
		dec, err := URIDecode(enc, false)
		require.NoError(t, err)
		assert.Equal(t, s, dec)
		goDec, err := url.PathUnescape(enc)
		require.NoError(t, err)
		assert.Equal(t, s, goDec)

		form, err := URIEncode(s, true)
		require.NoError(t, err)
		dec, err = URIDecode(form, true)
		require.NoError(t, err)
		assert.Equal(t, s, dec)
		goDec, err = url.QueryUnescape(form)
		require.NoError(t, err)
		assert.Equal(t, s, goDec)
	}
}

func TestURIDecode(t *testing.T) {
	got, err := URIDecode("a+b%00c%zz%4", true)
	require.NoError(t, err)
	assert.Equal(t, "a b\x00c%zz%4", got)

	got, err = URIDecode("a+b%2B", false)
	require.NoError(t, err)
	assert.Equal(t, "a+b+", got)

	_, err = URIDecode("a\x00", false)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestDecodeURI(t *testing.T) {
	// "+" turns into a space only after the first "?".
	got, err := DecodeURI("/a+b?c+d%20e")
	require.NoError(t, err)
	assert.Equal(t, "/a+b?c d e", got)

	_, err = DecodeURI("/a%00")
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = DecodeURI("/a\x00")
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestParseQuery(t *testing.T) {
	got, err := ParseQuery("a=1&b=two+words&a=3&c=%41%26")
	require.NoError(t, err)
	assert.Equal(t, url.Values{"a": {"1", "3"}, "b": {"two words"}, "c": {"A&"}}, got)

	// net/url agrees on a query that libevent accepts and whose names
	// need no decoding.
	want, err := url.ParseQuery("a=1&b=two+words&a=3&c=%41%26")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	got, err = ParseQuery("")
	require.NoError(t, err)
	assert.Empty(t, got)

	// libevent leaves names encoded, unlike net/url.
	got, err = ParseQuery("%42=x")
	require.NoError(t, err)
	assert.Equal(t, url.Values{"%42": {"x"}}, got)

	for _, bad := range []string{"a", "=1", "a=1&&b=2", "a=1&b", "a=\x00"} {
		got, err := ParseQuery(bad)
		assert.Nil(t, got, "%q", bad)
		assert.ErrorIs(t, err, ErrInvalid, "%q", bad)
	}
}

func TestHTMLEscape(t *testing.T) {
	in := `<a href="x">&'</a>`
	got, err := HTMLEscape(in)
	require.NoError(t, err)
	assert.Equal(t, "&lt;a href=&quot;x&quot;&gt;&amp;&#039;&lt;/a&gt;", got)
	assert.Equal(t, in, html.UnescapeString(got))
	assert.NotContains(t, got, "<")

	_, err = HTMLEscape("a\x00")
	assert.ErrorIs(t, err, ErrInvalid)
}

// FuzzParseURI checks that the parser survives any input, that a parsed URI
// joins to a string that parses to the same parts, and that net/url agrees
// with libevent where their rules are the same.
func FuzzParseURI(f *testing.F) {
	for _, seed := range []string{
		"http://user:pw@example.com:8080/a/b?x=1&y=2#frag",
		"http://[::1]:80/a?b#c",
		"file:///etc/hosts",
		"mailto:a@b",
		"/p?q",
		"//h",
		"?q#f",
		"/a b",
		"http://h:65536/",
		"http://[v1.x]/",
		"http://h/%zz",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, in string, nonconformant bool) {
		flags := URIFlags(0)
		if nonconformant {
			flags = URINonconformant
		}
		u, err := ParseURI(in, flags)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseURI(%q): %v does not match ErrInvalid", in, err)
			}
			return
		}
		defer u.Close()
		parts := partsOf(u)

		joined, err := u.Join()
		if err != nil {
			t.Fatalf("Join of %q: %v", in, err)
		}
		back, err := ParseURI(joined, flags)
		if err != nil {
			t.Fatalf("%q joined to %q, which does not parse: %v", in, joined, err)
		}
		defer back.Close()
		if got := partsOf(back); got != parts {
			t.Fatalf("%q joined to %q, which parses to %+v, not %+v", in, joined, got, parts)
		}

		if !nonconformant {
			compareWithNetURL(t, in, parts)
		}
	})
}

// compareWithNetURL checks the facts on which a strict libevent parse and
// net/url agree. net/url is more lenient in places and stricter in others,
// because it rejects some hosts and relative paths that RFC 3986 allows. It
// also lowercases the scheme and re-escapes what it decodes. So only these
// are compared when both parse: the raw query, the fragment, the scheme
// ignoring case, and the port number of an authority.
func compareWithNetURL(t *testing.T, in string, parts uriParts) {
	t.Helper()
	g, err := url.Parse(in)
	if err != nil {
		return
	}
	if parts.query != unset && g.RawQuery != parts.query {
		t.Fatalf("%q: libevent's query %q, net/url's %q", in, parts.query, g.RawQuery)
	}
	if parts.fragment != unset && g.EscapedFragment() != parts.fragment {
		t.Fatalf("%q: libevent's fragment %q, net/url's %q", in, parts.fragment, g.EscapedFragment())
	}
	if parts.scheme != unset && !strings.EqualFold(g.Scheme, parts.scheme) {
		t.Fatalf("%q: libevent's scheme %q, net/url's %q", in, parts.scheme, g.Scheme)
	}
	if parts.port >= 0 && g.Port() != "" {
		port, err := strconv.Atoi(g.Port())
		if err != nil || port != parts.port {
			t.Fatalf("%q: libevent's port %d, net/url's %q", in, parts.port, g.Port())
		}
	}
}
