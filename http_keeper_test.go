//go:build cgo

package libevent

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keeperConn is a raw client connection to a test server.
type keeperConn struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func dialKeeper(t *testing.T, addr string) *keeperConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	return &keeperConn{t: t, c: c, rd: bufio.NewReader(c)}
}

func (k *keeperConn) send(raw string) {
	k.t.Helper()
	_, err := io.WriteString(k.c, raw)
	require.NoError(k.t, err)
}

// reply reads one response to a GET and returns its status and body.
func (k *keeperConn) reply() (int, string) {
	k.t.Helper()
	resp, err := http.ReadResponse(k.rd, &http.Request{Method: "GET"})
	require.NoError(k.t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(k.t, err)
	return resp.StatusCode, string(body)
}

// get sends a keep-alive GET for path and checks that it gets body.
func (k *keeperConn) get(path, body string) {
	k.t.Helper()
	k.send("GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n")
	code, got := k.reply()
	assert.Equal(k.t, http.StatusOK, code, path)
	assert.Equal(k.t, body, got, path)
}

// waitClosed reads until the server closes the connection.
func (k *keeperConn) waitClosed() {
	k.t.Helper()
	_, err := io.Copy(io.Discard, k.rd)
	require.NoError(k.t, err, "the server did not close the connection")
}

// keepersPerConn returns 1 on the backends where the package's servers add
// keepers (epoll, with and without the changelist) and 0 on the others.
func keepersPerConn(bk backend) int64 {
	if bk.config.Method == "epoll" {
		return 1
	}
	return 0
}

// waitKeepers waits until want connections have a keeper.
func waitKeepers(t *testing.T, want int64, what string) {
	t.Helper()
	require.Eventually(t, func() bool { return httpKeepersLive() == want },
		30*time.Second, time.Millisecond,
		"%s: %d keepers, want %d", what, httpKeepersLive(), want)
}

func TestHTTPKeeperReleasedOnClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := httpKeepersLive()
		keepers := keepersPerConn(bk)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(goReply("ok")))
			require.NoError(t, s.SetTimeout(300*time.Millisecond))
			require.NoError(t, s.SetMaxBodyBytes(16))
		})

		cases := []struct {
			name  string
			close func(k *keeperConn)
		}{
			{"client closes", func(k *keeperConn) { k.c.Close() }},
			{"client resets", func(k *keeperConn) {
				require.NoError(k.t, k.c.(*net.TCPConn).SetLinger(0))
				k.c.Close()
			}},
			{"Connection: close", func(k *keeperConn) {
				k.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
				code, _ := k.reply()
				assert.Equal(k.t, http.StatusOK, code)
				k.waitClosed()
			}},
			{"HTTP/1.0", func(k *keeperConn) {
				k.send("GET / HTTP/1.0\r\n\r\n")
				code, _ := k.reply()
				assert.Equal(k.t, http.StatusOK, code)
				k.waitClosed()
			}},
			{"idle timeout", func(k *keeperConn) { k.waitClosed() }},
			{"malformed request", func(k *keeperConn) {
				k.send("NOT A REQUEST LINE\r\n\r\n")
				code, _ := k.reply()
				assert.Equal(k.t, http.StatusBadRequest, code)
				k.waitClosed()
			}},
			{"body too large", func(k *keeperConn) {
				k.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 64\r\n\r\n" +
					strings.Repeat("x", 64))
				code, _ := k.reply()
				assert.Equal(k.t, http.StatusRequestEntityTooLarge, code)
				k.waitClosed()
			}},
		}
		for _, tc := range cases {
			k := dialKeeper(t, hs.addr)
			k.get("/", "ok")
			k.get("/", "ok")
			waitKeepers(t, before+keepers, tc.name+", open")
			tc.close(k)
			waitKeepers(t, before, tc.name+", closed")
		}

		// A keeper left behind would keep libevent from registering the
		// next socket with the same descriptor number, and that
		// connection would never be served.
		for i := 0; i < 20; i++ {
			k := dialKeeper(t, hs.addr)
			k.get("/", "ok")
			k.get("/", "ok")
			k.c.Close()
			waitKeepers(t, before, fmt.Sprintf("connection %d", i))
		}

		// Closing the server frees its open connections and their keepers.
		other, err := NewHTTPServer(hs.base)
		require.NoError(t, err)
		require.NoError(t, other.HandleDefault(goReply("other")))
		addr, err := other.Bind("127.0.0.1:0")
		require.NoError(t, err)
		k := dialKeeper(t, addr.String())
		k.get("/", "other")
		waitKeepers(t, before+keepers, "server open")
		require.NoError(t, other.Close())
		waitKeepers(t, before, "server closed")
		k.waitClosed()
	})
}

