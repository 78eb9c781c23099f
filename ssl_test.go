//go:build cgo && !libevent_no_openssl

package libevent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// tlsResult is what a client bufferevent saw in tlsExchange.
type tlsResult struct {
	events []eventRecord
	reply  string
}

// tlsExchange connects bev to addr, sends request and runs b's loop until
// want bytes have arrived or the event callback reports an end or an
// error. The loop stops after a minute at most.
func tlsExchange(t *testing.T, b *Base, bev *BufferEvent, addr, request string, want int) *tlsResult {
	t.Helper()
	ex := &tlsResult{}
	require.NoError(t, bev.SetCallbacks(func(bev *BufferEvent) {
		ex.reply += readAll(t, bev)
		if len(ex.reply) >= want {
			assert.NoError(t, b.LoopBreak())
		}
	}, nil, func(bev *BufferEvent, what BEVEvents, err error) {
		ex.events = append(ex.events, eventRecord{what, err})
		if what&(BEVEventEOF|BEVEventError|BEVEventTimeout) != 0 {
			ex.reply += readAll(t, bev)
			assert.NoError(t, b.LoopBreak())
		}
	}))
	require.NoError(t, bev.Connect(addr))
	require.NoError(t, bev.Enable(EvRead|EvWrite))
	if request != "" {
		_, err := bev.WriteString(request)
		require.NoError(t, err)
	}
	require.NoError(t, b.LoopExit(time.Minute))
	require.NoError(t, b.Dispatch())
	return ex
}

// echoTLS copies what a crypto/tls connection reads back to it.
func echoTLS(conn *tls.Conn) {
	io.Copy(conn, conn)
}

func TestTLSClientWithGoServer(t *testing.T) {
	p := newTestPKI(t)
	addr := startGoTLSServer(t, &tls.Config{
		Certificates: []tls.Certificate{p.server.tlsCertificate(t)},
		NextProtos:   []string{"h2", "http/1.1"},
	}, echoTLS)

	forEachBackend(t, func(t *testing.T, bk backend) {
		for _, name := range []string{"localhost", "127.0.0.1"} {
			b := newBase(t, bk)
			cfg := clientConfig(t, p, name, func(o *TLSOptions) { o.NextProtos = []string{"http/1.1"} })
			bev, err := b.NewBufferEventOpenSSL(-1, cfg, BEVOptCloseOnFree)
			require.NoError(t, err)
			request := strings.Repeat("ping through TLS ", 4096)
			ex := tlsExchange(t, b, bev, addr, request, len(request))

			require.NotEmpty(t, ex.events, name)
			assert.Equal(t, BEVEventConnected, ex.events[0].what, name)
			assert.NoError(t, ex.events[0].err, name)
			assert.Equal(t, request, ex.reply, name)
			proto, err := bev.TLSNegotiatedProtocol()
			require.NoError(t, err)
			assert.Equal(t, "http/1.1", proto)
			version, err := bev.TLSVersion()
			require.NoError(t, err)
			assert.Equal(t, "TLS 1.3", tls.VersionName(version))
			cert, err := bev.TLSPeerCertificate()
			require.NoError(t, err)
			require.NotNil(t, cert)
			assert.Equal(t, p.server.cert.Raw, cert.Raw)
			require.NoError(t, bev.Close())
		}
	})
}

