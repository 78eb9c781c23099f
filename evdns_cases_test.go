//go:build cgo

package libevent

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// buildDNSQuery returns a standard query with one question and RD set.
func buildDNSQuery(id uint16, name string, qtype DNSType) []byte {
	msg := make([]byte, 12, 64)
	binary.BigEndian.PutUint16(msg[0:], id)
	binary.BigEndian.PutUint16(msg[2:], 0x0100)
	binary.BigEndian.PutUint16(msg[4:], 1)
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		msg = append(msg, byte(len(label)))
		msg = append(msg, label...)
	}
	msg = append(msg, 0)
	msg = binary.BigEndian.AppendUint16(msg, uint16(qtype))
	msg = binary.BigEndian.AppendUint16(msg, DNSClassInet)
	return msg
}

// dnsHeader is the header of a DNS message.
type dnsHeader struct {
	id, flags, qdcount, ancount, nscount, arcount uint16
}

func parseDNSHeader(t *testing.T, msg []byte) dnsHeader {
	t.Helper()
	require.GreaterOrEqual(t, len(msg), 12, "reply shorter than a DNS header")
	return dnsHeader{
		id:      binary.BigEndian.Uint16(msg[0:]),
		flags:   binary.BigEndian.Uint16(msg[2:]),
		qdcount: binary.BigEndian.Uint16(msg[4:]),
		ancount: binary.BigEndian.Uint16(msg[6:]),
		nscount: binary.BigEndian.Uint16(msg[8:]),
		arcount: binary.BigEndian.Uint16(msg[10:]),
	}
}

// exchangeUDP sends each datagram to addr from one socket and returns the
// first reply that arrives within the timeout, or nil.
func exchangeUDP(t *testing.T, addr netip.AddrPort, timeout time.Duration, datagrams ...[]byte) []byte {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	require.NoError(t, err)
	defer conn.Close()
	for _, d := range datagrams {
		_, err := conn.Write(d)
		require.NoError(t, err)
	}
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(timeout)))
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// TestDNSServerShortDatagram sends datagrams shorter than a DNS header to
// the server, which libevent 2.1.12 would crash on, and then a valid query:
// the short ones never reach the handler and the query is answered.
func TestDNSServerShortDatagram(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var handled atomic.Int32
		zone := defaultTestZone()
		srv, err := b.NewDNSServer("127.0.0.1:0", func(req *DNSServerRequest) {
			handled.Add(1)
			zone.serve(req)
		})
		require.NoError(t, err)
		t.Cleanup(func() { srv.Close() })
		runLoop(t, b)

		short1 := []byte{0x12}
		short11 := []byte{0x12, 0x34, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}
		reply := exchangeUDP(t, srv.Addr(), 30*time.Second, short1, short11, buildDNSQuery(0x4242, "a.test", DNSTypeA))
		require.NotNil(t, reply, "the valid query got no reply")
		h := parseDNSHeader(t, reply)
		assert.Equal(t, uint16(0x4242), h.id)
		assert.Equal(t, uint16(0), h.flags&0x000f, "response code")
		assert.Equal(t, uint16(1), h.ancount)
		assert.Equal(t, int32(1), handled.Load())
	})
}

// TestDNSNoUsableResolvConf reads resolv.conf files without a nameserver:
// an empty one, one with comments only, and a missing one. Creating a
// resolver from them fails with an error that names the file and the
// reason. A resolver that parsed them works once a nameserver is added.
func TestDNSNoUsableResolvConf(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		srv := startZoneServer(t, b)
		files := map[string]struct{ path, reason string }{
			"empty":    {writeTestFile(t, "empty.conf", ""), "lists no nameserver"},
			"comments": {writeTestFile(t, "comments.conf", "# no servers here\n; nor here\n"), "lists no nameserver"},
			"missing":  {t.TempDir() + "/missing.conf", "cannot be opened"},
		}
		options := DNSOptionNameservers | DNSOptionMisc | DNSOptionNameserversNoDefault
		for name, f := range files {
			d, err := b.NewDNSBaseFromResolvConf(f.path, options)
			require.Error(t, err, name)
			assert.Nil(t, d, name)
			assert.ErrorIs(t, err, ErrInvalid, name)
			assert.Contains(t, err.Error(), f.path, name)
			assert.Contains(t, err.Error(), f.reason, name)

			d, err = b.NewDNSBase(0)
			require.NoError(t, err)
			assert.Error(t, d.ParseResolvConf(options, f.path), name)
			n, err := d.CountNameservers()
			require.NoError(t, err)
			assert.Equal(t, 0, n, name)
			require.NoError(t, d.AddNameserverAddr(srv.Addr()))
			out := newDNSOutcomes()
			_, err = d.ResolveIPv4("a.test", 0, out.callback(name))
			require.NoError(t, err)
			stop := runInBackground(t, b)
			out.wait(t, 1)
			assert.ErrorIs(t, stop(), context.Canceled)
			_, res, _, err := out.get(name)
			require.NoError(t, err, name)
			assert.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.2")}, res.Addrs, name)
			require.NoError(t, d.Close())
			require.NoError(t, d.Close())
		}

		conf := writeTestFile(t, "good.conf", "nameserver "+srv.Addr().Addr().String()+"\noptions timeout:2 attempts:2\n")
		// A nameserver line always means port 53, where nothing of the test
		// listens, so the test sends no lookup and only checks that the
		// file is accepted.
		d, err := b.NewDNSBaseFromResolvConf(conf, options)
		require.NoError(t, err)
		servers, err := d.Nameservers()
		require.NoError(t, err)
		assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")}, servers)
		require.NoError(t, d.Close())
	})
}

