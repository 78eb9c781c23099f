//go:build cgo

package libevent

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testZone is what the tests' DNS servers answer: addresses by name, and
// names by reverse-lookup name.
type testZone struct {
	v4  map[string][]netip.Addr
	v6  map[string][]netip.Addr
	ptr map[string]string
	ttl time.Duration
}

func defaultTestZone() *testZone {
	return &testZone{
		v4: map[string][]netip.Addr{
			"a.test":     {netip.MustParseAddr("127.0.0.2")},
			"multi.test": {netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")},
			"both.test":  {netip.MustParseAddr("127.0.0.6")},
		},
		v6: map[string][]netip.Addr{
			"six.test":  {netip.MustParseAddr("::6")},
			"both.test": {netip.MustParseAddr("::7")},
		},
		ptr: map[string]string{
			"2.0.0.127.in-addr.arpa": "a.test",
			"6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa": "six.test",
		},
		ttl: 300 * time.Second,
	}
}

// serve answers req from the zone: NXDOMAIN for unknown names, an empty
// authoritative answer for known names without records of the type.
func (z *testZone) serve(req *DNSServerRequest) {
	known := false
	for _, q := range req.Questions {
		name := strings.ToLower(q.Name)
		_, has4 := z.v4[name]
		_, has6 := z.v6[name]
		_, hasPTR := z.ptr[name]
		known = known || has4 || has6 || hasPTR
		switch q.Type {
		case DNSTypeA:
			if addrs := z.v4[name]; len(addrs) > 0 {
				_ = req.AddA(q.Name, addrs, z.ttl)
			}
		case DNSTypeAAAA:
			if addrs := z.v6[name]; len(addrs) > 0 {
				_ = req.AddAAAA(q.Name, addrs, z.ttl)
			}
		case DNSTypePTR:
			if host, ok := z.ptr[name]; ok {
				_ = req.AddPTR(q.Name, host, z.ttl)
			}
		}
	}
	_ = req.SetFlags(DNSFlagAuthoritative)
	if !known {
		_ = req.Respond(DNSRcodeNameError)
		return
	}
	_ = req.Respond(DNSRcodeNoError)
}

// startZoneServer runs a DNS server for the default zone on 127.0.0.1 on b
// and returns it; it is closed when the test ends.
func startZoneServer(t *testing.T, b *Base) *DNSServer {
	t.Helper()
	srv, err := b.NewDNSServer("127.0.0.1:0", defaultTestZone().serve)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	return srv
}

// newTestResolver creates a resolver without the system configuration
// whose only nameserver is addr, with short timeouts; it is closed when the
// test ends.
func newTestResolver(t *testing.T, b *Base, addr netip.AddrPort) *DNSBase {
	t.Helper()
	d, err := b.NewDNSBase(0)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	if addr.IsValid() {
		require.NoError(t, d.AddNameserverAddr(addr))
	}
	require.NoError(t, d.SetTimeout(2*time.Second))
	require.NoError(t, d.SetAttempts(3))
	return d
}

// dnsOutcomes collects the outcomes of DNSCallback and AddrInfoCallback
// calls, counting them per lookup.
type dnsOutcomes struct {
	mu    sync.Mutex
	calls map[string]int
	errs  map[string]error
	res   map[string]DNSResult
	addrs map[string][]AddrInfo
	done  chan string
}

func newDNSOutcomes() *dnsOutcomes {
	return &dnsOutcomes{
		calls: map[string]int{},
		errs:  map[string]error{},
		res:   map[string]DNSResult{},
		addrs: map[string][]AddrInfo{},
		done:  make(chan string, 100),
	}
}

func (o *dnsOutcomes) callback(id string) DNSCallback {
	return func(res DNSResult, err error) {
		o.mu.Lock()
		o.calls[id]++
		o.res[id] = res
		o.errs[id] = err
		o.mu.Unlock()
		o.done <- id
	}
}

func (o *dnsOutcomes) addrInfoCallback(id string) AddrInfoCallback {
	return func(addrs []AddrInfo, err error) {
		o.mu.Lock()
		o.calls[id]++
		o.addrs[id] = addrs
		o.errs[id] = err
		o.mu.Unlock()
		o.done <- id
	}
}

// wait waits for n callbacks, for at most a minute.
func (o *dnsOutcomes) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(time.Minute)
	for i := 0; i < n; i++ {
		select {
		case <-o.done:
		case <-timeout:
			t.Fatalf("only %d of %d DNS callbacks ran within a minute", i, n)
		}
	}
}

func (o *dnsOutcomes) get(id string) (calls int, res DNSResult, addrs []AddrInfo, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[id], o.res[id], o.addrs[id], o.errs[id]
}

// silentUDPServer binds a UDP socket on 127.0.0.1 that never answers and
// returns its address.
func silentUDPServer(t *testing.T) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// writeTestFile writes content to a file in the test's temporary directory
// and returns its path.
func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func addrsOf(infos []AddrInfo) []netip.Addr {
	var out []netip.Addr
	for _, ai := range infos {
		out = append(out, ai.Addr.Addr())
	}
	return out
}
