//go:build cgo

package libevent

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestDNSResolverAgainstServer runs the package's resolver against the
// package's server in one process: forward, reverse and getaddrinfo
// lookups get the zone's answers with their TTL.
func TestDNSResolverAgainstServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		srv := startZoneServer(t, b)
		d := newTestResolver(t, b, srv.Addr())
		runLoop(t, b)
		ctx := context.Background()

		res, err := d.LookupIPv4(ctx, "multi.test")
		require.NoError(t, err)
		assert.ElementsMatch(t, []netip.Addr{netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")}, res.Addrs)
		assert.Equal(t, 300*time.Second, res.TTL)

		res, err = d.LookupIPv6(ctx, "six.test")
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("::6")}, res.Addrs)

		res, err = d.LookupAddr(ctx, netip.MustParseAddr("127.0.0.2"))
		require.NoError(t, err)
		assert.Equal(t, []string{"a.test"}, res.Names)

		res, err = d.LookupAddr(ctx, netip.MustParseAddr("::6"))
		require.NoError(t, err)
		assert.Equal(t, []string{"six.test"}, res.Names)

		infos, err := d.LookupAddrInfo(ctx, "both.test", "80", &AddrInfoHints{SockType: unix.SOCK_STREAM})
		require.NoError(t, err)
		assert.ElementsMatch(t, []netip.Addr{netip.MustParseAddr("127.0.0.6"), netip.MustParseAddr("::7")}, addrsOf(infos))
		for _, ai := range infos {
			assert.Equal(t, uint16(80), ai.Addr.Port())
			assert.Equal(t, unix.SOCK_STREAM, ai.SockType)
		}

		infos, err = d.LookupAddrInfo(ctx, "both.test", "", &AddrInfoHints{Family: unix.AF_INET6, SockType: unix.SOCK_DGRAM})
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("::7")}, addrsOf(infos))
		assert.Equal(t, unix.AF_INET6, infos[0].Family)
	})
}

// TestDNSResolverErrors checks the errors of names that do not exist and of
// names without an address of the requested family.
func TestDNSResolverErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		srv := startZoneServer(t, b)
		d := newTestResolver(t, b, srv.Addr())
		runLoop(t, b)
		ctx := context.Background()

		_, err := d.LookupIPv4(ctx, "missing.test")
		require.ErrorIs(t, err, ErrDNSNotExist)
		var dnsErr *DNSError
		require.True(t, errors.As(err, &dnsErr))
		assert.Equal(t, "evdns_base_resolve_ipv4", dnsErr.Op)
		assert.Equal(t, "missing.test", dnsErr.Name)
		assert.Contains(t, err.Error(), "DNS_ERR_NOTEXIST")

		_, err = d.LookupIPv6(ctx, "a.test")
		assert.ErrorIs(t, err, ErrDNSNoData)

		_, err = d.LookupAddrInfo(ctx, "missing.test", "", &AddrInfoHints{Family: unix.AF_INET})
		require.ErrorIs(t, err, ErrEAINoName)
		require.True(t, errors.As(err, &dnsErr))
		assert.True(t, dnsErr.EAI)

		// libevent 2.1.12 turns every DNS error of getaddrinfo other than
		// DNS_ERR_NOTEXIST into EVUTIL_EAI_FAIL, an empty answer too.
		_, err = d.LookupAddrInfo(ctx, "six.test", "", &AddrInfoHints{Family: unix.AF_INET})
		assert.ErrorIs(t, err, ErrEAIFail)
	})
}

// TestDNSLookupFromGoroutines runs context lookups from several goroutines
// at once while the loop runs on another.
func TestDNSLookupFromGoroutines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		srv := startZoneServer(t, b)
		d := newTestResolver(t, b, srv.Addr())
		runLoop(t, b)

		const workers, lookups = 4, 25
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			go func() {
				for i := 0; i < lookups; i++ {
					res, err := d.LookupIPv4(context.Background(), "a.test")
					if err != nil {
						errs <- err
						return
					}
					if len(res.Addrs) != 1 || res.Addrs[0] != netip.MustParseAddr("127.0.0.2") {
						errs <- errors.New("wrong answer " + res.Addrs[0].String())
						return
					}
				}
				errs <- nil
			}()
		}
		for w := 0; w < workers; w++ {
			require.NoError(t, <-errs)
		}
	})
}

// TestDNSLookupContextCancel cancels a context lookup against a silent
// nameserver: the call returns the context's error.
func TestDNSLookupContextCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, silentUDPServer(t))
		runLoop(t, b)

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := d.LookupIPv4(ctx, "a.test")
		assert.ErrorIs(t, err, context.DeadlineExceeded)

		ctx2, cancel2 := context.WithCancel(context.Background())
		cancel2()
		_, err = d.LookupAddrInfo(ctx2, "a.test", "", nil)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// TestDNSSilentServerTimesOut resolves against a nameserver that never
