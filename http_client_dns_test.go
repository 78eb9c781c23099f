//go:build cgo

package libevent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nameTestSetup is a client base whose loop runs, a DNS server on
// 127.0.0.1 on that base that answers web.test with 127.0.0.1 and web6.test
// with ::1, and a resolver without the system configuration whose only
// nameserver is that server.
type nameTestSetup struct {
	base *Base
	dns  *DNSBase
}

func newNameTestSetup(t *testing.T, bk backend) *nameTestSetup {
	t.Helper()
	b := newClientBase(t, bk)
	zone := defaultTestZone()
	zone.v4["web.test"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	zone.v6["web6.test"] = []netip.Addr{netip.MustParseAddr("::1")}
	srv, err := b.NewDNSServer("127.0.0.1:0", zone.serve)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	return &nameTestSetup{base: b, dns: newTestResolver(t, b, srv.Addr())}
}

// hostEchoHandler replies with the request's Host header and path.
var hostEchoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s", r.Host, r.URL.Path)
})

func newHTTPConnectionDNS(t *testing.T, b *Base, d *DNSBase, host string, port int) *HTTPConnection {
	t.Helper()
	c, err := NewHTTPConnectionDNS(b, d, host, port)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// TestHTTPConnectionByName sends requests to a net/http server by a name
// that the test's DNS server answers, over one kept-alive connection.
func TestHTTPConnectionByName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		s := newNameTestSetup(t, bk)
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", hostEchoHandler)
		c := newHTTPConnectionDNS(t, s.base, s.dns, "web.test", srv.port)
		assert.Equal(t, "web.test", c.Host())
		assert.False(t, c.Addr().IsValid())
		assert.Same(t, s.dns, c.DNSBase())
		assert.Equal(t, "HTTPConnection(web.test:"+strconv.Itoa(srv.port)+")", c.String())

		for i, path := range []string{"/one", "/two", "/three"} {
			resp, err := doRequest(t, c, http.MethodGet, path, nil)
			require.NoError(t, err, "request %d", i)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, fmt.Sprintf("web.test:%d %s", srv.port, path), string(resp.Body))
		}
		assert.Equal(t, int32(1), srv.conns.Load(), "the requests share one connection")

		local, err := c.LocalAddr()
		require.NoError(t, err)
		require.NotNil(t, local, "the connection is kept open")
		assert.Equal(t, "127.0.0.1", local.(*net.TCPAddr).IP.String())
		host, port, err := c.Peer()
		require.NoError(t, err)
		assert.Equal(t, "web.test", host)
		assert.Equal(t, srv.port, port)
	})
}

// TestHTTPConnectionByNameIPv6 connects by a name that has only an AAAA
// record to a server that listens only on ::1.
func TestHTTPConnectionByNameIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this machine: %v", err)
	}
	ln.Close()
	forEachBackend(t, func(t *testing.T, bk backend) {
		s := newNameTestSetup(t, bk)
		srv := startGoHTTPServer(t, "tcp6", "[::1]:0", hostEchoHandler)
		c := newHTTPConnectionDNS(t, s.base, s.dns, "web6.test", srv.port)
		resp, err := doRequest(t, c, http.MethodGet, "/six", nil)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("web6.test:%d /six", srv.port), string(resp.Body))
		local, err := c.LocalAddr()
		require.NoError(t, err)
		require.NotNil(t, local)
		assert.Equal(t, "::1", local.(*net.TCPAddr).IP.String())
	})
}

