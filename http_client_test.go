//go:build cgo

package libevent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDeadline bounds each client call in these tests, so that a hang
// fails the test instead of stalling the run. It is a guard, not a
// measurement.
const testDeadline = 30 * time.Second

// goHTTPServer is a net/http server on loopback that counts the TCP
// connections it accepts.
type goHTTPServer struct {
	host  string // IP literal, such as "127.0.0.1"
	port  int
	url   string
	conns atomic.Int32
}

func startGoHTTPServer(t *testing.T, network, address string, handler http.Handler) *goHTTPServer {
	t.Helper()
	ln, err := net.Listen(network, address)
	require.NoError(t, err)
	tcp := ln.Addr().(*net.TCPAddr)
	s := &goHTTPServer{host: tcp.IP.String(), port: tcp.Port}
	s.url = "http://" + tcp.String()
	srv := &http.Server{
		Handler: handler,
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				s.conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// newClientBase returns a base for bk whose loop runs until the test ends.
func newClientBase(t *testing.T, bk backend) *Base {
	t.Helper()
	b := newBase(t, bk)
	runLoopUntilCleanup(t, b)
	return b
}

func newHTTPConnection(t *testing.T, b *Base, host string, port int) *HTTPConnection {
	t.Helper()
	c, err := NewHTTPConnection(b, host, port)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func doRequest(t *testing.T, c *HTTPConnection, method, target string, body []byte) (*HTTPResponse, error) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, reader)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	return c.Do(ctx, req)
}

// closedPort returns a loopback port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

func TestHTTPClientGet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("X-Multi", "one")
			w.Header().Add("X-Multi", "two")
			w.Header().Set("X-Host", r.Host)
			w.Header().Set("X-Custom", r.Header.Get("X-Custom"))
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)

		req, err := http.NewRequest(http.MethodGet, "/path?q=1&r=a+b", nil)
		require.NoError(t, err)
		req.Header.Set("X-Custom", "sent")
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		resp, err := c.Do(ctx, req)
		require.NoError(t, err)

		assert.Equal(t, http.StatusCreated, resp.StatusCode)
		assert.Equal(t, "Created", resp.Reason)
		assert.Equal(t, []string{"one", "two"}, resp.Header.Values("X-Multi"))
		assert.Equal(t, "sent", resp.Header.Get("X-Custom"))
		// A request without a Host gets the connection's address.
		assert.Equal(t, fmt.Sprintf("127.0.0.1:%d", srv.port), resp.Header.Get("X-Host"))
		assert.Equal(t, "GET /path?q=1&r=a+b", string(resp.Body))
	})
}

func TestHTTPClientStatusCodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
			if code == http.StatusMovedPermanently {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(code)
			if code != http.StatusNoContent && code != http.StatusNotModified {
				fmt.Fprintf(w, "code %d", code)
			}
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)
		for _, code := range []int{200, 204, 301, 304, 400, 404, 500, 503} {
			resp, err := doRequest(t, c, http.MethodGet, "/"+strconv.Itoa(code), nil)
			require.NoError(t, err, "status %d", code)
			assert.Equal(t, code, resp.StatusCode)
			assert.Equal(t, http.StatusText(code), resp.Reason)
			if code == http.StatusNoContent || code == http.StatusNotModified {
				assert.Empty(t, resp.Body, "status %d", code)
			} else {
				assert.Equal(t, fmt.Sprintf("code %d", code), string(resp.Body))
			}
		}
		// The client follows no redirect.
		resp, err := doRequest(t, c, http.MethodGet, "/301", nil)
		require.NoError(t, err)
		assert.Equal(t, "/elsewhere", resp.Header.Get("Location"))
	})
}

func TestHTTPClientMethodsAndBodies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Content-Length", strconv.FormatInt(r.ContentLength, 10))
			fmt.Fprintf(w, "%s:%s", r.Method, body)
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)
		for _, method := range []string{"POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			payload := []byte("payload for " + method)
			resp, err := doRequest(t, c, method, "/", payload)
			require.NoError(t, err, method)
			assert.Equal(t, method+":"+string(payload), string(resp.Body))
			assert.Equal(t, strconv.Itoa(len(payload)), resp.Header.Get("X-Content-Length"), method)
		}

		resp, err := doRequest(t, c, http.MethodHead, "/", nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, resp.Body)
	})
}

