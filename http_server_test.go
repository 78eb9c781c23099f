//go:build cgo

package libevent

import (
	"io"
	"net/http"
	"strings"
	"testing"

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