// startTLSEchoServer runs a libevent listener on 127.0.0.1 whose
// connections speak TLS with cfg and echo what they read. Each connection's
// event callback results go to events when it is not nil.
func startTLSEchoServer(t *testing.T, bk backend, cfg *TLSConfig, events chan<- tlsServerEvent) string {
	t.Helper()
	b := newBase(t, bk)
	l, err := b.Listen("tcp4", "127.0.0.1:0", LEVOptReusable, -1, func(l *Listener, fd int, _ net.Addr) {
		bev, err := b.NewBufferEventOpenSSL(fd, cfg, BEVOptCloseOnFree)
		if !assert.NoError(t, err) {
			unix.Close(fd)
			return
		}
		err = bev.SetCallbacks(func(bev *BufferEvent) {
			assert.NoError(t, bev.Output().AddBuffer(bev.Input()))
		}, nil, func(bev *BufferEvent, what BEVEvents, err error) {
			ev := tlsServerEvent{eventRecord: eventRecord{what, err}}
			if what&BEVEventConnected != 0 {
				ev.peer, ev.peerErr = bev.TLSPeerCertificate()
				ev.proto, _ = bev.TLSNegotiatedProtocol()
				ev.version, _ = bev.TLSVersion()
			} else {
				bev.Close()
			}
			if events != nil {
				events <- ev
			}
		})
		assert.NoError(t, err)
		assert.NoError(t, bev.Enable(EvRead|EvWrite))
	})
	require.NoError(t, err)
	addr, err := l.Addr()
	require.NoError(t, err)
	stop := runInBackground(t, b)
	t.Cleanup(func() { assert.ErrorIs(t, stop(), context.Canceled) })
	return addr.String()
}

// tlsServerEvent is one event of a server connection, with what the
// connection knew about its peer when the handshake ended.
type tlsServerEvent struct {
	eventRecord
	peer    *x509.Certificate
	peerErr error
	proto   string
	version uint16
}

func TestTLSServerWithGoClient(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := serverConfig(t, p.server, func(o *TLSOptions) { o.NextProtos = []string{"h2", "http/1.1"} })
		events := make(chan tlsServerEvent, 4)
		addr := startTLSEchoServer(t, bk, cfg, events)

		conn, err := tls.Dial("tcp4", addr, &tls.Config{
			RootCAs:    p.pool,
			ServerName: "localhost",
			NextProtos: []string{"http/1.1", "h2"},
		})
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
		state := conn.ConnectionState()
		assert.Equal(t, "h2", state.NegotiatedProtocol, "the server's preference wins")
		assert.Equal(t, p.server.cert.Raw, state.PeerCertificates[0].Raw)

		input := randomBytes(t, 256<<10)
		go func() {
			_, err := conn.Write(input)
			assert.NoError(t, err)
		}()
		out := make([]byte, len(input))
		_, err = io.ReadFull(conn, out)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(input, out), "echo differs")

		connected := <-events
		assert.Equal(t, BEVEventConnected, connected.what)
		assert.Equal(t, "h2", connected.proto)
		assert.Equal(t, uint16(tls.VersionTLS13), connected.version)
		assert.NoError(t, connected.peerErr)
		assert.Nil(t, connected.peer, "the client sent no certificate")

		// A clean close sends close_notify, so the server reports the end of
		// the stream, not an error.
		require.NoError(t, conn.Close())
		end := <-events
		assert.Equal(t, BEVEventEOF|BEVEventReading, end.what)
		assert.NoError(t, end.err)
	})
}

func TestTLSClientCertificateRequired(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := serverConfig(t, p.server, func(o *TLSOptions) {
			o.Verify = TLSVerifyRequirePeerCertificate
			o.RootCAsPEM = p.ca.certPEM
		})
		events := make(chan tlsServerEvent, 4)
		addr := startTLSEchoServer(t, bk, cfg, events)

		// With a certificate the handshake succeeds and the server sees
		// it.
		conn, err := tls.Dial("tcp4", addr, &tls.Config{
			RootCAs:      p.pool,
			ServerName:   "localhost",
			Certificates: []tls.Certificate{p.client.tlsCertificate(t)},
		})
		require.NoError(t, err)
		require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
		_, err = conn.Write([]byte("hi"))
		require.NoError(t, err)
		reply := make([]byte, 2)
		_, err = io.ReadFull(conn, reply)
		require.NoError(t, err)
		connected := <-events
		require.Equal(t, BEVEventConnected, connected.what)
		require.NoError(t, connected.peerErr)
		require.NotNil(t, connected.peer)
		assert.Equal(t, "test client", connected.peer.Subject.CommonName)
		require.NoError(t, conn.Close())
		<-events

		// Without one the server fails the handshake with OpenSSL's
		// reason. In TLS 1.3 the client learns of it on its first read.
		conn, err = tls.Dial("tcp4", addr, &tls.Config{RootCAs: p.pool, ServerName: "localhost"})
		if err == nil {
			require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
			_, err = conn.Read(reply)
			conn.Close()
		}
		assert.Error(t, err)
		failed := <-events
		assert.NotZero(t, failed.what&BEVEventError, "events %v", failed.what)
		var tlsErr *TLSError
		require.ErrorAs(t, failed.err, &tlsErr)
		assert.Contains(t, failed.err.Error(), "peer did not return a certificate")
	})
}

