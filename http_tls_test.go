//go:build cgo && !libevent_no_openssl

package libevent

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// httpsServer is an HTTPServer that speaks TLS with a test certificate,
// with handlers that report the request and the client's port.
type httpsServer struct {
	*httpServer
	port     string
	requests atomic.Int32
}

// startHTTPSServer starts an HTTPS server on 127.0.0.1 with cert. Its
// "/hello" path replies "hello over TLS", "/peer" replies with the
// client's port, and "/echo" replies with the method and body.
func startHTTPSServer(t *testing.T, bk backend, cert *testCert) *httpsServer {
	t.Helper()
	hs := &httpsServer{}
	cfg := serverConfig(t, cert)
	hs.httpServer = startHTTPServer(t, bk, func(s *HTTPServer) {
		require.NoError(t, s.SetTLS(cfg))
		require.NoError(t, s.Handle("/hello", func(r *HTTPRequest) {
			hs.requests.Add(1)
			assert.NoError(t, r.SendReply(200, "OK", []byte("hello over TLS")))
		}))
		require.NoError(t, s.Handle("/peer", func(r *HTTPRequest) {
			hs.requests.Add(1)
			port := r.RemoteAddr().(*net.TCPAddr).Port
			assert.NoError(t, r.SendReply(200, "OK", []byte(strconv.Itoa(port)+"\n")))
		}))
		require.NoError(t, s.Handle("/close", func(r *HTTPRequest) {
			hs.requests.Add(1)
			assert.NoError(t, r.OutputHeaders().Set("Connection", "close"))
			assert.NoError(t, r.SendReply(200, "OK", []byte("closing")))
		}))
		require.NoError(t, s.Handle("/echo", func(r *HTTPRequest) {
			hs.requests.Add(1)
			body, err := io.ReadAll(r.Body())
			assert.NoError(t, err)
			assert.NoError(t, r.SendReply(200, "OK", []byte(r.Method()+" "+string(body))))
		}))
	})
	hs.url = "https://" + hs.addr
	_, hs.port, _ = net.SplitHostPort(hs.addr)
	return hs
}

// curlExit runs curl with args and returns its exit code and combined
// output; it fails the test only when curl cannot run.
func curlExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	path, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is missing; make test installs it (setup.sh --test-tools)")
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "30"}, args...)...).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	require.NoError(t, err)
	return 0, string(out)
}

// goHTTPSClient returns a net/http client that trusts the test CA.
func goHTTPSClient(t *testing.T, p *testPKI) *http.Client {
	t.Helper()
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: testDeadline}
}

func TestHTTPSServerWithCurl(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPSServer(t, bk, p.server)
		caFile := writePEMFile(t, "ca.pem", p.ca.certPEM)

		out := runPeer(t, nil, "curl", "-sS", "--max-time", "30", "--cacert", caFile, hs.url+"/hello")
		assert.Equal(t, "hello over TLS", string(out))

		// curl checks the name "localhost" against the certificate and
		// sends it as SNI, while --resolve keeps it on 127.0.0.1.
		local := "https://localhost:" + hs.port
		out = runPeer(t, nil, "curl", "-sS", "--max-time", "30", "--cacert", caFile,
			"--resolve", "localhost:"+hs.port+":127.0.0.1", "--data-binary", "a=1", local+"/echo")
		assert.Equal(t, "POST a=1", string(out))

		// Two URLs in one run share one TLS connection.
		out = runPeer(t, nil, "curl", "-sS", "--max-time", "30", "--cacert", caFile, hs.url+"/peer", hs.url+"/peer")
		ports := strings.Fields(string(out))
		require.Len(t, ports, 2)
		assert.Equal(t, ports[0], ports[1], "curl opened two connections")

		// Plain HTTP on the HTTPS port reaches no handler.
		before := hs.requests.Load()
		code, text := curlExit(t, "http://"+hs.addr+"/hello")
		assert.NotZero(t, code, "plain HTTP got an answer: %s", text)
		assert.Equal(t, before, hs.requests.Load())
	})
}

func TestHTTPSServerCurlRejectsBadCertificates(t *testing.T) {
	p := newTestPKI(t)
	cases := []struct {
		name    string
		cert    *testCert
		message string
	}{
		{"expired", p.expired, "expired"},
		{"wrong name", p.wrongName, "127.0.0.1"},
		{"untrusted", p.untrusted, "issuer"},
	}
	forEachBackend(t, func(t *testing.T, bk backend) {
		caFile := writePEMFile(t, "ca.pem", p.ca.certPEM)
		for _, tc := range cases {
			hs := startHTTPSServer(t, bk, tc.cert)
			code, out := curlExit(t, "--cacert", caFile, hs.url+"/hello")
			// 60 is CURLE_PEER_FAILED_VERIFICATION.
			assert.Equal(t, 60, code, "%s: curl output %q", tc.name, out)
			assert.Contains(t, out, tc.message, tc.name)
			assert.Zero(t, hs.requests.Load(), tc.name)
		}
	})
}