// TestDNSCallbackAfterStartingCall runs lookups that libevent answers
// during the call that starts them: a numeric host, and a name that a
// hosts file maps to IPv4 only, asked for IPv6. Each callback runs once,
// after the starting call returned; the empty answer is ErrDNSNoData.
func TestDNSCallbackAfterStartingCall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, silentUDPServer(t))
		require.NoError(t, d.LoadHosts(writeTestFile(t, "hosts", "127.0.0.8 four.test\n")))
		out := newDNSOutcomes()
		var returned atomic.Int32
		var afterReturn atomic.Int32
		check := func(id string) AddrInfoCallback {
			inner := out.addrInfoCallback(id)
			return func(addrs []AddrInfo, err error) {
				if returned.Load() == 2 {
					afterReturn.Add(1)
				}
				inner(addrs, err)
			}
		}
		// Starting from a posted function means that a callback that ran
		// during the starting call would run before returned is set.
		require.NoError(t, b.Post(func() {
			_, err := d.GetAddrInfo("127.0.0.1", "80", &AddrInfoHints{SockType: unix.SOCK_STREAM}, check("numeric"))
			assert.NoError(t, err)
			returned.Add(1)
			_, err = d.GetAddrInfo("four.test", "", &AddrInfoHints{Family: unix.AF_INET6}, check("v4only"))
			assert.NoError(t, err)
			returned.Add(1)
		}))
		runLoop(t, b)
		out.wait(t, 2)

		assert.Equal(t, int32(2), afterReturn.Load(), "callbacks that ran after their starting call")
		calls, _, addrs, err := out.get("numeric")
		assert.Equal(t, 1, calls)
		require.NoError(t, err)
		require.Len(t, addrs, 1)
		assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:80"), addrs[0].Addr)

		calls, _, _, err = out.get("v4only")
		assert.Equal(t, 1, calls)
		assert.ErrorIs(t, err, ErrDNSNoData)
	})
}

// TestDNSCancelReportsAfterCancel cancels lookups against a nameserver
// that never answers at once: each callback runs once, after Cancel
// returned, with ErrDNSCancel. Cancelling again is harmless.
func TestDNSCancelReportsAfterCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, silentUDPServer(t))
		out := newDNSOutcomes()
		var cancelled atomic.Int32
		var afterCancel atomic.Int32
		wrap := func(id string) (DNSCallback, AddrInfoCallback) {
			plain := out.callback(id)
			gai := out.addrInfoCallback(id)
			return func(res DNSResult, err error) {
					if cancelled.Load() == 2 {
						afterCancel.Add(1)
					}
					plain(res, err)
				}, func(addrs []AddrInfo, err error) {
					if cancelled.Load() == 2 {
						afterCancel.Add(1)
					}
					gai(addrs, err)
				}
		}
		resolveFn, _ := wrap("resolve")
		_, gaiFn := wrap("getaddrinfo")
		var reqs []*DNSRequest
		require.NoError(t, b.Post(func() {
			r1, err := d.ResolveIPv4("a.test", 0, resolveFn)
			require.NoError(t, err)
			r2, err := d.GetAddrInfo("a.test", "", nil, gaiFn)
			require.NoError(t, err)
			assert.NoError(t, r1.Cancel())
			cancelled.Add(1)
			assert.NoError(t, r2.Cancel())
			cancelled.Add(1)
			reqs = append(reqs, r1, r2)
		}))
		runLoop(t, b)
		out.wait(t, 2)

		assert.Equal(t, int32(2), afterCancel.Load(), "callbacks that ran after Cancel returned")
		for _, id := range []string{"resolve", "getaddrinfo"} {
			calls, _, _, err := out.get(id)
			assert.Equal(t, 1, calls, id)
			assert.ErrorIs(t, err, ErrDNSCancel, id)
		}
		for _, r := range reqs {
			assert.NoError(t, r.Cancel())
		}
	})
}