func TestTLSBadCertificates(t *testing.T) {
	p := newTestPKI(t)
	cases := []struct {
		name       string
		cert       *testCert
		serverName string
		verify     string
	}{
		{"expired", p.expired, "localhost", "certificate has expired"},
		{"wrong name", p.wrongName, "localhost", "hostname mismatch"},
		{"wrong IP", p.server, "127.0.0.2", "IP address mismatch"},
		{"unknown CA", p.untrusted, "localhost", "unable to get local issuer certificate"},
	}
	forEachBackend(t, func(t *testing.T, bk backend) {
		for _, c := range cases {
			addr := startGoTLSServer(t, &tls.Config{Certificates: []tls.Certificate{c.cert.tlsCertificate(t)}}, echoTLS)
			b := newBase(t, bk)
			bev, err := b.NewBufferEventOpenSSL(-1, clientConfig(t, p, c.serverName), BEVOptCloseOnFree)
			require.NoError(t, err)
			ex := tlsExchange(t, b, bev, addr, "never sent", 1)

			require.Len(t, ex.events, 1, c.name)
			assert.NotZero(t, ex.events[0].what&BEVEventError, "%s: events %v", c.name, ex.events[0].what)
			var tlsErr *TLSError
			require.ErrorAs(t, ex.events[0].err, &tlsErr, c.name)
			assert.Contains(t, tlsErr.Messages, "error:0A000086:SSL routines::certificate verify failed", c.name)
			assert.Equal(t, c.verify, tlsErr.VerifyMessage, c.name)
			assert.NotZero(t, tlsErr.VerifyResult, c.name)
			assert.Contains(t, tlsErr.Error(), c.verify, c.name)
			assert.Empty(t, ex.reply, c.name)
			require.NoError(t, bev.Close())
		}
	})
}

// startDirtyServer runs a crypto/tls server that writes "hello" to each
// connection and then closes its TCP connection, with a TLS close_notify
// first only when clean is set.
func startDirtyServer(t *testing.T, p *testPKI, clean bool) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{p.server.tlsCertificate(t)}}
	return startGoTLSServer(t, cfg, func(conn *tls.Conn) {
		if _, err := conn.Write([]byte("hello")); err != nil {
			return
		}
		if clean {
			conn.Close()
			return
		}
		// Closing the TCP connection under the TLS one sends no
		// close_notify. The deferred close in startGoTLSServer does it.
		conn.NetConn().(*net.TCPConn).SetLinger(-1)
	})
}

func TestTLSDirtyShutdown(t *testing.T) {
	p := newTestPKI(t)
	dirty := startDirtyServer(t, p, false)
	clean := startDirtyServer(t, p, true)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cases := []struct {
			name    string
			addr    string
			allow   bool
			wantEOF bool
		}{
			{"dirty allowed", dirty, true, true},
			{"dirty not allowed", dirty, false, false},
			{"clean allowed", clean, true, true},
			{"clean not allowed", clean, false, true},
		}
		for _, c := range cases {
			b := newBase(t, bk)
			bev, err := b.NewBufferEventOpenSSL(-1, clientConfig(t, p, "localhost"), BEVOptCloseOnFree)
			require.NoError(t, err)
			require.NoError(t, bev.SetAllowDirtyShutdown(c.allow))
			allowed, err := bev.AllowDirtyShutdown()
			require.NoError(t, err)
			assert.Equal(t, c.allow, allowed)
			// A want of 6 bytes keeps the loop going until the end.
			ex := tlsExchange(t, b, bev, c.addr, "", 6)

			assert.Equal(t, "hello", ex.reply, c.name)
			require.Len(t, ex.events, 2, c.name)
			assert.Equal(t, BEVEventConnected, ex.events[0].what, c.name)
			end := ex.events[1]
			if c.wantEOF {
				assert.Equal(t, BEVEventEOF|BEVEventReading, end.what, c.name)
				assert.NoError(t, end.err, c.name)
			} else {
				assert.Equal(t, BEVEventError|BEVEventReading, end.what, c.name)
				require.Error(t, end.err, c.name)
				assert.Contains(t, end.err.Error(), "unexpected eof while reading", c.name)
				assert.ErrorIs(t, end.err, io.ErrUnexpectedEOF, c.name)
			}
			require.NoError(t, bev.Close())
		}
	})
}

