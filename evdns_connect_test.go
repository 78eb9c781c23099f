//go:build cgo

package libevent

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestConnectHostname connects a bufferevent by name to an echo server,
// with the name answered by the package's DNS server, and fails with a
// *DNSError for a name that does not exist.
func TestConnectHostname(t *testing.T) {
	echoAddr, _ := startEchoServer(t, backends[0])
	port := int(netip.MustParseAddrPort(echoAddr).Port())
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		zone := defaultTestZone()
		zone.v4["echo.test"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		srv, err := b.NewDNSServer("127.0.0.1:0", zone.serve)
		require.NoError(t, err)
		t.Cleanup(func() { srv.Close() })
		d := newTestResolver(t, b, srv.Addr())

		type event struct {
			what BEVEvents
			err  error
		}
		events := make(chan event, 4)
		echoed := make(chan string, 1)
		bev, err := b.NewBufferEvent(-1, BEVOptCloseOnFree|BEVOptThreadSafe)
		require.NoError(t, err)
		t.Cleanup(func() { bev.Close() })
		bev.SetCallbacks(func(bev *BufferEvent) {
			buf := make([]byte, 64)
			n, _ := bev.Read(buf)
			echoed <- string(buf[:n])
		}, nil, func(bev *BufferEvent, what BEVEvents, err error) {
			events <- event{what, err}
		})
		require.NoError(t, bev.Enable(EvRead))
		require.NoError(t, bev.ConnectHostname(d, unix.AF_INET, "echo.test", port))

		failing, err := b.NewBufferEvent(-1, BEVOptCloseOnFree)
		require.NoError(t, err)
		t.Cleanup(func() { failing.Close() })
		failEvents := make(chan event, 4)
		failing.SetCallbacks(nil, nil, func(bev *BufferEvent, what BEVEvents, err error) {
			failEvents <- event{what, err}
		})
		require.NoError(t, failing.ConnectHostname(d, unix.AF_INET, "missing.test", port))
		runLoop(t, b)

		select {
		case ev := <-events:
			require.Equal(t, BEVEventConnected, ev.what, "error %v", ev.err)
		case <-time.After(time.Minute):
			t.Fatal("no connect event within a minute")
		}
		_, err = bev.Write([]byte("ping"))
		require.NoError(t, err)
		select {
		case got := <-echoed:
			assert.Equal(t, "ping", got)
		case <-time.After(time.Minute):
			t.Fatal("no echo within a minute")
		}

		select {
		case ev := <-failEvents:
			assert.Equal(t, BEVEventError, ev.what&BEVEventError)
			var dnsErr *DNSError
			require.ErrorAs(t, ev.err, &dnsErr)
			assert.ErrorIs(t, ev.err, ErrEAINoName)
			assert.Equal(t, "missing.test", dnsErr.Name)
		case <-time.After(time.Minute):
			t.Fatal("no error event within a minute")
		}

		assert.ErrorIs(t, bev.ConnectHostname(d, 99, "echo.test", port), ErrInvalid)
		assert.ErrorIs(t, bev.ConnectHostname(d, unix.AF_INET, "echo.test", 0), ErrInvalid)
		assert.ErrorIs(t, bev.ConnectHostname(nil, unix.AF_INET, "echo.test", port), ErrInvalid)
	})
}

// TestConnectHostnameResolverClosedFirst closes the resolver while two
// bufferevents wait for their lookups, to which a silent nameserver never
// replies. The resolver's evdns_base stays until the lookups end, because
// libevent reads it when a bufferevent closed later cancels its lookup, and
// the lookup that is left still ends with the timeout's error.
func TestConnectHostnameResolverClosedFirst(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, silentUDPServer(t))
		require.NoError(t, d.SetTimeout(100*time.Millisecond))
		require.NoError(t, d.SetAttempts(1))

		type event struct {
			what BEVEvents
			err  error
		}
		events := make(chan event, 4)
		waiting, err := b.NewBufferEvent(-1, BEVOptCloseOnFree|BEVOptThreadSafe)
		require.NoError(t, err)
		t.Cleanup(func() { waiting.Close() })
		require.NoError(t, waiting.SetCallbacks(nil, nil, func(_ *BufferEvent, what BEVEvents, err error) {
			events <- event{what, err}
		}))
		require.NoError(t, waiting.ConnectHostname(d, unix.AF_INET, "slow.test", 80))

		closedEarly, err := b.NewBufferEvent(-1, BEVOptCloseOnFree|BEVOptThreadSafe)
		require.NoError(t, err)
		require.NoError(t, closedEarly.ConnectHostname(d, unix.AF_INET, "slow.test", 80))

		require.NoError(t, d.Close())
		require.NoError(t, closedEarly.Close())
		d.mu.Lock()
		assert.False(t, d.cFreed, "the evdns_base was freed while a lookup ran")
		d.mu.Unlock()
		assert.ErrorIs(t, waiting.ConnectHostname(d, unix.AF_INET, "slow.test", 80), ErrClosed)
		runLoop(t, b)

		select {
		case ev := <-events:
			assert.Equal(t, BEVEventError, ev.what&BEVEventError)
			var dnsErr *DNSError
			require.ErrorAs(t, ev.err, &dnsErr)
			assert.Equal(t, "slow.test", dnsErr.Name)
		case <-time.After(time.Minute):
			t.Fatal("no error event within a minute of the resolver's Close")
		}
		// The resolver's C memory goes once its last lookup has ended.
		waitFor(t, "the resolver's evdns_base to be freed", func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.cFreed
		})
	})
}

// TestConnectHostnameTwice starts a second lookup on a bufferevent whose
// first one still waits for a silent nameserver: libevent 2.1.12 would run
// both and connect twice, so the second call fails with EALREADY, with the
// same resolver and with another one. Once the first lookup has ended with
// its error event, a new one may start.
func TestConnectHostnameTwice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		first := newTestResolver(t, b, silentUDPServer(t))
		require.NoError(t, first.SetTimeout(100*time.Millisecond))
		require.NoError(t, first.SetAttempts(1))
		second := newTestResolver(t, b, silentUDPServer(t))

		events := make(chan BEVEvents, 4)
		bev, err := b.NewBufferEvent(-1, BEVOptCloseOnFree|BEVOptThreadSafe)
		require.NoError(t, err)
		t.Cleanup(func() { bev.Close() })
		require.NoError(t, bev.SetCallbacks(nil, nil, func(_ *BufferEvent, what BEVEvents, _ error) {
			events <- what
		}))
		require.NoError(t, bev.ConnectHostname(first, unix.AF_INET, "slow.test", 80))
		err = bev.ConnectHostname(first, unix.AF_INET, "slow.test", 80)
		assert.ErrorIs(t, err, syscall.EALREADY, "the same resolver")
		err = bev.ConnectHostname(second, unix.AF_INET, "slow.test", 80)
		assert.ErrorIs(t, err, syscall.EALREADY, "another resolver")

		runLoopUntilCleanup(t, b)
		select {
		case what := <-events:
			assert.Equal(t, BEVEventError, what&BEVEventError)
		case <-time.After(time.Minute):
			t.Fatal("no error event within a minute")
		}
		assert.NoError(t, bev.ConnectHostname(first, unix.AF_INET, "slow.test", 80), "after the first lookup ended")
	})
}