func TestHTTPSServerWithGoClient(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPSServer(t, bk, p.server)
		client := goHTTPSClient(t, p)

		var reused []bool
		for i := 0; i < 2; i++ {
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
				http.MethodPost, hs.url+"/echo", strings.NewReader("body "+strconv.Itoa(i)))
			require.NoError(t, err)
			resp, err := client.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, "POST body "+strconv.Itoa(i), string(body))
			require.NotNil(t, resp.TLS)
			assert.True(t, resp.TLS.HandshakeComplete)
			require.NotEmpty(t, resp.TLS.PeerCertificates)
			assert.True(t, resp.TLS.PeerCertificates[0].Equal(p.server.cert))
		}
		assert.Equal(t, []bool{false, true}, reused, "the second request did not reuse the TLS connection")
	})
}

func TestHTTPSServerHTTPHandler(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := serverConfig(t, p.server)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.SetTLS(cfg))
			require.NoError(t, s.HandleHTTPDefault(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
			})))
		})
		// Closing the TLSConfig leaves the server's own reference.
		require.NoError(t, cfg.Close())

		resp, err := goHTTPSClient(t, p).Get("https://" + hs.addr + "/adapter/path")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
		assert.Equal(t, "GET /adapter/path", string(body))
	})
}

func TestHTTPSServerSetTLSSwitches(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPSServer(t, bk, p.server)
		client := goHTTPSClient(t, p)
		resp, err := client.Get(hs.url + "/hello")
		require.NoError(t, err)
		resp.Body.Close()
		client.CloseIdleConnections()

		// A nil config makes new connections plain HTTP again.
		require.NoError(t, hs.server.SetTLS(nil))
		resp, err = http.Get("http://" + hs.addr + "/hello")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "hello over TLS", string(body))

		// SetBufferEventFunc and SetTLS replace each other.
		require.NoError(t, hs.server.SetTLS(serverConfig(t, p.server)))
		require.NoError(t, hs.server.SetBufferEventFunc(nil))
		resp, err = http.Get("http://" + hs.addr + "/hello")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	})
}

func TestHTTPSServerBufferEventFunc(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := serverConfig(t, p.server)
		var made atomic.Int32
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.SetBufferEventFunc(func(b *Base) (*BufferEvent, error) {
				made.Add(1)
				return b.NewBufferEventOpenSSL(-1, cfg, BEVOptCloseOnFree)
			}))
			require.NoError(t, s.Handle("/hello", func(r *HTTPRequest) {
				assert.NoError(t, r.SendReply(200, "OK", []byte("hello from the hook")))
			}))
		})
		// Three connections: each one's SSL is freed by libevent with the
		// connection and by the package's reference after the hand-over.
		for i := 0; i < 3; i++ {
			client := goHTTPSClient(t, p)
			resp, err := client.Get("https://" + hs.addr + "/hello")
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, "hello from the hook", string(body))
			client.CloseIdleConnections()
		}
		assert.Equal(t, int32(3), made.Load())
	})
}

func TestHTTPSServerSetTLSRejectsBadInput(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		s, err := NewHTTPServer(b)
		require.NoError(t, err)
		defer s.Close()

		err = s.SetTLS(clientConfig(t, p, "localhost"))
		assert.ErrorContains(t, err, "NewTLSServerConfig")

		closed := serverConfig(t, p.server)
		require.NoError(t, closed.Close())
		assert.ErrorIs(t, s.SetTLS(closed), ErrClosed)

		vhost, err := s.AddVirtualHost("example.test")
		require.NoError(t, err)
		assert.ErrorContains(t, vhost.SetTLS(serverConfig(t, p.server)), "virtual host")

		require.NoError(t, s.Close())
		assert.ErrorIs(t, s.SetTLS(serverConfig(t, p.server)), ErrClosed)
	})
}

// startGoHTTPSServer runs an httptest TLS server on 127.0.0.1 that replies
// with the method, path, TLS version and body, and counts its connections.
// It returns the server and its certificate in PEM form.
func startGoHTTPSServer(t *testing.T) (*httptest.Server, []byte, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		version := "none"
		if r.TLS != nil {
			version = tls.VersionName(r.TLS.Version)
		}
		fmt.Fprintf(w, "%s %s %s host=%s %s", r.Method, r.URL.Path, version, r.Host, body)
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:"))
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv, certPEM, &conns
}

