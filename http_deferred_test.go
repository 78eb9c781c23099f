//go:build cgo

package libevent

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pendingRequests returns how many requests the server has handed out and
// not yet seen answered or freed.
func pendingRequests(t *testing.T, s *HTTPServer) int {
	t.Helper()
	var n int
	require.NoError(t, s.do("test", func() error {
		s.mu.Lock()
		n = s.requests.len
		s.mu.Unlock()
		return nil
	}))
	return n
}

// resetConn closes c with SO_LINGER 0, so that the peer gets a reset.
func resetConn(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close())
}

// A client sends GET /slow and resets the connection after 100 ms; the
// handler's reply of 64 KiB comes from another goroutine at 300 ms.
func TestHTTPDeferredReplyAfterClientReset(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		kept := make(chan *HTTPRequest, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/slow", func(r *HTTPRequest) { kept <- r }))
			require.NoError(t, s.Handle("/fast", func(r *HTTPRequest) {
				assert.NoError(t, r.SendReply(200, "OK", []byte("fast")))
			}))
		})
		start := time.Now()
		c, err := net.Dial("tcp", hs.addr)
		require.NoError(t, err)
		_, err = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
		require.NoError(t, err)
		r := <-kept
		assert.Equal(t, "t", r.InputHeaders().Get("Host"))

		time.Sleep(time.Until(start.Add(100 * time.Millisecond)))
		resetConn(t, c)
		time.Sleep(time.Until(start.Add(300 * time.Millisecond)))

		body := bytes.Repeat([]byte("x"), 64<<10)
		// The reset is noticed only when libevent writes, after this call.
		require.NoError(t, r.SendReply(200, "OK", body))

		err = r.SendReply(200, "OK", body)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrReplied)
		assert.ErrorIs(t, err, ErrClosed)
		assert.ErrorIs(t, r.SendError(500, ""), ErrReplied)
		assert.ErrorIs(t, r.SendReplyStart(200, ""), ErrReplied)
		assert.Equal(t, "", r.Method())
		assert.Equal(t, "", r.InputHeaders().Get("Host"))
		assert.ErrorIs(t, r.OutputHeaders().Add("X-Late", "1"), ErrReplied)
		_, err = r.Body().Read(make([]byte, 1))
		assert.ErrorIs(t, err, ErrReplied)
		assert.Zero(t, pendingRequests(t, hs.server))

		// The server keeps serving.
		resp, err := http.Get(hs.url + "/fast")
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "fast", string(got))
	})
}

func TestHTTPDeferredReplyReachesClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		kept := make(chan *HTTPRequest, 1)
		completed := make(chan struct{})
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/later", func(r *HTTPRequest) {
				require.NoError(t, r.OnComplete(func(*HTTPRequest) { close(completed) }))
				kept <- r
			}))
		})
		go func() {
			r := <-kept
			assert.NoError(t, r.OutputHeaders().Set("X-From", "goroutine"))
			assert.NoError(t, r.SendReply(201, "Made Later", []byte("later")))
		}()
		resp, err := http.Get(hs.url + "/later")
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, 201, resp.StatusCode)
		assert.Equal(t, "201 Made Later", resp.Status)
		assert.Equal(t, "goroutine", resp.Header.Get("X-From"))
		assert.Equal(t, "later", string(got))
		<-completed
	})
}

func TestHTTPServerCloseFreesPendingRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		kept := make(chan *HTTPRequest, 2)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) { kept <- r }))
		})
		c1, err := net.Dial("tcp", hs.addr)
		require.NoError(t, err)
		defer c1.Close()
		_, err = io.WriteString(c1, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
		require.NoError(t, err)
		r1 := <-kept

		// The second request starts a chunked reply whose client resets,
		// so libevent detaches it from its failed connection.
		c2, err := net.Dial("tcp", hs.addr)
		require.NoError(t, err)
		_, err = io.WriteString(c2, "GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
		require.NoError(t, err)
		r2 := <-kept
		require.NoError(t, r2.SendReplyStart(200, ""))
		resetConn(t, c2)
		for i := 0; i < 20; i++ {
			require.NoError(t, r2.SendReplyChunk(bytes.Repeat([]byte("y"), 16<<10)))
		}

		require.NoError(t, hs.server.Close())
		require.NoError(t, hs.server.Close())
		assert.ErrorIs(t, r1.SendReply(200, "", nil), ErrClosed)
		assert.ErrorIs(t, r2.SendReplyEnd(), ErrClosed)
		_, err = hs.server.Bind("127.0.0.1:0")
		assert.ErrorIs(t, err, ErrClosed)

		// The first client sees its connection closed without a reply.
		require.NoError(t, c1.SetReadDeadline(time.Now().Add(10*time.Second)))
		n, err := c1.Read(make([]byte, 1))
		assert.Zero(t, n)
		assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), "read after Close: %v", err)
	})
}

func TestHTTPChunkedReply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/stream", func(r *HTTPRequest) {
				assert.ErrorIs(t, r.SendReplyChunk([]byte("early")), ErrInvalid)
				require.NoError(t, r.SendReplyStart(200, "OK"))
				assert.ErrorIs(t, r.SendReplyStart(200, "OK"), ErrReplied)
				// Each chunk goes out once the previous one was written,
				// from the flow-control callback.
				var send func(i int)
				send = func(i int) {
					if i == 5 {
						assert.NoError(t, r.SendReplyEnd())
						return
					}
					line := []byte(strings.Repeat(string(rune('a'+i)), 1000) + "\n")
					assert.NoError(t, r.SendReplyChunkWithCallback(line, func() { send(i + 1) }))
				}
				send(0)
			}))
		})
		resp, err := http.Get(hs.url + "/stream")
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		sc := bufio.NewScanner(resp.Body)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text()[:1])
		}
		require.NoError(t, sc.Err())
		assert.Equal(t, []string{"a", "b", "c", "d", "e"}, lines)
	})
}

func TestRequestListAddRemove(t *testing.T) {
	var l requestList
	a, b, c := &HTTPRequest{}, &HTTPRequest{}, &HTTPRequest{}
	l.add(a)
	l.add(b)
	l.add(c)
	assert.Equal(t, []*HTTPRequest{c, b, a}, l.all())
	assert.Equal(t, 3, l.len)

	l.remove(b) // from the middle
	assert.Equal(t, []*HTTPRequest{c, a}, l.all())
	l.remove(b) // a second time
	assert.Equal(t, 2, l.len)
	l.remove(c) // the head
	assert.Equal(t, []*HTTPRequest{a}, l.all())
	l.remove(a) // the last one
	assert.Empty(t, l.all())
	assert.Zero(t, l.len)
	assert.Nil(t, l.head)

	l.add(b) // a removed request can be added again
	assert.Equal(t, []*HTTPRequest{b}, l.all())
}
