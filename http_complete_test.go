//go:build cgo

package libevent

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The completion callback reaches Go only for requests whose handler called
// OnComplete. On a kept-alive connection libevent often reuses the memory
// of a freed request for the next one, so a callback must not leak from a
// request that set it to a later one that did not.
func TestHTTPOnCompleteOnlyWhereSet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		type completion struct{ got, want *HTTPRequest }
		completed := make(chan completion, 32)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/with", func(r *HTTPRequest) {
				want := r
				require.NoError(t, r.OnComplete(func(got *HTTPRequest) {
					completed <- completion{got: got, want: want}
				}))
				require.NoError(t, r.SendReply(200, "", []byte("with")))
			}))
			require.NoError(t, s.Handle("/without", func(r *HTTPRequest) {
				require.NoError(t, r.SendReply(200, "", []byte("without")))
			}))
		})

		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer client.CloseIdleConnections()
		const rounds = 5
		for i := 0; i < rounds; i++ {
			for _, path := range []string{"/without", "/with", "/without"} {
				resp, err := client.Get(hs.url + path)
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.NoError(t, err)
				require.Equal(t, path[1:], string(body))
			}
		}

		// Completions run in reply order on the one connection, so once
		// that of a last "/with" request has run, every earlier reply's
		// has too.
		resp, err := client.Get(hs.url + "/with")
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		for i := 0; i < rounds+1; i++ {
			select {
			case c := <-completed:
				assert.Same(t, c.want, c.got, "completion %d", i)
			case <-time.After(10 * time.Second):
				t.Fatalf("got %d of %d completion callbacks", i, rounds+1)
			}
		}
		assert.Empty(t, completed, "completion callbacks of requests that set none")
	})
}