func TestHTTPClientLargeBodies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sum := sha256.New()
			n, _ := io.Copy(sum, r.Body)
			w.Header().Set("X-Received", fmt.Sprintf("%d %x", n, sum.Sum(nil)))
			size, _ := strconv.Atoi(r.URL.Query().Get("size"))
			w.Write(responsePattern(size))
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)

		upload := responsePattern(3<<20 + 17)
		const size = 8<<20 + 5
		resp, err := doRequest(t, c, http.MethodPost, "/?size="+strconv.Itoa(size), upload)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%d %x", len(upload), sha256.Sum256(upload)), resp.Header.Get("X-Received"))
		require.Len(t, resp.Body, size)
		assert.True(t, bytes.Equal(responsePattern(size), resp.Body), "the response body differs")
	})
}

// responsePattern returns n bytes that do not repeat with a short period.
func responsePattern(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(i*7 + i/251)
	}
	return out
}

func TestHTTPClientChunkedResponse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		const pieces = 20
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			flusher := w.(http.Flusher)
			for i := range pieces {
				fmt.Fprintf(w, "piece %02d;", i)
				flusher.Flush()
			}
		}))
		b := newClientBase(t, bk)
		c := newHTTPConnection(t, b, srv.host, srv.port)
		var want strings.Builder
		for i := range pieces {
			fmt.Fprintf(&want, "piece %02d;", i)
		}

		// Do collects the chunked body whole.
		resp, err := doRequest(t, c, http.MethodGet, "/", nil)
		require.NoError(t, err)
		assert.Equal(t, "chunked", resp.Header.Get("Transfer-Encoding"))
		assert.Equal(t, want.String(), string(resp.Body))

		// OnChunk receives it in pieces, on the loop's goroutine.
		var got bytes.Buffer
		var chunks int
		var onLoop atomic.Bool
		onLoop.Store(true)
		done := make(chan error, 1)
		req, err := http.NewRequest(http.MethodGet, "/", nil)
		require.NoError(t, err)
		_, err = c.Start(req, HTTPCallOptions{
			OnChunk: func(data []byte) {
				if !b.onLoopThread() {
					onLoop.Store(false)
				}
				chunks++
				got.Write(data)
			},
			OnDone: func(resp *HTTPResponse, err error) {
				if err == nil {
					assert.Equal(t, http.StatusOK, resp.StatusCode)
					assert.Empty(t, resp.Body)
				}
				done <- err
			},
		})
		require.NoError(t, err)
		require.NoError(t, waitResult(t, done))
		assert.Equal(t, want.String(), got.String())
		assert.GreaterOrEqual(t, chunks, 1)
		assert.True(t, onLoop.Load(), "OnChunk ran off the loop's thread")
	})
}

func waitResult[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testDeadline):
		t.Fatal("no result before the test deadline")
	}
	var zero T
	return zero
}

func TestHTTPClientOnResponseRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen", "yes")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "abcdef")
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)

		var keptRequest *HTTPRequest
		type seen struct {
			code   int
			reason string
			header string
			first  []byte
		}
		results := make(chan seen, 1)
		done := make(chan *HTTPResponse, 1)
		req, err := http.NewRequest(http.MethodGet, "/", nil)
		require.NoError(t, err)
		_, err = c.Start(req, HTTPCallOptions{
			OnResponse: func(r *HTTPRequest) {
				keptRequest = r
				first := make([]byte, 3)
				n, _ := r.InputBuffer().Read(first)
				results <- seen{r.ResponseCode(), r.ResponseReason(), r.InputHeaders().Get("X-Seen"), first[:n]}
			},
			OnDone: func(resp *HTTPResponse, err error) {
				assert.NoError(t, err)
				done <- resp
			},
		})
		require.NoError(t, err)
		s := waitResult(t, results)
		resp := waitResult(t, done)

		assert.Equal(t, http.StatusAccepted, s.code)
		assert.Equal(t, "Accepted", s.reason)
		assert.Equal(t, "yes", s.header)
		assert.Equal(t, "abc", string(s.first))
		// What OnResponse read is gone from the body.
		assert.Equal(t, "def", string(resp.Body))
		// The HTTPRequest is unusable once libevent has freed it.
		assert.Equal(t, 0, keptRequest.ResponseCode())
	})
}

func TestHTTPClientKeepAliveReuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)
		const requests = 6
		var firstLocal net.Addr
		for i := range requests {
			resp, err := doRequest(t, c, http.MethodGet, "/r"+strconv.Itoa(i), nil)
			require.NoError(t, err)
			assert.Equal(t, "/r"+strconv.Itoa(i), string(resp.Body))
			local, err := c.LocalAddr()
			require.NoError(t, err)
			if firstLocal == nil {
				firstLocal = local
			}
			assert.Equal(t, firstLocal, local, "request %d used another socket", i)
		}
		assert.Equal(t, int32(1), srv.conns.Load(), "the server saw more than one connection")
	})
}

func TestHTTPClientConcurrentStartsShareConnection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)
		// libevent queues the requests and sends them one at a time.
		const goroutines, each = 4, 5
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					path := fmt.Sprintf("/g%d/%d", g, i)
					resp, err := doRequest(t, c, http.MethodGet, path, nil)
					if assert.NoError(t, err) {
						assert.Equal(t, path, string(resp.Body))
					}
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int32(1), srv.conns.Load())
	})
}

// silentServer accepts connections and reads from them, but never responds.
// It counts the connections it accepts and the requests' first bytes.
type silentServer struct {
	port     int
	accepted atomic.Int32
	readSome chan struct{}
}

func startSilentServer(t *testing.T) *silentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &silentServer{port: ln.Addr().(*net.TCPAddr).Port, readSome: make(chan struct{}, 16)}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			go func() {
				buf := make([]byte, 4096)
				if n, _ := conn.Read(buf); n > 0 {
					s.readSome <- struct{}{}
				}
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, conn := range conns {
			conn.Close()
		}
		mu.Unlock()
	})
	return s
}

func TestHTTPClientTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startSilentServer(t)
		c := newHTTPConnection(t, newClientBase(t, bk), "127.0.0.1", srv.port)
		require.NoError(t, c.SetTimeout(200*time.Millisecond))

		resp, err := doRequest(t, c, http.MethodGet, "/", nil)
		assert.Nil(t, resp)
		require.ErrorIs(t, err, HTTPErrTimeout)
		var timeout interface{ Timeout() bool }
		require.ErrorAs(t, err, &timeout)
		assert.True(t, timeout.Timeout())
		assert.Equal(t, int32(1), srv.accepted.Load())
	})
}

func TestHTTPClientConnectRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c := newHTTPConnection(t, newClientBase(t, bk), "127.0.0.1", closedPort(t))
		resp, err := doRequest(t, c, http.MethodGet, "/", nil)
		assert.Nil(t, resp)
		require.ErrorIs(t, err, ErrConnectFailed)
		assert.Contains(t, err.Error(), "evhttp_make_request")
	})
}

func TestHTTPClientRetriesUntilServerListens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		port := closedPort(t)
		c := newHTTPConnection(t, newClientBase(t, bk), "127.0.0.1", port)
		require.NoError(t, c.SetRetries(-1))
		require.NoError(t, c.SetInitialRetryDelay(20*time.Millisecond))

		result := make(chan error, 1)
		go func() {
			resp, err := doRequest(t, c, http.MethodGet, "/late", nil)
			if err == nil && string(resp.Body) != "/late" {
				err = fmt.Errorf("unexpected body %q", resp.Body)
			}
			result <- err
		}()
		// The first attempt has failed by now or fails soon; either way
		// the server appears while the client retries.
		time.Sleep(50 * time.Millisecond)
		startGoHTTPServer(t, "tcp", "127.0.0.1:"+strconv.Itoa(port), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}))
		require.NoError(t, waitResult(t, result))
	})
}