// TestHTTPClientByName sends Get and Do requests to http://name:port/ URLs
// through a client with a resolver, which keeps one connection per name.
func TestHTTPClientByName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		s := newNameTestSetup(t, bk)
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", hostEchoHandler)
		client, err := NewHTTPClientDNS(s.base, s.dns)
		require.NoError(t, err)
		t.Cleanup(func() { client.Close() })

		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		url := fmt.Sprintf("http://web.test:%d", srv.port)
		resp, err := client.Get(ctx, url+"/a")
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("web.test:%d /a", srv.port), string(resp.Body))

		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://WEB.test:%d/b", srv.port), nil)
		require.NoError(t, err)
		resp, err = client.Do(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("WEB.test:%d /b", srv.port), string(resp.Body))
		assert.Equal(t, int32(1), srv.conns.Load(), "names that differ only in case share a connection")

		// IP literals still work, on a connection of their own.
		resp, err = client.Get(ctx, fmt.Sprintf("http://127.0.0.1:%d/c", srv.port))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("127.0.0.1:%d /c", srv.port), string(resp.Body))
		assert.Equal(t, int32(2), srv.conns.Load())

		_, err = client.Get(ctx, fmt.Sprintf("http://missing.test:%d/", srv.port))
		assert.ErrorIs(t, err, ErrEAINoName)

		// A client without a resolver keeps refusing names.
		plain, err := NewHTTPClient(s.base)
		require.NoError(t, err)
		t.Cleanup(func() { plain.Close() })
		_, err = plain.Get(ctx, url+"/")
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, "NewHTTPConnectionDNS")
	})
}

// TestHTTPConnectionByNameNotFound fails a request to a name that the DNS
// server answers with NXDOMAIN with an error that carries the DNS error.
func TestHTTPConnectionByNameNotFound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		s := newNameTestSetup(t, bk)
		port := closedPort(t)
		c := newHTTPConnectionDNS(t, s.base, s.dns, "missing.test", port)
		for i := 0; i < 2; i++ {
			_, err := doRequest(t, c, http.MethodGet, "/", nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrConnectFailed)
			assert.ErrorIs(t, err, ErrEAINoName)
			var dnsErr *DNSError
			require.ErrorAs(t, err, &dnsErr)
			assert.Equal(t, "missing.test", dnsErr.Name)
			assert.ErrorContains(t, err, `"missing.test"`)
			assert.ErrorContains(t, err, "EVUTIL_EAI_NONAME")
		}
	})
}

// TestHTTPConnectionByNameSilentNameserver fails a request whose lookup no
// nameserver answers. libevent 2.1.12 reports a timed-out getaddrinfo as
// EVUTIL_EAI_FAIL.
func TestHTTPConnectionByNameSilentNameserver(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newClientBase(t, bk)
		d := newTestResolver(t, b, silentUDPServer(t))
		require.NoError(t, d.SetTimeout(100*time.Millisecond))
		require.NoError(t, d.SetAttempts(1))
		c := newHTTPConnectionDNS(t, b, d, "web.test", closedPort(t))
		_, err := doRequest(t, c, http.MethodGet, "/", nil)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrConnectFailed)
		assert.ErrorIs(t, err, ErrEAIFail)
		var dnsErr *DNSError
		require.ErrorAs(t, err, &dnsErr)
		assert.Equal(t, "web.test", dnsErr.Name)
	})
}

// queryWatcher is a UDP server on 127.0.0.1 that never answers and reports
// each query it receives.
func queryWatcher(t *testing.T) (netip.AddrPort, <-chan struct{}) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	queries := make(chan struct{}, 64)
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := conn.ReadFromUDP(buf); err != nil {
				return
			}
			select {
			case queries <- struct{}{}:
			default:
			}
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort(), queries
}

func waitQuery(t *testing.T, queries <-chan struct{}) {
	t.Helper()
	select {
	case <-queries:
	case <-time.After(testDeadline):
		t.Fatal("the resolver sent no query")
	}
}

type callResult struct {
	resp *HTTPResponse
	err  error
}

func startCall(t *testing.T, c *HTTPConnection) <-chan callResult {
	t.Helper()
	results := make(chan callResult, 1)
	req, err := http.NewRequest(http.MethodGet, "/", nil)
	require.NoError(t, err)
	_, err = c.Start(req, HTTPCallOptions{OnDone: func(resp *HTTPResponse, err error) {
		results <- callResult{resp, err}
	}})
	require.NoError(t, err)
	return results
}