// TestTLSLinkage checks that OpenSSL is linked dynamically and libevent's
// OpenSSL bufferevents statically, as the rest of libevent.
func TestTLSLinkage(t *testing.T) {
	libs := importedLibraries(t)
	assert.True(t, hasLibrary(libs, "libssl.so"), "libssl is not linked dynamically: %v", libs)
	assert.True(t, hasLibrary(libs, "libcrypto.so"), "libcrypto is not linked dynamically: %v", libs)
	assert.Equal(t, !linkedStatically, hasLibrary(libs, "libevent_openssl"), "libraries %v", libs)
	assert.True(t, OpenSSLBuiltIn)
	assert.True(t, strings.HasPrefix(OpenSSLVersion(), "OpenSSL "), OpenSSLVersion())
}

// startOpenSSLServer runs `openssl s_server -rev` on 127.0.0.1 with the
// test server certificate for one connection, at most a minute, and
// returns its address. It sends each line it reads back reversed.
func startOpenSSLServer(t *testing.T, p *testPKI) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	require.NoError(t, err, "openssl is missing; make test installs it (setup.sh)")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, path, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-rev",
		"-cert", writePEMFile(t, "server.pem", p.server.certPEM),
		"-key", writePEMFile(t, "server.key", p.server.keyPEM),
		"-alpn", "http/1.1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	accept := regexp.MustCompile(`^ACCEPT (127\.0\.0\.1:[0-9]+)$`)
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if m := accept.FindStringSubmatch(lines.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return m[1]
		}
	}
	t.Fatalf("openssl s_server printed no ACCEPT line: %v", lines.Err())
	return ""
}

func TestTLSClientWithOpenSSLServer(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		addr := startOpenSSLServer(t, p)
		b := newBase(t, bk)
		cfg := clientConfig(t, p, "localhost", func(o *TLSOptions) {
			o.NextProtos = []string{"h2", "http/1.1"}
			o.MinVersion = tls.VersionTLS12
		})
		bev, err := b.NewBufferEventOpenSSL(-1, cfg, BEVOptCloseOnFree)
		require.NoError(t, err)
		ex := tlsExchange(t, b, bev, addr, "hello, s_server\n", len("hello, s_server\n"))

		require.NotEmpty(t, ex.events)
		assert.Equal(t, BEVEventConnected, ex.events[0].what)
		assert.Equal(t, "revres_s ,olleh\n", ex.reply)
		proto, err := bev.TLSNegotiatedProtocol()
		require.NoError(t, err)
		assert.Equal(t, "http/1.1", proto)
		require.NoError(t, bev.Close())
	})
}

func TestTLSServerWithOpenSSLClient(t *testing.T) {
	p := newTestPKI(t)
	caFile := writePEMFile(t, "ca.pem", p.ca.certPEM)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := serverConfig(t, p.server, func(o *TLSOptions) { o.NextProtos = []string{"http/1.1"} })
		events := make(chan tlsServerEvent, 4)
		addr := startTLSEchoServer(t, bk, cfg, events)

		// -verify_return_error makes s_client fail unless our certificate
		// verifies for localhost. s_client ends at the end of its input.
		// Its -brief output leaves ALPN out; the server reports it.
		out := runPeerCombined(t, []byte("echo through s_client\n"), "openssl", "s_client",
			"-connect", addr, "-CAfile", caFile, "-verify_return_error",
			"-verify_hostname", "localhost", "-servername", "localhost",
			"-alpn", "http/1.1", "-brief", "-no_ign_eof")
		assert.Contains(t, out, "Verification: OK")
		assert.Contains(t, out, "Protocol version: TLSv1.3")

		connected := <-events
		assert.Equal(t, BEVEventConnected, connected.what)
		assert.Equal(t, "http/1.1", connected.proto)
	})
}

