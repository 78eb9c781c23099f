package bench

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/golibevent/libevent"
	"golang.org/x/sys/unix"
)

// The TLS benchmarks compare two echo servers on 127.0.0.1 in this
// process: the package's (a listener whose connections are OpenSSL
// bufferevents) and one built on Go's crypto/tls. A crypto/tls client
// drives both. Both servers use the same ECDSA P-256 certificate, TLS 1.3
// and X25519, so that the key exchange costs the same on both sides; Go's
// default hybrid post-quantum exchange is off because OpenSSL 3.0 has none.

// tlsServers are the echo servers of the TLS benchmarks.
var tlsServers = []struct {
	name  string
	start func(b *testing.B, cert tls.Certificate, certPEM, keyPEM []byte) string
}{
	{"pkg", startPkgTLSServer},
	{"gotls", startGoTLSServer},
}

// benchCertificate makes a self-signed P-256 certificate for 127.0.0.1.
func benchCertificate(b *testing.B) (tls.Certificate, []byte, []byte, *x509.CertPool) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bench"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return cert, certPEM, keyPEM, pool
}

// startPkgTLSServer runs the package's TLS echo server on its own base and
// goroutine until the benchmark ends, and returns its address.
func startPkgTLSServer(b *testing.B, _ tls.Certificate, certPEM, keyPEM []byte) string {
	b.Helper()
	cfg, err := libevent.NewTLSServerConfig(libevent.TLSOptions{CertificatePEM: certPEM, KeyPEM: keyPEM})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cfg.Close() })
	base := newBase(b, "epoll", false)
	echo := func(bev *libevent.BufferEvent) {
		bev.Output().AddBuffer(bev.Input())
	}
	closeOnEnd := func(bev *libevent.BufferEvent, what libevent.BEVEvents, _ error) {
		if what&(libevent.BEVEventEOF|libevent.BEVEventError) != 0 {
			bev.Close()
		}
	}
	l, err := base.Listen("tcp4", "127.0.0.1:0", libevent.LEVOptReusable, -1, func(l *libevent.Listener, fd int, _ net.Addr) {
		// Go's sockets have TCP_NODELAY on by default. Without it, the
		// second of two TLS records written back to back waits for the
		// client's delayed ACK, about 40 ms on Linux.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			b.Errorf("TCP_NODELAY: %v", err)
		}
		bev, err := base.NewBufferEventOpenSSL(fd, cfg, libevent.BEVOptCloseOnFree)
		if err != nil {
			b.Errorf("NewBufferEventOpenSSL: %v", err)
			return
		}
		bev.SetCallbacks(echo, nil, closeOnEnd)
		bev.Enable(libevent.EvRead | libevent.EvWrite)
	})
	if err != nil {
		b.Fatal(err)
	}
	addr, err := l.Addr()
	if err != nil {
		b.Fatal(err)
	}
	startLoop(b, base)
	return addr.String()
}

// startGoTLSServer runs a crypto/tls echo server, one goroutine per
// connection, until the benchmark ends, and returns its address.
func startGoTLSServer(b *testing.B, cert tls.Certificate, _, _ []byte) string {
	b.Helper()
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{
		Certificates:     []tls.Certificate{cert},
		CurvePreferences: []tls.CurveID{tls.X25519},
	})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(waitTimeout))
				io.Copy(conn, conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// benchClientConfig is the crypto/tls client setting of both benchmarks.
func benchClientConfig(pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		RootCAs:          pool,
		ServerName:       "127.0.0.1",
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
		// No session resumption: every iteration is a full handshake.
		ClientSessionCache: nil,
	}
}

// BenchmarkTLSHandshake measures full TLS 1.3 handshakes, one connection at
// a time: dial, handshake, one byte echoed so that the server has finished
// its side, close.
func BenchmarkTLSHandshake(b *testing.B) {
	cert, certPEM, keyPEM, pool := benchCertificate(b)
	for _, server := range tlsServers {
		b.Run("server="+server.name, func(b *testing.B) {
			addr := server.start(b, cert, certPEM, keyPEM)
			cfg := benchClientConfig(pool)
			one := []byte{'x'}
			reply := make([]byte, 1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				conn, err := tls.Dial("tcp4", addr, cfg)
				if err != nil {
					b.Fatal(err)
				}
				conn.SetDeadline(time.Now().Add(waitTimeout))
				if _, err := conn.Write(one); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, reply); err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkTLSEcho measures echo throughput over one TLS connection: each
// iteration writes 16 KiB and reads them back.
func BenchmarkTLSEcho(b *testing.B) {
	const chunk = 16 << 10
	cert, certPEM, keyPEM, pool := benchCertificate(b)
	for _, server := range tlsServers {
		b.Run("server="+server.name, func(b *testing.B) {
			addr := server.start(b, cert, certPEM, keyPEM)
			conn, err := tls.Dial("tcp4", addr, benchClientConfig(pool))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * waitTimeout))
			data := bytes.Repeat([]byte("0123456789abcdef"), chunk/16)
			reply := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := conn.Write(data); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, reply); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if !bytes.Equal(data, reply) {
				b.Fatal("the echo differs from what was sent")
			}
		})
	}
}