func TestHTTPKeeperDeferredReplyPipelined(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		pending := make(chan *HTTPRequest, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/slow", func(r *HTTPRequest) { pending <- r }))
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				assert.NoError(t, r.SendReply(http.StatusOK, "", []byte(r.URI())))
			}))
		})
		k := dialKeeper(t, hs.addr)
		k.get("/first", "/first")
		k.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
		var slow *HTTPRequest
		select {
		case slow = <-pending:
		case <-time.After(30 * time.Second):
			t.Fatal("the /slow request did not reach its handler")
		}

		// evhttp reads no more while /slow waits for its reply, so the
		// next request stays in the socket and the descriptor stays
		// readable. The keeper must step aside instead of running on
		// every pass of the loop.
		passes := httpKeeperPasses()
		k.send("GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
		time.Sleep(200 * time.Millisecond)
		ran := httpKeeperPasses() - passes
		if keepersPerConn(bk) == 0 {
			assert.Zero(t, ran, "keeper passes on a backend without keepers")
		} else {
			assert.GreaterOrEqual(t, ran, int64(1), "keeper passes while the reply waits")
			assert.LessOrEqual(t, ran, int64(4), "keeper passes while the reply waits")
		}

		require.NoError(t, slow.SendReply(http.StatusOK, "", []byte("slow")))
		code, body := k.reply()
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "slow", body)
		code, body = k.reply()
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "/after", body)

		// The keeper is back once data reached the bufferevent again. The
		// request that brings it back may get its reply before the keeper
		// runs, because replies are written at once (http_direct.c), so
		// the check sends up to ten.
		passes = httpKeeperPasses()
		for i := 0; i < 10 && httpKeeperPasses() == passes; i++ {
			k.get("/again", "/again")
		}
		if keepersPerConn(bk) == 0 {
			assert.Zero(t, httpKeeperPasses()-passes, "keeper passes on a backend without keepers")
		} else {
			assert.GreaterOrEqual(t, httpKeeperPasses()-passes, int64(1), "keeper passes after the reply")
		}
	})
}

func TestHTTPKeeperOnVirtualHost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := httpKeepersLive()
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			vhost, err := s.AddVirtualHost("vhost.test")
			require.NoError(t, err)
			require.NoError(t, vhost.HandleDefault(goReply("from a virtual host")))
		})
		k := dialKeeper(t, hs.addr)
		k.send("GET / HTTP/1.1\r\nHost: vhost.test\r\n\r\n")
		code, body := k.reply()
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "from a virtual host", body)
		waitKeepers(t, before+keepersPerConn(bk), "a connection served by a virtual host")
		k.c.Close()
		waitKeepers(t, before, "closed")
	})
}

func TestHTTPKeeperNotOnWrappedServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b, cs, s := wrapCServer(t, bk)
		require.NoError(t, s.Handle("/go", goReply("from Go")))
		vhost, err := s.AddVirtualHost("vhost.test")
		require.NoError(t, err)
		require.NoError(t, vhost.HandleDefault(goReply("from a virtual host")))
		runLoopUntilCleanup(t, b)

		// C code may set its own close callback on the connections of a
		// server that it owns, so the package adds no keeper there, also
		// through a virtual host that Go added.
		before := httpKeepersLive()
		k := dialKeeper(t, strings.TrimPrefix(cs.url, "http://"))
		k.get("/go", "from Go")
		k.get("/go", "from Go")
		k.send("GET /v HTTP/1.1\r\nHost: vhost.test\r\n\r\n")
		code, body := k.reply()
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "from a virtual host", body)
		assert.Equal(t, before, httpKeepersLive())
	})
}
