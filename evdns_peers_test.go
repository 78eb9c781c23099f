//go:build cgo

package libevent

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// dig queries the server at addr and returns dig's output.
func dig(t *testing.T, addr netip.AddrPort, args ...string) string {
	t.Helper()
	all := append([]string{"@" + addr.Addr().String(), "-p", strconv.Itoa(int(addr.Port())),
		"+tries=1", "+time=10", "+norecurse"}, args...)
	return string(runPeer(t, nil, "dig", all...))
}

// sectionServer answers every name with records in all three sections,
// with generic, CNAME and PTR records, and the AA flag.
func sectionServer(req *DNSServerRequest) {
	q := req.Questions[0]
	switch q.Name {
	case "sections.test":
		_ = req.AddA(q.Name, []netip.Addr{netip.MustParseAddr("127.0.0.10")}, 60*time.Second)
		_ = req.AddNameReply(DNSAuthoritySection, "test", DNSTypeNS, DNSClassInet, time.Hour, "ns.test")
		_ = req.AddReply(DNSAdditionalSection, "ns.test", DNSTypeA, DNSClassInet, time.Hour, []byte{127, 0, 0, 11})
		_ = req.SetFlags(DNSFlagAuthoritative)
	case "alias.test":
		_ = req.AddCNAME(q.Name, "sections.test", 30*time.Second)
	case "text.test":
		_ = req.AddReply(DNSAnswerSection, q.Name, DNSTypeTXT, DNSClassInet, 5*time.Second, append([]byte{5}, "hello"...))
	case "12.0.0.127.in-addr.arpa":
		_ = req.AddPTR(q.Name, "ptr.test", 10*time.Second)
	case "refused.test":
		_ = req.Respond(DNSRcodeRefused)
		return
	}
	_ = req.Respond(DNSRcodeNoError)
}

// TestDNSServerWithDig queries the package's server with dig: flags,
// sections, generic records, CNAME, PTR and response codes arrive as set.
func TestDNSServerWithDig(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		srv, err := b.NewDNSServer("127.0.0.1:0", sectionServer)
		require.NoError(t, err)
		t.Cleanup(func() { srv.Close() })
		runLoop(t, b)

		out := dig(t, srv.Addr(), "sections.test", "A")
		assert.Contains(t, out, "status: NOERROR")
		assert.Regexp(t, `flags: qr aa;`, out)
		assert.Regexp(t, `(?m)^sections\.test\.\s+60\s+IN\s+A\s+127\.0\.0\.10$`, out)
		assert.Regexp(t, `(?m)^test\.\s+3600\s+IN\s+NS\s+ns\.test\.$`, out)
		assert.Regexp(t, `(?m)^ns\.test\.\s+3600\s+IN\s+A\s+127\.0\.0\.11$`, out)
		assert.Contains(t, out, "ANSWER: 1, AUTHORITY: 1, ADDITIONAL: 1")

		out = dig(t, srv.Addr(), "alias.test", "A")
		assert.Regexp(t, `(?m)^alias\.test\.\s+30\s+IN\s+CNAME\s+sections\.test\.$`, out)
		assert.NotRegexp(t, `flags: qr aa`, out)

		out = dig(t, srv.Addr(), "text.test", "TXT")
		assert.Regexp(t, `(?m)^text\.test\.\s+5\s+IN\s+TXT\s+"hello"$`, out)

		out = dig(t, srv.Addr(), "-x", "127.0.0.12")
		assert.Regexp(t, `(?m)^12\.0\.0\.127\.in-addr\.arpa\.\s+10\s+IN\s+PTR\s+ptr\.test\.$`, out)

		out = dig(t, srv.Addr(), "refused.test", "A")
		assert.Contains(t, out, "status: REFUSED")
	})
}

