//go:build cgo

package libevent

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func getBody(t *testing.T, url string, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func replyWith(text string) HandlerFunc {
	return func(r *HTTPRequest) { r.SendReply(200, "OK", []byte(text)) }
}

func TestHTTPServerHandlersAndVirtualHosts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/a", replyWith("main a")))
			require.NoError(t, s.Handle("/gone", replyWith("gone")))
			require.NoError(t, s.HandleDefault(replyWith("main default")))
			v, err := s.AddVirtualHost("*.example.test")
			require.NoError(t, err)
			require.NoError(t, v.Handle("/a", replyWith("vhost a")))
			require.NoError(t, v.AddServerAlias("alias.test"))
			nested, err := v.AddVirtualHost("deep.example.test")
			require.NoError(t, err)
			require.NoError(t, nested.Handle("/a", replyWith("nested a")))
			_, err = v.Bind("127.0.0.1:0")
			assert.ErrorIs(t, err, ErrInvalid)
			w, err := s.AddVirtualHost("removed.test")
			require.NoError(t, err)
			require.NoError(t, w.HandleDefault(replyWith("removed")))
			require.NoError(t, w.Close())
			require.NoError(t, w.Close())
		})
		require.NoError(t, hs.server.Handle("/gone", nil))

		code, body := getBody(t, hs.url+"/a", "")
		assert.Equal(t, [2]any{200, "main a"}, [2]any{code, body})
		code, body = getBody(t, hs.url+"/gone", "")
		assert.Equal(t, [2]any{200, "main default"}, [2]any{code, body})
		code, body = getBody(t, hs.url+"/a", "www.example.test")
		assert.Equal(t, [2]any{200, "vhost a"}, [2]any{code, body})
		code, body = getBody(t, hs.url+"/a", "deep.example.test")
		assert.Equal(t, [2]any{200, "nested a"}, [2]any{code, body})
		code, body = getBody(t, hs.url+"/a", "alias.test")
		assert.Equal(t, [2]any{200, "vhost a"}, [2]any{code, body})
		// The virtual host has no default handler.
		code, _ = getBody(t, hs.url+"/other", "www.example.test")
		assert.Equal(t, 404, code)
		code, body = getBody(t, hs.url+"/a", "removed.test")
		assert.Equal(t, [2]any{200, "main a"}, [2]any{code, body})
	})
}

func TestHTTPServerAcceptListeners(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		s, err := NewHTTPServer(b)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		require.NoError(t, s.HandleDefault(replyWith("served")))

		l, err := b.Listen("tcp", "127.0.0.1:0", LEVOptReusable, -1, nil)
		require.NoError(t, err)
		laddr, err := l.Addr()
		require.NoError(t, err)
		require.NoError(t, s.Accept(l))
		assert.ErrorIs(t, l.Enable(), ErrClosed)
		require.NoError(t, l.Close())

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		naddr := ln.Addr().String()
		require.NoError(t, s.AcceptNet(ln))

		a1, err := s.Bind("127.0.0.1:0")
		require.NoError(t, err)
		a2, err := s.Bind("[::1]:0")
		if err != nil {
			t.Logf("no IPv6 loopback: %v", err)
		}
		_, err = s.Bind("localhost:80")
		assert.ErrorIs(t, err, ErrInvalid)

		runLoopUntilCleanup(t, b)
		addrs := []string{laddr.String(), naddr, a1.String()}
		if a2 != nil {
			addrs = append(addrs, a2.String())
		}
		for _, addr := range addrs {
			code, body := getBody(t, "http://"+addr+"/", "")
			assert.Equal(t, [2]any{200, "served"}, [2]any{code, body}, addr)
		}
	})
}

func TestHTTPServerSettings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		created := 0
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.SetAllowedMethods(MethodGet|MethodPatch))
			assert.ErrorIs(t, s.SetAllowedMethods(1<<12), ErrInvalid)
			require.NoError(t, s.SetDefaultContentType("application/x-test"))
			require.NoError(t, s.SetTimeout(500*time.Millisecond))
			assert.ErrorIs(t, s.SetTimeout(0), ErrInvalid)
			require.NoError(t, s.SetBufferEventFunc(func(b *Base) (*BufferEvent, error) {
				created++
				return b.NewBufferEvent(-1, BEVOptCloseOnFree)
			}))
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				r.SendReply(200, "OK", []byte(r.Method()))
			}))
		})
		out, err := rawExchange(t, hs.addr, "PATCH / HTTP/1.0\r\n\r\n")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(out, "HTTP/1.0 200 OK\r\n"), "reply: %q", out)
		assert.Contains(t, out, "Content-Type: application/x-test\r\n")
		out, err = rawExchange(t, hs.addr, "POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
		require.NoError(t, err)
		assert.Regexp(t, `^HTTP/1\.[01] 501 `, out)

		// A client that sends half a request is cut off after the timeout.
		c, err := net.Dial("tcp", hs.addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "GET / HTTP/1.1\r\n")
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err = io.ReadAll(c)
		require.NoError(t, err, "the server did not close the idle connection")

		require.NoError(t, hs.server.do("test", func() error {
			assert.Equal(t, 3, created)
			return nil
		}))
	})
}

func TestHTTPServerUseAfterClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		s, err := NewHTTPServer(b)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		assert.ErrorIs(t, s.Handle("/x", replyWith("x")), ErrClosed)
		assert.ErrorIs(t, s.SetMaxBodyBytes(1), ErrClosed)
		_, err = s.AddVirtualHost("x")
		assert.ErrorIs(t, err, ErrClosed)

		// A server still open when its base closes is freed with it.
		s2, err := NewHTTPServer(b)
		require.NoError(t, err)
		_, err = s2.Bind("127.0.0.1:0")
		require.NoError(t, err)
		var nilServer *HTTPServer
		assert.NoError(t, nilServer.Close())
		assert.ErrorIs(t, nilServer.Handle("/x", nil), ErrInvalid)
	})
}