func TestHTTPClientConnectionReset(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			conn.Read(buf)
			// A zero linger makes Close send a reset.
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}()
		c := newHTTPConnection(t, newClientBase(t, bk), "127.0.0.1", ln.Addr().(*net.TCPAddr).Port)
		_, err = doRequest(t, c, http.MethodGet, "/", nil)
		require.ErrorIs(t, err, HTTPErrEOF)
		assert.ErrorIs(t, err, syscall.ECONNRESET)
	})
}

func TestHTTPClientMaxSizes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Padding", strings.Repeat("p", 400))
			w.Write(make([]byte, 1000))
		}))
		b := newClientBase(t, bk)

		c := newHTTPConnection(t, b, srv.host, srv.port)
		require.NoError(t, c.SetMaxBodySize(999))
		_, err := doRequest(t, c, http.MethodGet, "/", nil)
		assert.ErrorIs(t, err, HTTPErrDataTooLong)

		require.NoError(t, c.SetMaxBodySize(1000))
		resp, err := doRequest(t, c, http.MethodGet, "/", nil)
		require.NoError(t, err)
		assert.Len(t, resp.Body, 1000)

		// libevent 2.1.12 reports headers over the limit as invalid.
		small := newHTTPConnection(t, b, srv.host, srv.port)
		require.NoError(t, small.SetMaxHeadersSize(200))
		_, err = doRequest(t, small, http.MethodGet, "/", nil)
		assert.ErrorIs(t, err, HTTPErrInvalidHeader)

		require.NoError(t, small.SetMaxHeadersSize(-1))
		_, err = doRequest(t, small, http.MethodGet, "/", nil)
		assert.NoError(t, err)
	})
}

func TestHTTPClientCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		release := make(chan struct{})
		received := make(chan struct{}, 1)
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/block" {
				received <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			io.WriteString(w, "fast")
		}))
		defer close(release)
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)

		done := make(chan error, 1)
		req, err := http.NewRequest(http.MethodGet, "/block", nil)
		require.NoError(t, err)
		call, err := c.Start(req, HTTPCallOptions{OnDone: func(resp *HTTPResponse, err error) {
			assert.Nil(t, resp)
			done <- err
		}})
		require.NoError(t, err)
		waitResult(t, received)
		require.NoError(t, call.Cancel())
		assert.ErrorIs(t, waitResult(t, done), HTTPErrCanceled)
		// A second Cancel finds the call finished.
		require.NoError(t, call.Cancel())

		// libevent reset the connection; the next request reconnects.
		resp, err := doRequest(t, c, http.MethodGet, "/fast", nil)
		require.NoError(t, err)
		assert.Equal(t, "fast", string(resp.Body))
		assert.Equal(t, int32(2), srv.conns.Load())
	})
}

func TestHTTPClientDoContextCanceled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startSilentServer(t)
		c := newHTTPConnection(t, newClientBase(t, bk), "127.0.0.1", srv.port)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-srv.readSome
			cancel()
		}()
		req, err := http.NewRequest(http.MethodGet, "/", nil)
		require.NoError(t, err)
		resp, err := c.Do(ctx, req)
		assert.Nil(t, resp)
		require.ErrorIs(t, err, context.Canceled)

		// An ended context fails at once.
		_, err = c.Do(ctx, req)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestHTTPClientIPv6(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		ln, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("IPv6 loopback unavailable: %v", err)
		}
		ln.Close()
		srv := startGoHTTPServer(t, "tcp", "[::1]:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Host)
		}))
		b := newClientBase(t, bk)
		for _, host := range []string{"[::1]", "::1"} {
			c := newHTTPConnection(t, b, host, srv.port)
			resp, err := doRequest(t, c, http.MethodGet, "/", nil)
			require.NoError(t, err, host)
			assert.Equal(t, fmt.Sprintf("[::1]:%d", srv.port), string(resp.Body), host)
			peer, port, err := c.Peer()
			require.NoError(t, err)
			assert.Equal(t, "::1", peer)
			assert.Equal(t, srv.port, port)
		}
	})
}

