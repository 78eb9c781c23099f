//go:build cgo

package libevent

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digestHandler replies to each request with the length and the SHA-256 of
// its body, and records whether its connection read through the package's
// callback.
func digestHandler(t *testing.T, fixed *[]bool) func(r *HTTPRequest) {
	return func(r *HTTPRequest) {
		*fixed = append(*fixed, r.readsFixed())
		body, err := io.ReadAll(r.Body())
		assert.NoError(t, err)
		sum := sha256.Sum256(body)
		assert.NoError(t, r.SendReply(http.StatusOK, "",
			[]byte(fmt.Sprintf("%d %x", len(body), sum))))
	}
}

func digestOf(body []byte) string {
	sum := sha256.Sum256(body)
	return fmt.Sprintf("%d %s", len(body), hex.EncodeToString(sum[:]))
}

// testBody returns n bytes that differ from one position to the next, so
// that a lost or repeated piece changes the digest.
func testBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestHTTPServerReadsWithoutFIONREAD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		var fixed []bool
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(digestHandler(t, &fixed)))
		})
		k := dialKeeper(t, hs.addr)
		before := fixedReadsSoFar()
		const requests = 20
		for i := 0; i < requests; i++ {
			k.get(fmt.Sprintf("/r%d", i), digestOf(nil))
		}
		// The first request comes through libevent's read callback,
		// which the server replaces before its handler runs.
		assert.GreaterOrEqual(t, fixedReadsSoFar().reads-before.reads, int64(requests-1))
		require.NoError(t, hs.server.do("test", func() error {
			assert.Len(t, fixed, requests)
			for i, f := range fixed {
				assert.True(t, f, "request %d", i)
			}
			return nil
		}))

		// Pipelined requests of more than one read's 4096 bytes all get
		// their replies, in order.
		var raw strings.Builder
		const pipelined = 40
		long := strings.Repeat("p", 150)
		for i := 0; i < pipelined; i++ {
			fmt.Fprintf(&raw, "GET /%s/%d HTTP/1.1\r\nHost: t\r\n\r\n", long, i)
		}
		require.Greater(t, raw.Len(), 4096)
		k.send(raw.String())
		for i := 0; i < pipelined; i++ {
			code, body := k.reply()
			assert.Equal(t, http.StatusOK, code, "pipelined request %d", i)
			assert.Equal(t, digestOf(nil), body, "pipelined request %d", i)
		}

		// Bodies of 1 MiB from Go's client arrive whole on a reused
		// connection.
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		for i := 0; i < 3; i++ {
			body := testBody(1<<20 + i)
			resp, err := client.Post(hs.url+"/upload", "application/octet-stream", bytes.NewReader(body))
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, digestOf(body), string(got), "upload %d", i)
		}
	})
}

func TestHTTPFixedReadsEndReading(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		var fixed []bool
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(digestHandler(t, &fixed)))
			require.NoError(t, s.SetTimeout(300*time.Millisecond))
		})
		waitCount := func(name string, count func(fixedReadCounts) int64, want int64) {
			t.Helper()
			require.Eventually(t, func() bool { return count(fixedReadsSoFar()) >= want },
				30*time.Second, time.Millisecond, "%s: %d, want %d", name,
				count(fixedReadsSoFar()), want)
		}
		// Each connection makes two requests first, so that the second
		// one and what follows go through the package's callback.
		open := func() *keeperConn {
			k := dialKeeper(t, hs.addr)
			k.get("/", digestOf(nil))
			k.get("/", digestOf(nil))
			return k
		}

		before := fixedReadsSoFar()
		k := open()
		k.c.Close()
		waitCount("end of stream", func(c fixedReadCounts) int64 { return c.eof }, before.eof+1)

		before = fixedReadsSoFar()
		k = open()
		require.NoError(t, k.c.(*net.TCPConn).SetLinger(0))
		k.c.Close()
		waitCount("reset", func(c fixedReadCounts) int64 { return c.errors }, before.errors+1)

		// An idle keep-alive connection is closed after the timeout.
		before = fixedReadsSoFar()
		k = open()
		k.waitClosed()
		waitCount("idle timeout", func(c fixedReadCounts) int64 { return c.timeouts }, before.timeouts+1)

		// The server still serves new connections on the descriptors
		// that the closed ones had.
		for i := 0; i < 10; i++ {
			k = open()
			k.c.Close()
		}
		k = open()
		k.get("/last", digestOf(nil))
	})
}

