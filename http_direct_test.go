//go:build cgo

package libevent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// directRepliesSince returns how many replies were written at once since
// before. It waits for a pass of b's loop first: the client can read a
// reply before the shim that wrote it has counted it.
func directRepliesSince(t *testing.T, b *Base, before int64) int64 {
	t.Helper()
	done := make(chan struct{})
	require.NoError(t, b.Post(func() { close(done) }))
	<-done
	return httpDirectReplies() - before
}

func TestHTTPReplyWrittenAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		completed := 0
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				assert.NoError(t, r.OnComplete(func(*HTTPRequest) { completed++ }))
				assert.NoError(t, r.SendReply(http.StatusOK, "", []byte(r.URI())))
			}))
		})
		k := dialKeeper(t, hs.addr)
		before := httpDirectReplies()
		const requests = 20
		for i := 0; i < requests; i++ {
			k.get(fmt.Sprintf("/r%d", i), fmt.Sprintf("/r%d", i))
		}
		assert.Equal(t, int64(requests), directRepliesSince(t, hs.base, before))

		// evhttp still finishes each request from the loop: the completion
		// callbacks ran, and the connection takes pipelined requests.
		k.send("GET /p1 HTTP/1.1\r\nHost: t\r\n\r\nGET /p2 HTTP/1.1\r\nHost: t\r\n\r\n")
		for _, path := range []string{"/p1", "/p2"} {
			code, body := k.reply()
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, path, body)
		}
		// The last completion may still be pending when the reply
		// arrives, so the check reads the count on the loop until it
		// reaches all of them.
		seen := make(chan int, 1)
		deadline := time.Now().Add(30 * time.Second)
		got := 0
		for got < requests+2 && time.Now().Before(deadline) {
			require.NoError(t, hs.base.Post(func() { seen <- completed }))
			got = <-seen
		}
		assert.Equal(t, requests+2, got)
	})
}

func TestHTTPReplyCloseWrittenAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(goReply("last")))
		})
		k := dialKeeper(t, hs.addr)
		before := httpDirectReplies()
		k.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
		code, body := k.reply()
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "last", body)
		k.waitClosed()
		assert.Equal(t, int64(1), directRepliesSince(t, hs.base, before))
	})
}

// TestHTTPReplyLargerThanSocket sends a reply that the socket cannot take
// at once to a client that reads only later: the rest goes out from the
// loop, complete and in order.
func TestHTTPReplyLargerThanSocket(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		large := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
		replied := make(chan struct{})
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/large", func(r *HTTPRequest) {
				assert.NoError(t, r.SendReply(http.StatusOK, "", large))
				close(replied)
			}))
			require.NoError(t, s.HandleDefault(goReply("")))
		})
		k := dialKeeper(t, hs.addr)
		before := httpDirectReplies()
		k.send("GET /large HTTP/1.1\r\nHost: t\r\n\r\n")
		select {
		case <-replied:
		case <-time.After(30 * time.Second):
			t.Fatal("the handler did not reply")
		}
		time.Sleep(50 * time.Millisecond) // the client reads nothing meanwhile

		resp, err := http.ReadResponse(k.rd, &http.Request{Method: "GET"})
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.True(t, bytes.Equal(large, body), "body of %d bytes differs from the reply", len(body))
		assert.Zero(t, directRepliesSince(t, hs.base, before), "a reply larger than the socket counted as written at once")

		// The connection goes on, with replies written at once again.
		k.get("/small", "")
		assert.Equal(t, int64(1), directRepliesSince(t, hs.base, before))
	})
}

// TestHTTPReplyAtOnceGoClient runs Go's net/http client against a server
// whose replies are written at once, with keep-alive and several
// connections.
func TestHTTPReplyAtOnceGoClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				assert.NoError(t, r.SendReply(http.StatusOK, "", []byte(strings.Repeat("x", len(r.URI())))))
			}))
		})
		client := &http.Client{Timeout: 30 * time.Second}
		defer client.CloseIdleConnections()
		before := httpDirectReplies()
		const requests = 100
		for i := 0; i < requests; i++ {
			path := "/" + strings.Repeat("p", i%7)
			resp, err := client.Get(hs.url + path)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, strings.Repeat("x", len(path)), string(body))
		}
		assert.Equal(t, int64(requests), directRepliesSince(t, hs.base, before))
	})
}

// TestHTTPReplyAtOnceThenClose closes the base from the handler right
// after a reply written at once, before the loop finishes the request. The
// client still gets the reply, and then its connection is closed.
func TestHTTPReplyAtOnceThenClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := bk.config
		b, err := NewBase(&cfg)
		require.NoError(t, err)
		s, err := NewHTTPServer(b)
		require.NoError(t, err)
		require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
			assert.NoError(t, r.SendReply(http.StatusOK, "", []byte("bye")))
			assert.NoError(t, b.Close())
		}))
		addr, err := s.Bind("127.0.0.1:0")
		require.NoError(t, err)
		loopDone := make(chan error, 1)
		go func() { loopDone <- b.Dispatch() }()

		k := dialKeeper(t, addr.String())
		k.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		code, body := k.reply()
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "bye", body)
		k.waitClosed()
		assert.ErrorIs(t, <-loopDone, ErrClosed)
	})
}

// dateLine matches the value of a Date header.
var dateLine = regexp.MustCompile(`(?m)^Date: ([^\r]*)\r$`)

func TestHTTPReplyHeadersMatchLibevent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b, cs, s := wrapCServer(t, bk)
		require.NoError(t, s.Handle("/go", goReply("from C")))
		require.NoError(t, s.Handle("/go-set", func(r *HTTPRequest) {
			assert.NoError(t, r.OutputHeaders().Add("Date", "Mon, 02 Jan 2006 15:04:05 GMT"))
			assert.NoError(t, r.OutputHeaders().Add("Content-Length", "6"))
			assert.NoError(t, r.SendReply(http.StatusOK, "OK", []byte("from C")))
		}))
		runLoopUntilCleanup(t, b)
		addr := strings.TrimPrefix(cs.url, "http://")

		// The same reply from evhttp alone (/c) and through the package's
		// shim (/go) has the same bytes, but for the Date value.
		requests := []string{
			"GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
			"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
			"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
			"GET %s HTTP/1.0\r\n\r\n",
			"GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		}
		for _, raw := range requests {
			fromC, err := rawExchange(t, addr, fmt.Sprintf(raw, "/c"))
			require.NoError(t, err)
			fromGo, err := rawExchange(t, addr, fmt.Sprintf(raw, "/go"))
			require.NoError(t, err)
			cDates := dateLine.FindAllStringSubmatch(fromC, -1)
			goDates := dateLine.FindAllStringSubmatch(fromGo, -1)
			require.Len(t, goDates, len(cDates), "request %q: %q", raw, fromGo)
			for _, m := range goDates {
				_, err := time.Parse(http.TimeFormat, m[1])
				assert.NoError(t, err, "request %q", raw)
			}
			normalize := func(s string) string { return dateLine.ReplaceAllString(s, "Date: -\r") }
			assert.Equal(t, normalize(fromC), normalize(fromGo), "request %q", raw)
		}

		// Values that the handler set stay, once each.
		out, err := rawExchange(t, addr, "GET /go-set HTTP/1.1\r\nHost: t\r\n\r\n")
		require.NoError(t, err)
		assert.Equal(t, 1, strings.Count(out, "\r\nDate: "), out)
		assert.Contains(t, out, "\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n")
		assert.Equal(t, 1, strings.Count(out, "\r\nContent-Length: "), out)
		assert.Contains(t, out, "\r\nContent-Length: 6\r\n")
	})
}