func TestHTTPConnectionLocalAddress(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		remotes := make(chan string, 1)
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			remotes <- r.RemoteAddr
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)
		localPort := closedPort(t)
		require.NoError(t, c.SetLocalAddress("127.0.0.1"))
		require.NoError(t, c.SetLocalPort(localPort))

		_, err := doRequest(t, c, http.MethodGet, "/", nil)
		require.NoError(t, err)
		want := net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort))
		assert.Equal(t, want, waitResult(t, remotes))
		local, err := c.LocalAddr()
		require.NoError(t, err)
		assert.Equal(t, want, local.String())

		// libevent would abort on a change while the socket is open.
		assert.Error(t, c.SetLocalAddress("127.0.0.1"))
		assert.Error(t, c.SetLocalPort(0))
	})
}

func TestHTTPConnectionCloseCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}))
		b := newClientBase(t, bk)
		c := newHTTPConnection(t, b, srv.host, srv.port)
		closed := make(chan *HTTPConnection, 4)
		require.NoError(t, c.SetCloseCallback(func(conn *HTTPConnection) {
			assert.True(t, b.onLoopThread())
			closed <- conn
		}))

		resp, err := doRequest(t, c, http.MethodGet, "/", nil)
		require.NoError(t, err)
		assert.Equal(t, "bye", string(resp.Body))
		assert.Same(t, c, waitResult(t, closed))

		// The connection reconnects for the next request.
		_, err = doRequest(t, c, http.MethodGet, "/", nil)
		require.NoError(t, err)
		assert.Equal(t, int32(2), srv.conns.Load())
	})
}

func TestHTTPConnectionCloseFailsPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startSilentServer(t)
		b := newClientBase(t, bk)
		c, err := NewHTTPConnection(b, "127.0.0.1", srv.port)
		require.NoError(t, err)

		done := make(chan error, 2)
		var offLoop atomic.Int32
		for range 2 {
			req, err := http.NewRequest(http.MethodGet, "/", nil)
			require.NoError(t, err)
			_, err = c.Start(req, HTTPCallOptions{OnDone: func(_ *HTTPResponse, err error) {
				if !b.onLoopThread() {
					offLoop.Add(1)
				}
				done <- err
			}})
			require.NoError(t, err)
		}
		waitResult(t, srv.readSome)
		require.NoError(t, c.Close())
		assert.ErrorIs(t, waitResult(t, done), ErrClosed)
		assert.ErrorIs(t, waitResult(t, done), ErrClosed)
		assert.Zero(t, offLoop.Load(), "OnDone ran off the loop's goroutine")
		require.NoError(t, c.Close())

		req, err := http.NewRequest(http.MethodGet, "/", nil)
		require.NoError(t, err)
		_, err = c.Start(req, HTTPCallOptions{OnDone: func(*HTTPResponse, error) {}})
		assert.ErrorIs(t, err, ErrClosed)
		assert.ErrorIs(t, c.SetTimeout(time.Second), ErrClosed)
		_, _, err = c.Peer()
		assert.ErrorIs(t, err, ErrClosed)
	})
}

func TestHTTPConnectionClosedWithBase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startSilentServer(t)
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		loopDone := make(chan error, 1)
		go func() { loopDone <- b.Run(ctx) }()
		defer cancel()

		c, err := NewHTTPConnection(b, "127.0.0.1", srv.port)
		require.NoError(t, err)
		done := make(chan error, 1)
		req, err := http.NewRequest(http.MethodGet, "/", nil)
		require.NoError(t, err)
		_, err = c.Start(req, HTTPCallOptions{OnDone: func(_ *HTTPResponse, err error) { done <- err }})
		require.NoError(t, err)
		waitResult(t, srv.readSome)

		require.NoError(t, b.Close())
		assert.ErrorIs(t, waitResult(t, done), ErrClosed)
		assert.ErrorIs(t, waitResult(t, loopDone), ErrClosed)
		assert.NoError(t, c.Close())
	})
}

func TestHTTPConnectionCloseInCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}))
		b := newClientBase(t, bk)
		c, err := NewHTTPConnection(b, srv.host, srv.port)
		require.NoError(t, err)
		done := make(chan error, 1)
		req, err := http.NewRequest(http.MethodGet, "/", nil)
		require.NoError(t, err)
		_, err = c.Start(req, HTTPCallOptions{OnDone: func(_ *HTTPResponse, err error) {
			c.Close()
			done <- err
		}})
		require.NoError(t, err)
		require.NoError(t, waitResult(t, done))
		_, err = doRequest(t, c, http.MethodGet, "/", nil)
		assert.ErrorIs(t, err, ErrClosed)
	})
}

func TestHTTPConnectionRejectsBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		for _, host := range []string{"localhost", "example.com", "", "[127.0.0.1]", "::1]", "[::1", "fe80::1%lo", "1.2.3"} {
			c, err := NewHTTPConnection(b, host, 80)
			assert.Nil(t, c, host)
			assert.ErrorIs(t, err, ErrInvalid, host)
		}
		_, err := NewHTTPConnection(b, "localhost", 80)
		assert.ErrorContains(t, err, "DNS resolver")
		for _, port := range []int{0, -1, 65536} {
			_, err := NewHTTPConnection(b, "127.0.0.1", port)
			assert.ErrorIs(t, err, ErrInvalid, "port %d", port)
		}

		c := newHTTPConnection(t, b, "127.0.0.1", 9)
		assert.ErrorIs(t, c.SetTimeout(0), ErrInvalid)
		assert.ErrorIs(t, c.SetInitialRetryDelay(-time.Second), ErrInvalid)
		assert.ErrorIs(t, c.SetRetries(-2), ErrInvalid)
		assert.ErrorIs(t, c.SetLocalAddress("localhost"), ErrInvalid)
		assert.ErrorIs(t, c.SetLocalPort(70000), ErrInvalid)

		bad := func(mutate func(r *http.Request)) error {
			req, err := http.NewRequest(http.MethodGet, "/", nil)
			require.NoError(t, err)
			mutate(req)
			_, err = c.Start(req, HTTPCallOptions{OnDone: func(*HTTPResponse, error) {}})
			return err
		}
		assert.ErrorIs(t, bad(func(r *http.Request) { r.Method = "BREW" }), ErrInvalid)
		assert.ErrorIs(t, bad(func(r *http.Request) { r.Header.Set("X-Bad", "a\r\nInjected: 1") }), ErrInvalid)
		assert.ErrorIs(t, bad(func(r *http.Request) { r.Header["X\nBad"] = []string{"v"} }), ErrInvalid)
		assert.ErrorIs(t, bad(func(r *http.Request) { r.Host = "h\x00" }), ErrInvalid)
		_, err = c.Start(nil, HTTPCallOptions{OnDone: func(*HTTPResponse, error) {}})
		assert.ErrorIs(t, err, ErrInvalid)
		req, err := http.NewRequest(http.MethodGet, "/", nil)
		require.NoError(t, err)
		_, err = c.Start(req, HTTPCallOptions{})
		assert.ErrorIs(t, err, ErrInvalid)

		var zero HTTPConnection
		assert.ErrorIs(t, zero.SetTimeout(time.Second), ErrInvalid)
		assert.NoError(t, zero.Close())
	})
}

func TestHTTPClientDoAndGet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.RequestURI(), r.Host, body)
		}))
		client, err := NewHTTPClient(newClientBase(t, bk))
		require.NoError(t, err)
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()

		resp, err := client.Get(ctx, srv.url+"/get?x=1")
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("GET /get?x=1 127.0.0.1:%d ", srv.port), string(resp.Body))

		req, err := http.NewRequest(http.MethodPost, srv.url+"/post", strings.NewReader("data"))
		require.NoError(t, err)
		req.Host = "virtual.test"
		resp, err = client.Do(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, "POST /post virtual.test data", string(resp.Body))

		// Goroutines share the client and its one connection.
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					path := fmt.Sprintf("/g%d-%d", g, i)
					resp, err := client.Get(ctx, srv.url+path)
					if assert.NoError(t, err) {
						assert.Equal(t, fmt.Sprintf("GET %s 127.0.0.1:%d ", path, srv.port), string(resp.Body))
					}
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int32(1), srv.conns.Load())

		_, err = client.Get(ctx, "https://127.0.0.1/")
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = client.Get(ctx, "http://localhost/")
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = client.Get(ctx, "http://127.0.0.1:0/")
		assert.ErrorIs(t, err, ErrInvalid)

		require.NoError(t, client.Close())
		require.NoError(t, client.Close())
		_, err = client.Get(ctx, srv.url)
		assert.ErrorIs(t, err, ErrClosed)
	})
}

