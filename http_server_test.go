//go:build cgo

package libevent

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPServerGet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/hello", func(r *HTTPRequest) {
				assert.Equal(t, "GET", r.Method())
				assert.Equal(t, "/hello?name=x", r.URI())
				u := r.ParsedURI()
				if assert.NotNil(t, u) {
					assert.Equal(t, "/hello", u.Path())
					assert.Equal(t, "name=x", u.Query())
				}
				assert.Equal(t, "yes", r.InputHeaders().Get("x-test"))
				major, minor := r.ProtoVersion()
				assert.Equal(t, [2]int{1, 1}, [2]int{major, minor})
				assert.NotNil(t, r.RemoteAddr())
				require.NoError(t, r.OutputHeaders().Set("Content-Type", "text/plain"))
				require.NoError(t, r.SendReply(200, "OK", []byte("hello\n")))
			}))
			require.NoError(t, s.Handle("/echo", func(r *HTTPRequest) {
				body, err := io.ReadAll(r.Body())
				assert.NoError(t, err)
				assert.NoError(t, r.SendReply(200, "", append([]byte(r.Method()+" "), body...)))
			}))
		})
		req, err := http.NewRequest("GET", hs.url+"/hello?name=x", nil)
		require.NoError(t, err)
		req.Header.Set("X-Test", "yes")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "hello\n", string(body))
		assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))

		resp, err = http.Get(hs.url + "/missing")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 404, resp.StatusCode)

		resp, err = http.Post(hs.url+"/echo", "text/plain", strings.NewReader("posted body"))
		require.NoError(t, err)
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "POST posted body", string(body))
	})
}

// TestHTTPReplyWithoutBody pipelines requests whose replies must carry no
// body (HEAD, 204, 304) with a GET on one connection: a body sent by
// mistake would precede the next reply. A reply to HEAD keeps the
// Content-Length of the body that it drops.
func TestHTTPReplyWithoutBody(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				code := http.StatusOK
				switch r.URI() {
				case "/204":
					code = http.StatusNoContent
				case "/304":
					code = http.StatusNotModified
				}
				assert.NoError(t, r.SendReply(code, "", []byte("body that HEAD drops")))
			}))
		})
		c, err := net.Dial("tcp", hs.addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
		_, err = io.WriteString(c, "HEAD /page HTTP/1.1\r\nHost: t\r\n\r\n"+
			"GET /204 HTTP/1.1\r\nHost: t\r\n\r\n"+
			"GET /304 HTTP/1.1\r\nHost: t\r\n\r\n"+
			"GET /page HTTP/1.1\r\nHost: t\r\n\r\n")
		require.NoError(t, err)

		rd := bufio.NewReader(c)
		for _, want := range []struct {
			method string
			code   int
			length string
		}{
			{"HEAD", 200, "20"},
			{"GET", 204, ""},
			{"GET", 304, ""},
			{"GET", 200, "20"},
		} {
			resp, err := http.ReadResponse(rd, &http.Request{Method: want.method})
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, want.code, resp.StatusCode)
			assert.Equal(t, want.length, resp.Header.Get("Content-Length"), "status %d", want.code)
			if want.method == "GET" && want.code == 200 {
				assert.Equal(t, "body that HEAD drops", string(body))
			} else {
				assert.Empty(t, body)
			}
		}
	})
}

// TestHTTPBindSetsNoDelay checks that connections accepted on a socket from
// Bind have TCP_NODELAY, without which a reply in several writes waits for
// the client's delayed ACK.
func TestHTTPBindSetsNoDelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		type result struct {
			on  bool
			err error
		}
		results := make(chan result, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				on, err := r.noDelay()
				results <- result{on, err}
				assert.NoError(t, r.SendReply(http.StatusOK, "", nil))
			}))
		})
		code, _ := httpGet(t, hs.url+"/")
		assert.Equal(t, http.StatusOK, code)
		res := <-results
		require.NoError(t, res.err)
		assert.True(t, res.on, "TCP_NODELAY on the accepted connection")
	})
}