func TestHTTPSClientAgainstGoServer(t *testing.T) {
	srv, certPEM, conns := startGoHTTPSServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := conns.Load()
		b := newClientBase(t, bk)
		cfg, err := NewTLSClientConfig(TLSOptions{RootCAsPEM: certPEM, ServerName: "127.0.0.1"})
		require.NoError(t, err)
		defer cfg.Close()
		c, err := NewHTTPSConnection(b, "127.0.0.1", port, cfg)
		require.NoError(t, err)
		defer c.Close()

		resp, err := doRequest(t, c, http.MethodGet, "/first", nil)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "GET /first TLS 1.3 host=127.0.0.1:"+strconv.Itoa(port)+" ", string(resp.Body))

		resp, err = doRequest(t, c, http.MethodPost, "/second", []byte("payload"))
		require.NoError(t, err)
		assert.Equal(t, "POST /second TLS 1.3 host=127.0.0.1:"+strconv.Itoa(port)+" payload", string(resp.Body))

		assert.Equal(t, int32(1), conns.Load()-before, "two requests did not share one TLS connection")
		// Without TCP_NODELAY the body of a POST, a TLS record of its own,
		// waited for the server's delayed ACK.
		on, err := c.noDelay()
		require.NoError(t, err)
		assert.True(t, on, "TCP_NODELAY on the client's socket")
	})
}

// tlsFailure returns the *TLSError that err wraps, failing the test when
// there is none.
func tlsFailure(t *testing.T, err error) *TLSError {
	t.Helper()
	require.Error(t, err)
	var tlsErr *TLSError
	require.ErrorAs(t, err, &tlsErr, "error %q wraps no TLSError", err)
	return tlsErr
}

func TestHTTPSClientVerifyFailures(t *testing.T) {
	p := newTestPKI(t)
	serverWith := func(cert *testCert) int {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "should not be reached")
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.tlsCertificate(t)}}
		// Every handshake here fails on purpose, and the server would log
		// each failure.
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().(*net.TCPAddr).Port
	}
	cases := []struct {
		name       string
		cert       *testCert
		serverName string
		verify     int // X509_V_ERR_*
		message    string
	}{
		{"expired", p.expired, "127.0.0.1", 10, "certificate has expired"},
		{"wrong name", p.wrongName, "localhost", 62, "hostname mismatch"},
		{"wrong IP", p.server, "127.0.0.2", 64, "IP address mismatch"},
		{"untrusted", p.untrusted, "localhost", 20, "unable to get local issuer certificate"},
	}
	ports := make([]int, len(cases))
	for i, tc := range cases {
		ports[i] = serverWith(tc.cert)
	}
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newClientBase(t, bk)
		for i, tc := range cases {
			c, err := NewHTTPSConnection(b, "127.0.0.1", ports[i], clientConfig(t, p, tc.serverName))
			require.NoError(t, err)
			resp, err := doRequest(t, c, http.MethodGet, "/", nil)
			assert.Nil(t, resp, tc.name)
			tlsErr := tlsFailure(t, err)
			assert.Equal(t, tc.verify, tlsErr.VerifyResult, "%s: %v", tc.name, err)
			assert.Contains(t, err.Error(), "certificate verification failed: "+tc.message, tc.name)
			assert.Contains(t, err.Error(), "certificate verify failed", tc.name)

			// The next request reports its own failure, not a stale one.
			_, err = doRequest(t, c, http.MethodGet, "/", nil)
			assert.Equal(t, tc.verify, tlsFailure(t, err).VerifyResult, tc.name)
			require.NoError(t, c.Close())
		}
	})
}

func TestHTTPSClientAndServer(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPSServer(t, bk, p.server)
		port, err := strconv.Atoi(hs.port)
		require.NoError(t, err)
		b := newClientBase(t, bk)

		// ServerName "localhost" is verified and becomes the Host header.
		c, err := NewHTTPSConnection(b, "127.0.0.1", port, clientConfig(t, p, "localhost"))
		require.NoError(t, err)
		defer c.Close()
		first, err := doRequest(t, c, http.MethodGet, "/peer", nil)
		require.NoError(t, err)
		second, err := doRequest(t, c, http.MethodGet, "/peer", nil)
		require.NoError(t, err)
		assert.Equal(t, string(first.Body), string(second.Body), "two requests used two connections")
		local, err := c.LocalAddr()
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(local.(*net.TCPAddr).Port)+"\n", string(first.Body))
		assert.Equal(t, "HTTPConnection(127.0.0.1:"+hs.port+")", c.String(), "String names the address, not ServerName")

		// After the server closes the connection, the next request makes a
		// new handshake on a new socket.
		resp, err := doRequest(t, c, http.MethodGet, "/close", nil)
		require.NoError(t, err)
		assert.Equal(t, "closing", string(resp.Body))
		third, err := doRequest(t, c, http.MethodGet, "/peer", nil)
		require.NoError(t, err)
		assert.NotEqual(t, string(first.Body), string(third.Body), "the request after Connection: close used the old socket")
	})
}