func TestHTTPClientDoOnLoopRejected(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newClientBase(t, bk)
		c := newHTTPConnection(t, b, "127.0.0.1", 9)
		result := make(chan error, 1)
		require.NoError(t, b.Post(func() {
			req, _ := http.NewRequest(http.MethodGet, "/", nil)
			_, err := c.Do(context.Background(), req)
			result <- err
		}))
		assert.ErrorIs(t, waitResult(t, result), ErrInvalid)
	})
}

func TestHTTPClientStartFromCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startGoHTTPServer(t, "tcp", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		}))
		c := newHTTPConnection(t, newClientBase(t, bk), srv.host, srv.port)
		// Each OnDone starts the next request, on the loop's goroutine.
		bodies := make(chan string, 3)
		errs := make(chan error, 1)
		var start func(n int)
		start = func(n int) {
			req, _ := http.NewRequest(http.MethodGet, "/"+strconv.Itoa(n), nil)
			_, err := c.Start(req, HTTPCallOptions{OnDone: func(resp *HTTPResponse, err error) {
				if err != nil {
					errs <- err
					return
				}
				bodies <- string(resp.Body)
				if n < 3 {
					start(n + 1)
				}
			}})
			if err != nil {
				errs <- err
			}
		}
		start(1)
		for n := 1; n <= 3; n++ {
			select {
			case body := <-bodies:
				assert.Equal(t, "/"+strconv.Itoa(n), body)
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(testDeadline):
				t.Fatal("no response before the test deadline")
			}
		}
	})
}

// startPythonHTTPServer runs Python's http.server on 127.0.0.1, serving
// dir, until the test ends, and returns its port.
func startPythonHTTPServer(t *testing.T, dir string) int {
	t.Helper()
	path, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is missing; make test installs it (setup.sh --test-tools)")
	cmd := exec.Command(path, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, "0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	// It prints "Serving HTTP on 127.0.0.1 port N (http://...) ..." first.
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, stdout)
	}()
	line := waitResult(t, lines)
	fields := strings.Fields(line)
	for i, field := range fields {
		if field == "port" && i+1 < len(fields) {
			port, err := strconv.Atoi(fields[i+1])
			require.NoError(t, err, "python's first line: %q", line)
			return port
		}
	}
	t.Fatalf("no port in python's first line %q", line)
	return 0
}

func TestHTTPClientPythonServer(t *testing.T) {
	dir := t.TempDir()
	content := responsePattern(300 << 10)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.bin"), content, 0o644))
	port := startPythonHTTPServer(t, dir)

	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newClientBase(t, bk)
		// http.server responds with HTTP/1.0 and closes each connection,
		// and libevent may not notice the close before it sends the next
		// request (see HTTPConnection), so each request gets its own.
		get := func(method, target string) *HTTPResponse {
			c := newHTTPConnection(t, b, "127.0.0.1", port)
			resp, err := doRequest(t, c, method, target, nil)
			require.NoError(t, err, "%s %s", method, target)
			return resp
		}

		resp := get(http.MethodGet, "/data.bin")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, strconv.Itoa(len(content)), resp.Header.Get("Content-Length"))
		assert.True(t, bytes.Equal(content, resp.Body), "python served %d bytes, not the file's %d", len(resp.Body), len(content))

		resp = get(http.MethodHead, "/data.bin")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, strconv.Itoa(len(content)), resp.Header.Get("Content-Length"))
		assert.Empty(t, resp.Body)

		resp = get(http.MethodGet, "/")
		assert.Contains(t, string(resp.Body), "data.bin")

		resp = get(http.MethodGet, "/missing")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}