// TestHTTPFixedReadsKeepLimits checks that reads through the package's
// callback stay within a high watermark or a maximum single read, set on a
// bufferevent from SetBufferEventFunc. Each read then takes at most that
// many bytes, so a request needs at least its size divided by that many
// reads. evhttp moves a body with Content-Length only once it is whole in
// the input, and a chunk once that chunk is, so the watermark case sends
// chunks that fit below it.
func TestHTTPFixedReadsKeepLimits(t *testing.T) {
	body := testBody(6000)
	var chunked strings.Builder
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 50)
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	chunked.WriteString("0\r\n\r\n")
	cases := []struct {
		name    string
		limit   int
		set     func(bev *BufferEvent, limit int) error
		request string
	}{
		{"high watermark", 100, func(bev *BufferEvent, limit int) error {
			return bev.SetWatermark(EvRead, 0, limit)
		}, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked.String()},
		{"maximum single read", 512, func(bev *BufferEvent, limit int) error {
			return bev.SetMaxSingleRead(limit)
		}, fmt.Sprintf("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s", len(body), body)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, bk backend) {
				var fixed []bool
				hs := startHTTPServer(t, bk, func(s *HTTPServer) {
					require.NoError(t, s.HandleDefault(digestHandler(t, &fixed)))
					require.NoError(t, s.SetBufferEventFunc(func(b *Base) (*BufferEvent, error) {
						bev, err := b.NewBufferEvent(-1, BEVOptCloseOnFree)
						if err == nil {
							assert.NoError(t, tc.set(bev, tc.limit))
						}
						return bev, err
					}))
				})
				k := dialKeeper(t, hs.addr)
				k.get("/", digestOf(nil))
				before := fixedReadsSoFar()
				k.send(tc.request)
				code, got := k.reply()
				assert.Equal(t, http.StatusOK, code)
				assert.Equal(t, digestOf(body), got)
				assert.GreaterOrEqual(t, fixedReadsSoFar().reads-before.reads,
					int64(len(tc.request)/tc.limit))
				require.NoError(t, hs.server.do("test", func() error {
					assert.Equal(t, []bool{true, true}, fixed)
					return nil
				}))
			})
		})
	}
}

func TestHTTPFixedReadsNotOnWrappedServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b, cs, s := wrapCServer(t, bk)
		var fixed []bool
		require.NoError(t, s.Handle("/go", digestHandler(t, &fixed)))
		runLoopUntilCleanup(t, b)

		// The connections of a server that C code owns keep libevent's
		// read callback.
		k := dialKeeper(t, strings.TrimPrefix(cs.url, "http://"))
		k.get("/go", digestOf(nil))
		k.get("/go", digestOf(nil))
		require.NoError(t, b.callOnLoop(func() {
			assert.Equal(t, []bool{false, false}, fixed)
		}))
	})
}

// TestHTTPHalfClosedClientGetsWholeReply checks that a client that shuts
// down its sending side after its requests still gets whole replies, and
// then the end of the connection. evhttp alone would take the end of the
// stream for a lost connection and drop the rest of the reply.
func TestHTTPHalfClosedClientGetsWholeReply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleDefault(func(r *HTTPRequest) {
				n, err := strconv.Atoi(strings.TrimPrefix(r.URI(), "/"))
				assert.NoError(t, err)
				assert.NoError(t, r.SendReply(http.StatusOK, "", testBody(n)))
			}))
			require.NoError(t, s.HandleHTTP("/adapter", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, err := w.Write(testBody(300000))
				assert.NoError(t, err)
			})))
		})
		before := fixedReadsSoFar()
		cases := [][]string{
			{"/100000"},
			{"/4194304"},
			{"/adapter"},
			{"/70000", "/200000"},
		}
		for _, paths := range cases {
			c, err := net.Dial("tcp", hs.addr)
			require.NoError(t, err)
			require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
			var raw strings.Builder
			for _, p := range paths {
				fmt.Fprintf(&raw, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", p)
			}
			_, err = io.WriteString(c, raw.String())
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			rd := bufio.NewReader(c)
			for _, p := range paths {
				resp, err := http.ReadResponse(rd, &http.Request{Method: http.MethodGet})
				require.NoError(t, err, p)
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.NoError(t, err, p)
				want := 300000
				if p != "/adapter" {
					want, err = strconv.Atoi(strings.TrimPrefix(p, "/"))
					require.NoError(t, err)
				}
				assert.Equal(t, digestOf(testBody(want)), digestOf(body), p)
			}
			// The server then closes the connection.
			rest, err := io.ReadAll(rd)
			assert.NoError(t, err, "%v", paths)
			assert.Empty(t, rest, "%v", paths)
			c.Close()
		}
		after := fixedReadsSoFar()
		assert.GreaterOrEqual(t, after.eofHeld-before.eofHeld, int64(1), "ends of the stream held back")
		assert.GreaterOrEqual(t, after.eof-before.eof, int64(len(cases)), "ends of the stream reported")
	})
}