func TestHTTPClientDoHTTPS(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPSServer(t, bk, p.server)
		b := newClientBase(t, bk)
		client, err := NewHTTPClient(b)
		require.NoError(t, err)
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()

		_, err = client.Get(ctx, hs.url+"/hello")
		assert.ErrorContains(t, err, "SetTLSConfig")

		require.NoError(t, client.SetTLSConfig(clientConfig(t, p, "127.0.0.1")))
		resp, err := client.Get(ctx, hs.url+"/hello")
		require.NoError(t, err)
		assert.Equal(t, "hello over TLS", string(resp.Body))
		first, err := client.Get(ctx, hs.url+"/peer")
		require.NoError(t, err)
		second, err := client.Get(ctx, hs.url+"/peer")
		require.NoError(t, err)
		assert.Equal(t, string(first.Body), string(second.Body), "the client opened a second TLS connection")

		// The same address over plain HTTP is another connection, and
		// the HTTPS server sends no HTTP reply on it.
		_, err = client.Get(ctx, "http://"+hs.addr+"/hello")
		assert.Error(t, err)

		assert.ErrorContains(t, client.SetTLSConfig(serverConfig(t, p.server)), "NewTLSClientConfig")
	})
}

func TestHTTPSConnectionRejectsBadInput(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		_, err := NewHTTPSConnection(b, "127.0.0.1", 443, serverConfig(t, p.server))
		assert.ErrorContains(t, err, "NewTLSClientConfig")
		_, err = NewHTTPSConnection(b, "127.0.0.1", 443, nil)
		assert.Error(t, err)
		_, err = NewHTTPSConnection(b, "localhost", 443, clientConfig(t, p, "localhost"))
		assert.ErrorContains(t, err, "not an IP literal")
		_, err = NewHTTPSConnection(b, "127.0.0.1", 0, clientConfig(t, p, "localhost"))
		assert.ErrorContains(t, err, "out of range")
		closed := clientConfig(t, p, "localhost")
		require.NoError(t, closed.Close())
		_, err = NewHTTPSConnection(b, "127.0.0.1", 443, closed)
		assert.ErrorIs(t, err, ErrClosed)
	})
}