// answers: the lookup fails with DNS_ERR_TIMEOUT after its attempts.
func TestDNSSilentServerTimesOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, silentUDPServer(t))
		require.NoError(t, d.SetTimeout(20*time.Millisecond))
		require.NoError(t, d.SetAttempts(2))
		runLoop(t, b)

		_, err := d.LookupIPv4(context.Background(), "a.test")
		assert.ErrorIs(t, err, ErrDNSTimeout)

		// getaddrinfo reports the timeout as EVUTIL_EAI_FAIL, as libevent
		// 2.1.12 does for every DNS error but DNS_ERR_NOTEXIST.
		_, err = d.LookupAddrInfo(context.Background(), "a.test", "", &AddrInfoHints{Family: unix.AF_INET})
		assert.ErrorIs(t, err, ErrEAIFail)
	})
}

// TestDNSNameserverManagement adds IPv4 and IPv6 nameservers, lists and
// counts them, and clears, suspends and resumes the resolver: a lookup
// made while suspended is answered after Resume.
func TestDNSNameserverManagement(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		srv := startZoneServer(t, b)
		d := newTestResolver(t, b, netip.AddrPort{})

		require.NoError(t, d.AddNameserver("127.0.0.1:5399"))
		require.NoError(t, d.AddNameserver("[::1]:5398"))
		require.NoError(t, d.AddNameserverAddr(netip.MustParseAddrPort("127.0.0.1:5397")))
		// Nothing is sent to these: the lookup below starts after they are
		// cleared.
		n, err := d.CountNameservers()
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		servers, err := d.Nameservers()
		require.NoError(t, err)
		assert.ElementsMatch(t, []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:5399"),
			netip.MustParseAddrPort("[::1]:5398"),
			netip.MustParseAddrPort("127.0.0.1:5397"),
		}, servers)

		require.NoError(t, d.ClearNameserversAndSuspend())
		n, err = d.CountNameservers()
		require.NoError(t, err)
		assert.Equal(t, 0, n)

		out := newDNSOutcomes()
		_, err = d.ResolveIPv4("a.test", 0, out.callback("held"))
		require.NoError(t, err)
		require.NoError(t, d.AddNameserverAddr(srv.Addr()))
		require.NoError(t, d.Resume())
		runLoop(t, b)
		out.wait(t, 1)
		calls, res, _, err := out.get("held")
		assert.Equal(t, 1, calls)
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.2")}, res.Addrs)

		for _, bad := range []string{"", "a.test", "127.0.0.1:0", "127.0.0.1:99999", "fe80::1%eth0"} {
			assert.ErrorIs(t, d.AddNameserver(bad), ErrInvalid, "address %q", bad)
		}
	})
}

// TestDNSOptionsValidation sets every resolver option with a valid value
// and rejects values out of range.
func TestDNSOptionsValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, netip.AddrPort{})

		require.NoError(t, d.SetTimeout(1500*time.Millisecond))
		require.NoError(t, d.SetGetAddrInfoAllowSkew(100*time.Millisecond))
		require.NoError(t, d.SetInitialProbeTimeout(time.Second))
		require.NoError(t, d.SetAttempts(1))
		require.NoError(t, d.SetNDots(2))
		require.NoError(t, d.SetMaxTimeouts(5))
		require.NoError(t, d.SetMaxInflight(1))
		require.NoError(t, d.SetRandomizeCase(false))
		require.NoError(t, d.SetSocketReceiveBuffer(65536))
		require.NoError(t, d.SetSocketSendBuffer(65536))
		require.NoError(t, d.SetBindTo(netip.MustParseAddrPort("127.0.0.1:0")))
		require.NoError(t, d.SetSearchNDots(1))

		assert.ErrorIs(t, d.SetTimeout(0), ErrInvalid)
		assert.ErrorIs(t, d.SetTimeout(time.Microsecond), ErrInvalid)
		assert.ErrorIs(t, d.SetGetAddrInfoAllowSkew(-time.Second), ErrInvalid)
		assert.ErrorIs(t, d.SetInitialProbeTimeout(2*time.Hour), ErrInvalid)
		assert.ErrorIs(t, d.SetAttempts(0), ErrInvalid)
		assert.ErrorIs(t, d.SetAttempts(256), ErrInvalid)
		assert.ErrorIs(t, d.SetNDots(-1), ErrInvalid)
		assert.ErrorIs(t, d.SetMaxTimeouts(0), ErrInvalid)
		assert.ErrorIs(t, d.SetMaxInflight(65001), ErrInvalid)
		assert.ErrorIs(t, d.SetSocketReceiveBuffer(-1), ErrInvalid)
		assert.ErrorIs(t, d.SetBindTo(netip.AddrPort{}), ErrInvalid)
		assert.ErrorIs(t, d.SetSearchNDots(-2), ErrInvalid)
		assert.ErrorIs(t, d.AddSearch(""), ErrInvalid)

		_, err := b.NewDNSBase(DNSBaseFlags(0x4))
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = d.ResolveIPv4("a.test", 0, nil)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = d.ResolveIPv4("", 0, func(DNSResult, error) {})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = d.ResolveIPv4("a\x00b", 0, func(DNSResult, error) {})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = d.ResolveReverse(netip.Addr{}, 0, func(DNSResult, error) {})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = d.GetAddrInfo("a.test", "", &AddrInfoHints{Family: 99}, func([]AddrInfo, error) {})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = d.GetAddrInfo("", "", nil, func([]AddrInfo, error) {})
		assert.ErrorIs(t, err, ErrInvalid)
	})
}