// TestDNSServerRespondLater answers from another goroutine after the
// handler returned, drops a request, and checks that the request cannot
// be used once it was answered.
func TestDNSServerRespondLater(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		requests := make(chan *DNSServerRequest, 4)
		srv, err := b.NewDNSServer("127.0.0.1:0", func(req *DNSServerRequest) { requests <- req })
		require.NoError(t, err)
		t.Cleanup(func() { srv.Close() })
		d := newTestResolver(t, b, srv.Addr())
		require.NoError(t, d.SetTimeout(200*time.Millisecond))
		require.NoError(t, d.SetAttempts(1))
		runLoop(t, b)

		answered := make(chan error, 1)
		go func() {
			res, err := d.LookupIPv4(context.Background(), "later.test")
			if err == nil && (len(res.Addrs) != 1 || res.Addrs[0] != netip.MustParseAddr("127.0.0.20")) {
				err = assert.AnError
			}
			answered <- err
		}()
		req := <-requests
		assert.Equal(t, "later.test", strings.ToLower(req.Questions[0].Name))
		assert.Equal(t, DNSTypeA, req.Questions[0].Type)
		assert.Equal(t, DNSClassInet, req.Questions[0].Class)
		assert.Equal(t, netip.MustParseAddr("127.0.0.1"), req.Client.Addr())
		require.NoError(t, req.AddA(req.Questions[0].Name, []netip.Addr{netip.MustParseAddr("127.0.0.20")}, time.Minute))
		require.NoError(t, req.Respond(DNSRcodeNoError))
		require.NoError(t, <-answered)
		assert.ErrorIs(t, req.Respond(DNSRcodeNoError), ErrInvalid)
		assert.ErrorIs(t, req.Drop(), ErrInvalid)

		dropped := make(chan error, 1)
		go func() {
			_, err := d.LookupIPv4(context.Background(), "dropped.test")
			dropped <- err
		}()
		req = <-requests
		require.NoError(t, req.Drop())
		assert.ErrorIs(t, <-dropped, ErrDNSTimeout)

		assert.ErrorIs(t, req.AddA("x.test", []netip.Addr{netip.MustParseAddr("::1")}, 0), ErrInvalid)
		assert.ErrorIs(t, req.Respond(16), ErrInvalid)
	})
}

// TestDNSServerCloseWithOpenRequests closes a server whose handler left a
// request open: the request is dropped, later calls on it fail, and its
// socket is closed.
func TestDNSServerCloseWithOpenRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		requests := make(chan *DNSServerRequest, 1)
		srv, err := b.NewDNSServer("127.0.0.1:0", func(req *DNSServerRequest) { requests <- req })
		require.NoError(t, err)
		runLoop(t, b)

		reply := make(chan []byte, 1)
		go func() {
			reply <- exchangeUDP(t, srv.Addr(), 500*time.Millisecond, buildDNSQuery(7, "open.test", DNSTypeA))
		}()
		req := <-requests
		require.NoError(t, srv.Close())
		require.NoError(t, srv.Close())
		assert.ErrorIs(t, req.Respond(0), ErrClosed)
		assert.Nil(t, <-reply)

		// The port is free again once the server closed its socket.
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(srv.Addr()))
		require.NoError(t, err)
		conn.Close()
	})
}

// TestDNSServerFromConn serves on a socket taken from a net.UDPConn, on
// IPv6 loopback.
func TestDNSServerFromConn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		srv, err := b.NewDNSServerFromConn(conn, defaultTestZone().serve)
		require.NoError(t, err)
		t.Cleanup(func() { srv.Close() })
		assert.Equal(t, conn.LocalAddr().(*net.UDPAddr).AddrPort(), srv.Addr())
		d := newTestResolver(t, b, srv.Addr())
		runLoop(t, b)

		res, err := d.LookupIPv4(context.Background(), "a.test")
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.2")}, res.Addrs)

		_, err = b.NewDNSServer("127.0.0.1:0", nil)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = b.NewDNSServer("localhost:53", func(*DNSServerRequest) {})
		assert.ErrorIs(t, err, ErrInvalid)
	})
}