// TestDNSCloseFailsPendingLookups queues three lookups and a getaddrinfo
// against a silent nameserver with max-inflight 1. Then it closes the
// resolver, once with the loop running and once without. Every callback
// runs once with ErrDNSShutdown, also those that libevent 2.1.12 would
// never call back, and none runs afterwards.
func TestDNSCloseFailsPendingLookups(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		for _, running := range []bool{true, false} {
			b := newBase(t, bk)
			d, err := b.NewDNSBase(0)
			require.NoError(t, err)
			require.NoError(t, d.AddNameserverAddr(silentUDPServer(t)))
			require.NoError(t, d.SetMaxInflight(1))
			require.NoError(t, d.SetTimeout(time.Second))
			out := newDNSOutcomes()
			for _, id := range []string{"first", "second", "third"} {
				_, err := d.ResolveIPv4(id+".test", 0, out.callback(id))
				require.NoError(t, err)
			}
			_, err = d.GetAddrInfo("fourth.test", "", nil, out.addrInfoCallback("fourth"))
			require.NoError(t, err)

			var stop func() error
			if running {
				stop = runInBackground(t, b)
			}
			require.NoError(t, d.Close())
			for _, id := range []string{"first", "second", "third", "fourth"} {
				calls, _, _, err := out.get(id)
				assert.Equal(t, 1, calls, "%s, loop running %v", id, running)
				assert.ErrorIs(t, err, ErrDNSShutdown, "%s, loop running %v", id, running)
			}
			if !running {
				stop = runInBackground(t, b)
			}
			// Let libevent deliver the cancellations of its own requests,
			// which the package must drop.
			time.Sleep(50 * time.Millisecond)
			assert.ErrorIs(t, stop(), context.Canceled)
			for _, id := range []string{"first", "second", "third", "fourth"} {
				calls, _, _, _ := out.get(id)
				assert.Equal(t, 1, calls, "%s, loop running %v", id, running)
			}
			_, err = d.ResolveIPv4("late.test", 0, out.callback("late"))
			assert.ErrorIs(t, err, ErrClosed)
		}
	})
}

// TestDNSBaseCloseFailsPendingLookups closes the Base under a resolver
// with a pending lookup: the lookup fails with ErrDNSShutdown and no
// registry entry is left.
func TestDNSBaseCloseFailsPendingLookups(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		d, err := b.NewDNSBase(0)
		require.NoError(t, err)
		require.NoError(t, d.AddNameserverAddr(silentUDPServer(t)))
		out := newDNSOutcomes()
		_, err = d.ResolveIPv4("a.test", 0, out.callback("pending"))
		require.NoError(t, err)
		_, err = d.GetAddrInfo("a.test", "", nil, out.addrInfoCallback("gai"))
		require.NoError(t, err)
		require.NoError(t, b.Close())
		for _, id := range []string{"pending", "gai"} {
			calls, _, _, err := out.get(id)
			assert.Equal(t, 1, calls, id)
			assert.ErrorIs(t, err, ErrDNSShutdown, id)
		}
		require.NoError(t, d.Close())
	})
}

// TestDNSCloseThenBaseCloseWithoutLoop closes a resolver with pending
// lookups while the loop is not running, then the Base, so that the
// cancellations that libevent deferred never run: nothing crashes and no
// registry entry is left.
func TestDNSCloseThenBaseCloseWithoutLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		d, err := b.NewDNSBase(0)
		require.NoError(t, err)
		require.NoError(t, d.AddNameserverAddr(silentUDPServer(t)))
		out := newDNSOutcomes()
		_, err = d.ResolveIPv4("a.test", 0, out.callback("resolve"))
		require.NoError(t, err)
		_, err = d.GetAddrInfo("a.test", "", nil, out.addrInfoCallback("gai"))
		require.NoError(t, err)
		require.NoError(t, d.Close())
		require.NoError(t, b.Close())
		for _, id := range []string{"resolve", "gai"} {
			calls, _, _, err := out.get(id)
			assert.Equal(t, 1, calls, id)
			assert.ErrorIs(t, err, ErrDNSShutdown, id)
		}
	})
}
