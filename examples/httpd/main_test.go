package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	libevent "github.com/golibevent/libevent"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPDServesDirectory(t *testing.T) {
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644))
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "page.html"), []byte("<p>page</p>"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "sub", "index.html"), []byte("index"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "data.json"), []byte(`{"a":1}`), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "link.txt")))

	for _, method := range []string{"epoll", "poll", "select"} {
		t.Run(method, func(t *testing.T) {
			b, err := libevent.NewBase(&libevent.Config{Method: method, Flags: libevent.IgnoreEnv})
			require.NoError(t, err)
			defer b.Close()
			srv := newTestServer(t, b, root)
			defer srv.Close()
			addr, err := srv.Bind("127.0.0.1:0")
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx) }()
			defer func() {
				cancel()
				<-done
			}()
			base := "http://" + addr.String()

			get := func(method, p string) (int, string, string) {
				req, err := http.NewRequest(method, base+p, nil)
				require.NoError(t, err)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
			}
			code, ctype, body := get("GET", "/hello")
			assert.Equal(t, 200, code)
			assert.Equal(t, "hello from libevent\n", body)
			assert.Equal(t, "text/plain; charset=utf-8", ctype)

			code, ctype, body = get("GET", "/page.html")
			assert.Equal(t, [3]any{200, "text/html; charset=utf-8", "<p>page</p>"}, [3]any{code, ctype, body})
			code, ctype, _ = get("GET", "/data.json")
			assert.Equal(t, [2]any{200, "application/json"}, [2]any{code, ctype})
			code, _, body = get("GET", "/sub/")
			assert.Equal(t, [2]any{200, "index"}, [2]any{code, body})
			code, ctype, body = get("HEAD", "/page.html")
			assert.Equal(t, [3]any{200, "text/html; charset=utf-8", ""}, [3]any{code, ctype, body})

			code, _, _ = get("GET", "/missing")
			assert.Equal(t, 404, code)
			code, _, _ = get("GET", "/link.txt")
			assert.Equal(t, 404, code, "a link out of the root must not be followed")
			code, _, _ = get("POST", "/page.html")
			assert.Equal(t, 501, code)

			// Go's client cleans "..", so the escape goes over a raw socket.
			rel, err := filepath.Rel(root, filepath.Join(outside, "secret.txt"))
			require.NoError(t, err)
			for _, target := range []string{"/" + filepath.ToSlash(rel), "/%2e%2e/%2e%2e/etc/passwd", "/../../../etc/passwd"} {
				c, err := net.Dial("tcp", addr.String())
				require.NoError(t, err)
				_, err = io.WriteString(c, "GET "+target+" HTTP/1.0\r\n\r\n")
				require.NoError(t, err)
				out, err := io.ReadAll(c)
				c.Close()
				require.NoError(t, err)
				assert.Regexp(t, `^HTTP/1\.[01] (400|404) `, string(out), target)
				assert.NotContains(t, string(out), "secret")
				assert.NotContains(t, string(out), "root:")
			}
		})
	}
}

// newTestServer returns the server of a one-base httpd on b for root,
// which is closed when the test ends.
func newTestServer(t *testing.T, b *libevent.Base, root string) *libevent.HTTPServer {
	t.Helper()
	pages, err := newSite(root, 1)
	require.NoError(t, err)
	srv, err := pages.newServer(b, 0)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv
}