// TestDNSSearchDomains resolves a short name through a search domain, and
// the same name with DNSQueryNoSearch, which fails.
func TestDNSSearchDomains(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		srv := startZoneServer(t, b)
		d := newTestResolver(t, b, srv.Addr())
		require.NoError(t, d.ClearSearch())
		require.NoError(t, d.AddSearch("test"))
		require.NoError(t, d.SetSearchNDots(1))
		runLoop(t, b)

		res, err := d.LookupIPv4(context.Background(), "a")
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.2")}, res.Addrs)

		out := newDNSOutcomes()
		_, err = d.ResolveIPv4("a", DNSQueryNoSearch, out.callback("nosearch"))
		require.NoError(t, err)
		out.wait(t, 1)
		_, _, _, err = out.get("nosearch")
		assert.ErrorIs(t, err, ErrDNSNotExist)
	})
}

// TestDNSHostsFile answers getaddrinfo from a loaded hosts file without a
// nameserver, and stops doing so after ClearHosts.
func TestDNSHostsFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, silentUDPServer(t))
		require.NoError(t, d.SetTimeout(20*time.Millisecond))
		require.NoError(t, d.SetAttempts(1))
		hosts := writeTestFile(t, "hosts", "# test hosts\n127.0.0.9 file.test alias.test\n::9 file.test\n")
		require.NoError(t, d.LoadHosts(hosts))
		runLoop(t, b)
		ctx := context.Background()

		infos, err := d.LookupAddrInfo(ctx, "alias.test", "443", &AddrInfoHints{SockType: unix.SOCK_STREAM})
		require.NoError(t, err)
		assert.ElementsMatch(t, []netip.Addr{netip.MustParseAddr("127.0.0.9")}, addrsOf(infos))

		infos, err = d.LookupAddrInfo(ctx, "file.test", "", &AddrInfoHints{SockType: unix.SOCK_STREAM})
		require.NoError(t, err)
		assert.ElementsMatch(t, []netip.Addr{netip.MustParseAddr("127.0.0.9"), netip.MustParseAddr("::9")}, addrsOf(infos))

		// Without the file the name goes to the silent nameserver and
		// times out, which getaddrinfo reports as EVUTIL_EAI_FAIL.
		require.NoError(t, d.ClearHosts())
		_, err = d.LookupAddrInfo(ctx, "file.test", "", &AddrInfoHints{Family: unix.AF_INET})
		assert.ErrorIs(t, err, ErrEAIFail)

		assert.ErrorIs(t, d.LoadHosts(hosts+".missing"), ErrInvalid)
	})
}

// TestDNSUseAfterClose returns ErrClosed from every method of a closed
// resolver, and closing twice is harmless.
func TestDNSUseAfterClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d, err := b.NewDNSBase(0)
		require.NoError(t, err)
		require.NoError(t, d.Close())
		require.NoError(t, d.Close())

		_, err = d.ResolveIPv4("a.test", 0, func(DNSResult, error) {})
		assert.ErrorIs(t, err, ErrClosed)
		_, err = d.GetAddrInfo("a.test", "", nil, func([]AddrInfo, error) {})
		assert.ErrorIs(t, err, ErrClosed)
		assert.ErrorIs(t, d.AddNameserver("127.0.0.1:53"), ErrClosed)
		assert.ErrorIs(t, d.SetTimeout(time.Second), ErrClosed)
		_, err = d.CountNameservers()
		assert.ErrorIs(t, err, ErrClosed)
	})
}