// startDnsmasq runs dnsmasq on 127.0.0.1 on a free port, answering only
// from a hosts file, until the test ends, and returns its address.
func startDnsmasq(t *testing.T, hosts string) netip.AddrPort {
	t.Helper()
	path, err := exec.LookPath("dnsmasq")
	require.NoError(t, err, "dnsmasq is missing; make test installs it (setup.sh --test-tools)")
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	hostsFile := filepath.Join(dir, "hosts")
	require.NoError(t, os.WriteFile(hostsFile, []byte(hosts), 0o644))

	// dnsmasq binds the port for UDP and TCP; another program can take it
	// between the probe and dnsmasq's bind, so a few ports are tried.
	var failures []string
	for attempt := 0; attempt < 5; attempt++ {
		addr := freeUDPAndTCPPort(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, path, "--no-resolv", "--no-hosts", "--addn-hosts="+hostsFile,
			"--port="+strconv.Itoa(int(addr.Port())), "--listen-address=127.0.0.1", "--bind-interfaces",
			"--keep-in-foreground", "--pid-file=", "--user=root", "--log-facility=-", "--cache-size=0")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		go func() {
			cmd.Wait()
			close(exited)
		}()
		if waitForUDPBind(addr, exited) {
			t.Cleanup(func() {
				cmd.Process.Signal(unix.SIGTERM)
				<-exited
				cancel()
			})
			return addr
		}
		cmd.Process.Kill()
		<-exited
		cancel()
		failures = append(failures, stderr.String())
	}
	t.Fatalf("dnsmasq did not start: %v", failures)
	return netip.AddrPort{}
}

// freeUDPAndTCPPort returns 127.0.0.1 with a port that is free for both
// UDP and TCP at the time of the call.
func freeUDPAndTCPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	for {
		probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		addr := probe.LocalAddr().(*net.UDPAddr).AddrPort()
		tcp, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(addr))
		probe.Close()
		if err == nil {
			tcp.Close()
			return addr
		}
	}
}

// waitForUDPBind reports whether a process binds addr for UDP within 30 s;
// it gives up early when exited is closed.
func waitForUDPBind(addr netip.AddrPort, exited <-chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return true
		}
		c.Close()
		select {
		case <-exited:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false
}

// TestDNSResolverAgainstDnsmasq resolves names that dnsmasq answers from
// a hosts file, and a name it does not know.
func TestDNSResolverAgainstDnsmasq(t *testing.T) {
	server := startDnsmasq(t, "127.0.0.30 mq.test\n::30 mq.test\n127.0.0.31 other.test\n")
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		d := newTestResolver(t, b, server)
		runLoop(t, b)
		ctx := context.Background()

		res, err := d.LookupIPv4(ctx, "mq.test")
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.30")}, res.Addrs)

		res, err = d.LookupIPv6(ctx, "mq.test")
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("::30")}, res.Addrs)

		res, err = d.LookupAddr(ctx, netip.MustParseAddr("127.0.0.31"))
		require.NoError(t, err)
		assert.Equal(t, []string{"other.test"}, res.Names)

		infos, err := d.LookupAddrInfo(ctx, "mq.test", "8080", &AddrInfoHints{SockType: unix.SOCK_STREAM})
		require.NoError(t, err)
		assert.ElementsMatch(t, []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.30:8080"), netip.MustParseAddrPort("[::30]:8080"),
		}, []netip.AddrPort{infos[0].Addr, infos[len(infos)-1].Addr})
		assert.Len(t, infos, 2)

		_, err = d.LookupIPv4(ctx, "unknown.test")
		assert.Error(t, err)
		var dnsErr *DNSError
		assert.ErrorAs(t, err, &dnsErr)
	})
}