// runPeerCombined runs a peer program with input on its standard input for
// at most a minute, requires it to succeed, and returns its standard output
// and error together.
func runPeerCombined(t *testing.T, input []byte, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	require.NoError(t, err, "%s is missing; make test installs it (setup.sh)", name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(input)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", name, out)
	return string(out)
}

func TestTLSFilterOverBufferEvent(t *testing.T) {
	p := newTestPKI(t)
	addr := startGoTLSServer(t, &tls.Config{Certificates: []tls.Certificate{p.server.tlsCertificate(t)}}, echoTLS)
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		under, err := b.NewBufferEvent(-1, BEVOptCloseOnFree)
		require.NoError(t, err)
		require.NoError(t, under.Connect(addr))
		bev, err := b.NewBufferEventOpenSSLFilter(under, clientConfig(t, p, "127.0.0.1"), BEVOptCloseOnFree)
		require.NoError(t, err)
		request := strings.Repeat("filtered ", 10000)
		ex := tlsExchangeConnected(t, b, bev, request, len(request))

		require.NotEmpty(t, ex.events)
		assert.Equal(t, BEVEventConnected, ex.events[0].what)
		assert.Equal(t, request, ex.reply)
		cert, err := bev.TLSPeerCertificate()
		require.NoError(t, err)
		assert.Equal(t, p.server.cert.Raw, cert.Raw)
		require.NoError(t, bev.Close())
		// The filter closed under with itself.
		assert.ErrorIs(t, under.Enable(EvRead), ErrClosed)
		require.NoError(t, under.Close())
	})
}

// tlsExchangeConnected is tlsExchange for a bufferevent that needs no
// Connect, such as a filter over a connected bufferevent.
func tlsExchangeConnected(t *testing.T, b *Base, bev *BufferEvent, request string, want int) *tlsResult {
	t.Helper()
	ex := &tlsResult{}
	require.NoError(t, bev.SetCallbacks(func(bev *BufferEvent) {
		ex.reply += readAll(t, bev)
		if len(ex.reply) >= want {
			assert.NoError(t, b.LoopBreak())
		}
	}, nil, func(bev *BufferEvent, what BEVEvents, err error) {
		ex.events = append(ex.events, eventRecord{what, err})
		if what&(BEVEventEOF|BEVEventError|BEVEventTimeout) != 0 {
			assert.NoError(t, b.LoopBreak())
		}
	}))
	require.NoError(t, bev.Enable(EvRead|EvWrite))
	_, err := bev.WriteString(request)
	require.NoError(t, err)
	require.NoError(t, b.LoopExit(time.Minute))
	require.NoError(t, b.Dispatch())
	return ex
}

func TestTLSConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	require.NoError(t, ln.Close())
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, err := b.NewBufferEventOpenSSL(-1, clientConfig(t, p, "localhost"), BEVOptCloseOnFree)
		require.NoError(t, err)
		ex := tlsExchange(t, b, bev, closedAddr, "", 1)
		require.Len(t, ex.events, 1)
		assert.NotZero(t, ex.events[0].what&BEVEventError, "events %v", ex.events[0].what)
		assert.ErrorIs(t, ex.events[0].err, syscall.ECONNREFUSED)
		require.NoError(t, bev.Close())
	})
}

func TestTLSMinVersion(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := serverConfig(t, p.server, func(o *TLSOptions) { o.MinVersion = tls.VersionTLS13 })
		events := make(chan tlsServerEvent, 4)
		addr := startTLSEchoServer(t, bk, cfg, events)

		_, err := tls.Dial("tcp4", addr, &tls.Config{RootCAs: p.pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12})
		require.Error(t, err)
		failed := <-events
		assert.NotZero(t, failed.what&BEVEventError, "events %v", failed.what)
		assert.ErrorContains(t, failed.err, "unsupported protocol")
	})
}