// TestHTTPSConnectionByName connects by a name that the test's DNS server
// answers, verifies the certificate against ServerName, and does the same
// for https URLs of an HTTPClient with that resolver.
func TestHTTPSConnectionByName(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPSServer(t, bk, p.server)
		port, err := strconv.Atoi(hs.port)
		require.NoError(t, err)
		s := newNameTestSetup(t, bk)

		c, err := NewHTTPSConnectionDNS(s.base, s.dns, "web.test", port, clientConfig(t, p, "localhost"))
		require.NoError(t, err)
		defer c.Close()
		assert.Same(t, s.dns, c.DNSBase())
		assert.Equal(t, "HTTPConnection(web.test:"+hs.port+")", c.String())
		resp, err := doRequest(t, c, http.MethodGet, "/hello", nil)
		require.NoError(t, err)
		assert.Equal(t, "hello over TLS", string(resp.Body))

		// The name resolves, but the certificate is not for ServerName.
		wrongName, err := NewHTTPSConnectionDNS(s.base, s.dns, "web.test", port, clientConfig(t, p, "web.test"))
		require.NoError(t, err)
		defer wrongName.Close()
		_, err = doRequest(t, wrongName, http.MethodGet, "/hello", nil)
		assert.Equal(t, 62, tlsFailure(t, err).VerifyResult, "X509_V_ERR_HOSTNAME_MISMATCH")

		missing, err := NewHTTPSConnectionDNS(s.base, s.dns, "missing.test", port, clientConfig(t, p, "localhost"))
		require.NoError(t, err)
		defer missing.Close()
		_, err = doRequest(t, missing, http.MethodGet, "/hello", nil)
		assert.ErrorIs(t, err, ErrEAINoName)

		client, err := NewHTTPClientDNS(s.base, s.dns)
		require.NoError(t, err)
		defer client.Close()
		require.NoError(t, client.SetTLSConfig(clientConfig(t, p, "localhost")))
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		resp, err = client.Get(ctx, fmt.Sprintf("https://web.test:%d/hello", port))
		require.NoError(t, err)
		assert.Equal(t, "hello over TLS", string(resp.Body))
		assert.Equal(t, int32(2), hs.requests.Load(), "requests that reached the server")

		// Without a ServerName, each connection verifies the host it goes
		// to: the certificate is for 127.0.0.1 and localhost, not web.test.
		noName := clientConfig(t, p, "")
		byIP, err := NewHTTPSConnectionDNS(s.base, s.dns, "127.0.0.1", port, noName)
		require.NoError(t, err)
		defer byIP.Close()
		resp, err = doRequest(t, byIP, http.MethodGet, "/hello", nil)
		require.NoError(t, err)
		assert.Equal(t, "hello over TLS", string(resp.Body))
		byName, err := NewHTTPSConnectionDNS(s.base, s.dns, "web.test", port, noName)
		require.NoError(t, err)
		defer byName.Close()
		_, err = doRequest(t, byName, http.MethodGet, "/hello", nil)
		assert.Equal(t, 62, tlsFailure(t, err).VerifyResult, "X509_V_ERR_HOSTNAME_MISMATCH")

		anyHost, err := NewHTTPClientDNS(s.base, s.dns)
		require.NoError(t, err)
		defer anyHost.Close()
		require.NoError(t, anyHost.SetTLSConfig(noName))
		resp, err = anyHost.Get(ctx, fmt.Sprintf("https://127.0.0.1:%d/hello", port))
		require.NoError(t, err)
		assert.Equal(t, "hello over TLS", string(resp.Body))
		_, err = anyHost.Get(ctx, fmt.Sprintf("https://web.test:%d/hello", port))
		assert.Equal(t, 62, tlsFailure(t, err).VerifyResult, "X509_V_ERR_HOSTNAME_MISMATCH")
		assert.Equal(t, int32(4), hs.requests.Load(), "requests that reached the server")
	})
}

// TestHTTPSChunkedRepliesComplete sends many chunked replies over one
// keep-alive TLS connection, with the chunks and the end from another
// goroutine. libevent 2.1.12's OpenSSL bufferevent defers its write
// callback without checking the output again. So evhttp's own end of a
// chunked reply could take the callback of an earlier chunk for the end of
// the reply, and leave the last chunk unsent.
func TestHTTPSChunkedRepliesComplete(t *testing.T) {
	const replies = 1500
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := serverConfig(t, p.server)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.SetTLS(cfg))
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				assert.NoError(t, r.SendReplyStart(http.StatusOK, ""))
				go func() {
					for i := 0; i < 2; i++ {
						runtime.Gosched()
						assert.NoError(t, r.SendReplyChunk([]byte(fmt.Sprintf("chunk %d\n", i))))
					}
					assert.NoError(t, r.SendReplyEnd())
				}()
			}))
		})
		conn, err := tls.Dial("tcp", hs.addr, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"})
		require.NoError(t, err)
		defer conn.Close()
		rd := bufio.NewReader(conn)
		for i := 0; i < replies; i++ {
			require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
			_, err := io.WriteString(conn, "GET /c HTTP/1.1\r\nHost: t\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(rd, &http.Request{Method: "GET"})
			require.NoError(t, err, "reply %d", i)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err, "the body of reply %d", i)
			require.Equal(t, "chunk 0\nchunk 1\n", string(body), "reply %d", i)
		}
	})
}

// TestHTTPSServerNoDelayOnListener checks that a TLS connection accepted on
// a Listener, which Bind's socket option does not reach, gets TCP_NODELAY
// when its handshake starts.
func TestHTTPSServerNoDelayOnListener(t *testing.T) {
	p := newTestPKI(t)
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		s, err := NewHTTPServer(b)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		require.NoError(t, s.SetTLS(serverConfig(t, p.server)))
		results := make(chan bool, 1)
		require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
			on, err := r.noDelay()
			assert.NoError(t, err)
			results <- on
			assert.NoError(t, r.SendReply(http.StatusOK, "", nil))
		}))
		l, err := b.Listen("tcp", "127.0.0.1:0", LEVOptReusable, -1, nil)
		require.NoError(t, err)
		addr, err := l.Addr()
		require.NoError(t, err)
		require.NoError(t, s.Accept(l))
		runLoopUntilCleanup(t, b)

		resp, err := goHTTPSClient(t, p).Get("https://" + addr.String() + "/")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.True(t, <-results, "TCP_NODELAY on a connection from a Listener")
	})
}