// fakeReplyServer answers every query on 127.0.0.1 with what reply makes
// of it, until the test ends.
func fakeReplyServer(t *testing.T, reply func(query []byte) []byte) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if out := reply(append([]byte(nil), buf[:n]...)); out != nil {
				conn.WriteToUDPAddrPort(out, from)
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		wg.Wait()
	})
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// replyHeader returns a reply to query with the given flags and counts and
// the query's question, if any.
func replyHeader(query []byte, flags uint16, ancount uint16) []byte {
	out := append([]byte(nil), query...)
	binary.BigEndian.PutUint16(out[2:], flags)
	binary.BigEndian.PutUint16(out[6:], ancount)
	return out
}

// TestDNSResolverBadReplies resolves against a fake nameserver that sends
// truncated, malformed, short and mismatched replies: every lookup fails
// with a DNS error, and the process lives.
func TestDNSResolverBadReplies(t *testing.T) {
	cases := []struct {
		name  string
		reply func(q []byte) []byte
		want  error
	}{
		{"truncated flag", func(q []byte) []byte { return replyHeader(q, 0x8380, 0) }, ErrDNSTruncated},
		{"answer count without answers", func(q []byte) []byte { return replyHeader(q, 0x8180, 3) }, nil},
		{"shorter than a header", func(q []byte) []byte { return q[:5] }, ErrDNSTimeout},
		{"mismatched id", func(q []byte) []byte {
			out := replyHeader(q, 0x8180, 0)
			out[0] ^= 0xff
			return out
		}, ErrDNSTimeout},
		{"garbage after the header", func(q []byte) []byte {
			out := replyHeader(q[:12], 0x8180, 1)
			binary.BigEndian.PutUint16(out[4:], 9)
			return append(out, 0xc0, 0xff, 0x3f, 1, 2, 3)
		}, nil},
		// libevent 2.1.12 treats SERVFAIL as a timeout.
		{"server failure", func(q []byte) []byte { return replyHeader(q, 0x8182, 0) }, ErrDNSTimeout},
		{"refused", func(q []byte) []byte { return replyHeader(q, 0x8185, 0) }, ErrDNSRefused},
		{"query echoed back", func(q []byte) []byte { return q }, ErrDNSTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			server := fakeReplyServer(t, c.reply)
			forEachBackend(t, func(t *testing.T, bk backend) {
				b := newBase(t, bk)
				d := newTestResolver(t, b, server)
				require.NoError(t, d.SetTimeout(50*time.Millisecond))
				require.NoError(t, d.SetAttempts(1))
				runLoop(t, b)

				_, err := d.LookupIPv4(context.Background(), "bad.test")
				require.Error(t, err)
				var dnsErr *DNSError
				require.ErrorAs(t, err, &dnsErr)
				if c.want != nil {
					assert.ErrorIs(t, err, c.want)
				}
				_, err = d.LookupAddrInfo(context.Background(), "bad.test", "", &AddrInfoHints{Family: unix.AF_INET})
				require.ErrorAs(t, err, &dnsErr)
			})
		})
	}
}

// TestDNSServerCloseFromHandler closes the server from inside its handler:
// the request is dropped, later requests get no handler call, and the
// process lives.
func TestDNSServerCloseFromHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		calls := make(chan error, 4)
		var srv *DNSServer
		srv, err := b.NewDNSServer("127.0.0.1:0", func(req *DNSServerRequest) {
			calls <- srv.Close()
			calls <- req.Respond(DNSRcodeNoError)
		})
		require.NoError(t, err)
		runLoop(t, b)

		reply := exchangeUDP(t, srv.Addr(), 500*time.Millisecond,
			buildDNSQuery(1, "a.test", DNSTypeA), buildDNSQuery(2, "a.test", DNSTypeA))
		assert.Nil(t, reply)
		require.NoError(t, <-calls)
		assert.ErrorIs(t, <-calls, ErrClosed)
		assert.Empty(t, calls, "a handler ran after Close")
	})
}
