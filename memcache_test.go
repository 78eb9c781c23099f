//go:build cgo

package libevent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemCacheChecks(t *testing.T) {
	assert.Zero(t, checkMemCache(), "number of the first C check of the cache that failed")
}

func TestMemCacheInstalled(t *testing.T) {
	want := !asanBuild
	switch strings.ToLower(os.Getenv(memCacheEnv)) {
	case "off", "0", "false":
		want = false
	}
	assert.Equal(t, want, MemCacheEnabled())
}

// bufferRounds creates, fills and frees n Buffers on the calling thread
// and returns the allocations that the thread's cache served meanwhile.
func bufferRounds(t *testing.T, n int) uint64 {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Earlier tests may have filled this thread's cache.
	emptyMemCacheThread()
	before, _, _ := memCacheThreadStats()
	for i := 0; i < n; i++ {
		buf, err := NewBuffer()
		require.NoError(t, err)
		_, err = buf.Write(make([]byte, 100))
		require.NoError(t, err)
		require.NoError(t, buf.Close())
	}
	after, _, _ := memCacheThreadStats()
	return after - before
}

// TestMemCacheServesBuffers checks that a Buffer's evbuffer and its chain
// come from the blocks that the Buffer of the round before freed.
func TestMemCacheServesBuffers(t *testing.T) {
	if !memCacheOn {
		assert.Zero(t, bufferRounds(t, 100), "allocations served without the cache")
		return
	}
	assert.GreaterOrEqual(t, bufferRounds(t, 100), uint64(2*99),
		"a round after the first takes its evbuffer and its chain from the cache")
}

// TestMemCacheServesHTTPHeaders adds, removes and adds again headers of a
// reply inside a handler, on the loop's thread, where the second round of
// evhttp_add_header takes the blocks that the first round freed.
func TestMemCacheServesHTTPHeaders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		// 20 headers free 40 blocks of 24 bytes, fewer than the cache keeps
		// of one size.
		const headers = 20
		served := make(chan uint64, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				out := r.OutputHeaders()
				// Earlier tests may have filled this thread's cache.
				emptyMemCacheThread()
				before, _, _ := memCacheThreadStats()
				for round := 0; round < 2; round++ {
					for i := 0; i < headers; i++ {
						assert.NoError(t, out.Add(fmt.Sprintf("X-Header-%d", i), "value"))
					}
					if round == 0 {
						for i := 0; i < headers; i++ {
							assert.NoError(t, out.Del(fmt.Sprintf("X-Header-%d", i)))
						}
					}
				}
				after, _, _ := memCacheThreadStats()
				served <- after - before
				assert.NoError(t, r.SendReply(http.StatusOK, "", []byte("ok")))
			}))
		})
		resp, err := http.Get(hs.url + "/")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "ok", string(body))
		assert.Equal(t, "value", resp.Header.Get("X-Header-19"))

		hits := <-served
		if !memCacheOn {
			assert.Zero(t, hits, "allocations served without the cache")
			return
		}
		// Each header is a struct, a name and a value. A block that
		// malloc made larger than requested can land two classes up
		// and miss, so not every one of the 60 is counted.
		assert.GreaterOrEqual(t, hits, uint64(2*headers),
			"the second round of headers takes the first round's blocks")
	})
}

// TestMemCacheOff runs child processes with GOLIBEVENT_MEMCACHE set to
// off, 0 and FALSE, in which libevent allocates with plain malloc.
func TestMemCacheOff(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	for _, value := range []string{"off", "0", "FALSE"} {
		cmd := exec.Command(exe, "-test.run=^TestMemCache(Installed|ServesBuffers)$", "-test.v")
		cmd.Env = append(os.Environ(), memCacheEnv+"="+value)
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		require.NoError(t, cmd.Run(), "%s=%s: the child's tests failed:\n%s", memCacheEnv, value, out.String())
		assert.Contains(t, out.String(), "--- PASS: TestMemCacheInstalled", "%s=%s", memCacheEnv, value)
		assert.Contains(t, out.String(), "--- PASS: TestMemCacheServesBuffers", "%s=%s", memCacheEnv, value)
		assert.False(t, strings.Contains(out.String(), "no tests to run"), out.String())
	}
}