func waitCall(t *testing.T, results <-chan callResult) callResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(testDeadline):
		t.Fatal("the request did not finish")
		return callResult{}
	}
}

// TestHTTPConnectionByNameResolverClosed closes the DNSBase while a request
// waits for its lookup: the request fails with an error that names the
// closed resolver, the connection is closed, and nothing crashes.
func TestHTTPConnectionByNameResolverClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newClientBase(t, bk)
		ns, queries := queryWatcher(t)
		d := newTestResolver(t, b, ns)
		require.NoError(t, d.SetTimeout(time.Minute))
		c := newHTTPConnectionDNS(t, b, d, "web.test", closedPort(t))
		results := startCall(t, c)
		waitQuery(t, queries)

		require.NoError(t, d.Close())
		r := waitCall(t, results)
		assert.Nil(t, r.resp)
		assert.ErrorIs(t, r.err, ErrDNSShutdown)
		assert.ErrorIs(t, r.err, ErrClosed)
		assert.ErrorContains(t, r.err, "DNSBase was closed")

		_, err := doRequest(t, c, http.MethodGet, "/", nil)
		assert.ErrorIs(t, err, ErrClosed)
		_, err = NewHTTPConnectionDNS(b, d, "web.test", 80)
		assert.ErrorIs(t, err, ErrClosed)
		// A connection to an IP literal does not use the resolver.
		c2, err := NewHTTPConnectionDNS(b, d, "127.0.0.1", 80)
		require.NoError(t, err)
		assert.Nil(t, c2.DNSBase())
		require.NoError(t, c2.Close())
	})
}

// TestHTTPConnectionByNameResolverClosedInCallback closes the DNSBase from
// the callback of a request on a connection that uses it, while another
// request on that connection waits behind it.
func TestHTTPConnectionByNameResolverClosedInCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		s := newNameTestSetup(t, bk)
		// The first response waits until the second request is queued.
		queued := make(chan struct{})
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-queued
			hostEchoHandler(w, r)
		}))
		c := newHTTPConnectionDNS(t, s.base, s.dns, "web.test", srv.port)
		first := make(chan callResult, 1)
		req, err := http.NewRequest(http.MethodGet, "/first", nil)
		require.NoError(t, err)
		_, err = c.Start(req, HTTPCallOptions{OnDone: func(resp *HTTPResponse, err error) {
			assert.NoError(t, s.dns.Close())
			first <- callResult{resp, err}
		}})
		require.NoError(t, err)
		second := startCall(t, c)
		close(queued)

		r := waitCall(t, first)
		require.NoError(t, r.err)
		assert.Equal(t, fmt.Sprintf("web.test:%d /first", srv.port), string(r.resp.Body))
		r = waitCall(t, second)
		assert.ErrorIs(t, r.err, ErrDNSShutdown)
		_, err = doRequest(t, c, http.MethodGet, "/", nil)
		assert.ErrorIs(t, err, ErrClosed)
	})
}

// TestHTTPConnectionByNameBaseClosed closes the Base while a request waits
// for its lookup; the connection and the resolver are freed with it.
func TestHTTPConnectionByNameBaseClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		loopDone := make(chan error, 1)
		go func() { loopDone <- b.Run(ctx) }()
		ns, queries := queryWatcher(t)
		d, err := b.NewDNSBase(0)
		require.NoError(t, err)
		require.NoError(t, d.AddNameserverAddr(ns))
		require.NoError(t, d.SetTimeout(time.Minute))
		c, err := NewHTTPConnectionDNS(b, d, "web.test", closedPort(t))
		require.NoError(t, err)
		results := startCall(t, c)
		waitQuery(t, queries)

		cancel()
		select {
		case err := <-loopDone:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(testDeadline):
			t.Fatal("the loop did not stop")
		}
		require.NoError(t, b.Close())
		r := waitCall(t, results)
		assert.ErrorIs(t, r.err, ErrClosed)
		assert.NoError(t, c.Close())
		assert.NoError(t, d.Close())
	})
}

