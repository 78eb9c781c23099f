//go:build cgo

package libevent

import (
	"bufio"
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

// rawExchange sends raw to addr, closes the sending side, and returns
// everything the server sent until it closed the connection. The deadline
// only bounds a hung server; no assertion depends on timing.
func rawExchange(t testing.TB, addr string, raw string) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, raw); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		return "", err
	}
	// Without the half close, an HTTP/1.1 server keeps the connection open
	// for the next request.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil && !errors.Is(err, syscall.ENOTCONN) {
		return "", err
	}
	var out strings.Builder
	_, err = io.Copy(&out, c)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	return out.String(), err
}

func TestHTTPBadInputRejected(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		code int
	}{
		{"garbage request line", "GARBAGE\r\n\r\n", 400},
		// libevent 2.1.12 answers methods it does not know or allow with
		// 501 Not Implemented, not a 4xx status.
		{"unknown method", "FROB / HTTP/1.1\r\nHost: t\r\n\r\n", 501},
		{"method not allowed", "PATCH / HTTP/1.1\r\nHost: t\r\n\r\n", 501},
		{"bad version", "GET / HTTP/x.y\r\nHost: t\r\n\r\n", 400},
		{"header without colon", "GET / HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n", 400},
		{"oversize header", "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + strings.Repeat("b", 8<<10) + "\r\n\r\n", 400},
		{"oversize body", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("p", 5000), 413},
		{"negative content length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n", 400},
		// libevent reads a chunk size it cannot parse as too large.
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 413},
		{"oversize chunked body", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + strings.Repeat("c", 4096) + "\r\n0\r\n\r\n", 413},
	}
	forEachBackend(t, func(t *testing.T, bk backend) {
		handled := 0
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.SetMaxHeaderBytes(4<<10))
			require.NoError(t, s.SetMaxBodyBytes(1<<10))
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				handled++
				assert.NoError(t, r.SendReply(200, "OK", []byte("handled")))
			}))
		})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				out, err := rawExchange(t, hs.addr, tc.raw)
				require.NoError(t, err)
				resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
				require.NoError(t, err, "reply: %q", out)
				resp.Body.Close()
				assert.Equal(t, tc.code, resp.StatusCode, "reply: %q", out)
			})
		}
		// None reached the handler, and a good request still does.
		out, err := rawExchange(t, hs.addr, "GET / HTTP/1.0\r\n\r\n")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(out, "HTTP/1.0 200 OK\r\n"), "reply: %q", out)
		require.NoError(t, hs.server.do("test", func() error {
			assert.Equal(t, 1, handled)
			return nil
		}))
	})
}

func TestHTTPDefaultLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				n, err := io.Copy(io.Discard, r.Body())
				assert.NoError(t, err)
				assert.NoError(t, r.SendReply(200, "OK", []byte(strings.Repeat("k", int(n>>20)))))
			}))
		})
		// A header block just over 1 MiB is refused.
		out, err := rawExchange(t, hs.addr, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: "+strings.Repeat("h", DefaultMaxHeaderBytes)+"\r\n\r\n")
		require.NoError(t, err)
		assert.Regexp(t, `^HTTP/1\.1 4\d\d `, out)

		// A body of the maximum size is accepted, one byte more is not.
		resp, err := http.Post(hs.url, "application/octet-stream", strings.NewReader(strings.Repeat("b", DefaultMaxBodyBytes)))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		out, err = rawExchange(t, hs.addr, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 8388609\r\n\r\n")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(out, "HTTP/1.1 413 "), "reply: %q", out)
	})
}

func TestHTTPReplyInputChecks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				assert.ErrorIs(t, r.OutputHeaders().Add("X-Bad", "a\r\nInjected: 1"), ErrInvalid)
				assert.ErrorIs(t, r.OutputHeaders().Add("Bad Name", "v"), ErrInvalid)
				assert.ErrorIs(t, r.OutputHeaders().Add("", "v"), ErrInvalid)
				assert.ErrorIs(t, r.SendReply(200, "OK\r\nInjected: 1", nil), ErrInvalid)
				assert.ErrorIs(t, r.SendReply(42, "", nil), ErrInvalid)
				assert.NoError(t, r.SendReply(200, "", nil))
			}))
		})
		out, err := rawExchange(t, hs.addr, "GET / HTTP/1.0\r\n\r\n")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(out, "HTTP/1.0 200 OK\r\n"), "reply: %q", out)
		assert.NotContains(t, out, "Injected")
	})
}