func TestTLSConfigErrors(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)

		_, err := NewTLSServerConfig(TLSOptions{CertificatePEM: []byte("not PEM"), KeyPEM: p.server.keyPEM})
		var tlsErr *TLSError
		require.ErrorAs(t, err, &tlsErr)
		assert.ErrorContains(t, err, "SSL_CTX_use_certificate")
		assert.ErrorContains(t, err, "no start line")

		_, err = NewTLSServerConfig(TLSOptions{CertificatePEM: p.server.certPEM, KeyPEM: p.client.keyPEM})
		assert.ErrorContains(t, err, "key values mismatch")

		_, err = NewTLSServerConfig(TLSOptions{})
		assert.ErrorIs(t, err, ErrInvalid)
		// A verifying client without ServerName suits HTTPS connections,
		// which know their host, but not a bufferevent, which does not.
		noName, err := NewTLSClientConfig(TLSOptions{RootCAsPEM: p.ca.certPEM})
		require.NoError(t, err)
		defer noName.Close()
		fd, _ := newSocketPair(t)
		_, err = b.NewBufferEventOpenSSL(fd, noName, 0)
		assert.ErrorIs(t, err, ErrInvalid, "a bufferevent of a verifying client without ServerName")
		assert.ErrorContains(t, err, "ServerName")
		_, err = NewTLSClientConfig(TLSOptions{ServerName: "localhost"})
		assert.ErrorIs(t, err, ErrInvalid, "a verifying client without root CAs")
		_, err = NewTLSClientConfig(TLSOptions{RootCAsPEM: []byte("no certificates"), ServerName: "localhost"})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = NewTLSClientConfig(TLSOptions{Verify: TLSVerifyNone, NextProtos: []string{""}})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = NewTLSClientConfig(TLSOptions{Verify: TLSVerifyNone, MinVersion: 0x0200})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = NewTLSClientConfig(TLSOptions{RootCAsFile: "/nonexistent/ca.pem", ServerName: "localhost"})
		assert.ErrorIs(t, err, fs.ErrNotExist)

		// Files work as well as PEM bytes.
		fromFiles, err := NewTLSServerConfig(TLSOptions{
			CertificateFile: writePEMFile(t, "server.pem", p.server.certPEM),
			KeyFile:         writePEMFile(t, "server.key", p.server.keyPEM),
		})
		require.NoError(t, err)
		assert.True(t, fromFiles.IsServer())
		assert.NotNil(t, fromFiles.C())

		// A closed context creates no bufferevents; closing twice is
		// harmless.
		require.NoError(t, fromFiles.Close())
		require.NoError(t, fromFiles.Close())
		assert.Nil(t, fromFiles.C())
		_, err = b.NewBufferEventOpenSSL(-1, fromFiles, 0)
		assert.ErrorIs(t, err, ErrClosed)
		_, err = b.NewBufferEventOpenSSL(-1, nil, 0)
		assert.ErrorIs(t, err, ErrInvalid)

		// TLS methods on a bufferevent without TLS fail cleanly.
		plain, err := b.NewBufferEvent(-1, 0)
		require.NoError(t, err)
		assert.ErrorIs(t, plain.SetAllowDirtyShutdown(true), ErrInvalid)
		_, err = plain.TLSPeerCertificate()
		assert.ErrorIs(t, err, ErrInvalid)
		require.NoError(t, plain.Close())

		// So do they after Close.
		bev, err := b.NewBufferEventOpenSSL(-1, clientConfig(t, p, "localhost"), BEVOptCloseOnFree)
		require.NoError(t, err)
		require.NoError(t, bev.Close())
		_, err = bev.TLSVersion()
		assert.ErrorIs(t, err, ErrClosed)
		assert.True(t, errors.Is(bev.SetAllowDirtyShutdown(true), ErrClosed))
	})
}