// TestHTTPConnectionByNameRejectsBadInput checks the arguments of
// NewHTTPConnectionDNS and NewHTTPClientDNS.
func TestHTTPConnectionByNameRejectsBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, netip.AddrPort{})
		for _, host := range []string{"", "bad name.test", "a/b.test", "a@b.test", "tab\t.test", "1.2.3", "[::1", "fe80::1%lo"} {
			c, err := NewHTTPConnectionDNS(b, d, host, 80)
			assert.Nil(t, c, host)
			assert.ErrorIs(t, err, ErrInvalid, host)
		}
		_, err := NewHTTPConnectionDNS(b, d, "web.test", 0)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = NewHTTPConnectionDNS(b, &DNSBase{}, "web.test", 80)
		assert.ErrorIs(t, err, ErrInvalid)

		other := newBase(t, bk)
		otherDNS := newTestResolver(t, other, netip.AddrPort{})
		_, err = NewHTTPConnectionDNS(b, otherDNS, "web.test", 80)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = NewHTTPClientDNS(b, otherDNS)
		assert.ErrorIs(t, err, ErrInvalid)

		_, err = NewHTTPConnection(b, "web.test", 80)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, "NewHTTPConnectionDNS")
		assert.True(t, errors.Is(err, errNotIPLiteral))
	})
}

// TestHTTPConnectionByNameCloseCancelsLookup closes a connection while its
// lookup waits for the DNS server, then lets the server answer: the lookup
// was cancelled, so nothing connects to the HTTP server afterwards.
func TestHTTPConnectionByNameCloseCancelsLookup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newClientBase(t, bk)
		zone := defaultTestZone()
		heldQueries := make(chan *DNSServerRequest, 4)
		dnsSrv, err := b.NewDNSServer("127.0.0.1:0", func(req *DNSServerRequest) {
			if len(req.Questions) == 1 && req.Questions[0].Name == "web.test" {
				heldQueries <- req
				return
			}
			zone.serve(req)
		})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, dnsSrv.Close()) })
		d := newTestResolver(t, b, dnsSrv.Addr())
		require.NoError(t, d.SetRandomizeCase(false))

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		port := ln.Addr().(*net.TCPAddr).Port

		c, err := NewHTTPConnectionDNS(b, d, "web.test", port)
		require.NoError(t, err)
		results := startCall(t, c)
		var queries []*DNSServerRequest
		select {
		case req := <-heldQueries:
			queries = append(queries, req)
		case <-time.After(testDeadline):
			t.Fatal("the DNS server got no query for web.test")
		}
		require.NoError(t, c.Close())
		r := waitCall(t, results)
		assert.ErrorIs(t, r.err, ErrClosed)

		// Answer every query for web.test, then make a lookup whose reply
		// comes after those answers.
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		for len(queries) < 2 {
			select {
			case req := <-heldQueries:
				queries = append(queries, req)
			case <-time.After(time.Second):
				// A single query was sent (one family only).
				queries = append(queries, nil)
			}
		}
		for _, req := range queries {
			if req == nil {
				continue
			}
			if req.Questions[0].Type == DNSTypeA {
				require.NoError(t, req.AddA("web.test", []netip.Addr{netip.MustParseAddr("127.0.0.1")}, time.Minute))
			}
			require.NoError(t, req.Respond(DNSRcodeNoError))
		}
		_, err = d.LookupIPv4(ctx, "a.test")
		require.NoError(t, err)

		// A connect on loopback is queued on the listener before connect
		// returns, so a connection made from the answer would be waiting.
		require.NoError(t, ln.(*net.TCPListener).SetDeadline(time.Now().Add(200*time.Millisecond)))
		conn, err := ln.Accept()
		if err == nil {
			conn.Close()
		}
		assert.Error(t, err, "something connected after the connection was closed")
	})
}
