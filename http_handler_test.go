//go:build cgo

package libevent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noKeepAliveClient is a net/http client that opens a connection for each
// request, so that no idle connection outlives a test's server.
func noKeepAliveClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func getResponseBody(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// patternBytes returns n bytes of a repeating, position-dependent pattern,
// so that a lost or reordered chunk shows in a comparison.
func patternBytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(i*7 + i/251)
	}
	return out
}

func TestHTTPHandlerRequestAndReply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		logged := captureLog(t, slog.LevelWarn)
		seen := make(chan *http.Request, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/info", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r
				w.Header().Add("X-Multi", "one")
				w.Header().Add("X-Multi", "two")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				// Ignored, as under net/http.
				w.WriteHeader(http.StatusTeapot)
				w.Header().Set("X-Late", "not sent")
				fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
			})))
		})
		req, err := http.NewRequest("GET", hs.url+"/info?a=1&b=two", nil)
		require.NoError(t, err)
		req.Header.Set("X-Test", "yes")
		resp, err := noKeepAliveClient().Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)

		assert.Equal(t, http.StatusCreated, resp.StatusCode)
		assert.Equal(t, "201 Created", resp.Status)
		assert.Equal(t, []string{"one", "two"}, resp.Header.Values("X-Multi"))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Empty(t, resp.Header.Get("X-Late"))
		assert.Equal(t, `{"path":"/info"}`, string(body))
		assert.Equal(t, int64(len(body)), resp.ContentLength)

		r := <-seen
		assert.Equal(t, "GET", r.Method)
		assert.Equal(t, "/info", r.URL.Path)
		assert.Equal(t, "1", r.URL.Query().Get("a"))
		assert.Equal(t, "two", r.URL.Query().Get("b"))
		assert.Equal(t, "/info?a=1&b=two", r.RequestURI)
		assert.Equal(t, "HTTP/1.1", r.Proto)
		assert.Equal(t, 1, r.ProtoMajor)
		assert.Equal(t, 1, r.ProtoMinor)
		assert.Equal(t, hs.addr, r.Host)
		assert.Empty(t, r.Header.Get("Host"))
		assert.Equal(t, "yes", r.Header.Get("X-Test"))
		assert.True(t, r.Close, "a client without keep-alive sends Connection: close")
		assert.Equal(t, int64(0), r.ContentLength)
		assert.Equal(t, http.NoBody, r.Body)
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", host)

		records := logged.snapshot()
		require.Len(t, records, 1)
		assert.Equal(t, "libevent: superfluous WriteHeader call in an http.Handler", records[0].Message)
	})
}

func TestHTTPHandlerContentTypeSniffed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/html", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<!DOCTYPE html><p>hi</p>")
			})))
			require.NoError(t, s.HandleHTTP("/nobody", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
				_, err := w.Write([]byte("x"))
				assert.ErrorIs(t, err, http.ErrBodyNotAllowed)
			})))
		})
		c := noKeepAliveClient()
		resp, body := getResponseBody(t, c, hs.url+"/html")
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Equal(t, "<!DOCTYPE html><p>hi</p>", string(body))

		resp, body = getResponseBody(t, c, hs.url+"/nobody")
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Empty(t, body)
	})
}

func TestHTTPHandlerLargeBodies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTPDefault(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := strconv.Atoi(r.URL.Query().Get("n"))
				if !assert.NoError(t, err) {
					return
				}
				data := patternBytes(n)
				// Uneven writes cross the buffer and chunk sizes.
				for len(data) > 0 {
					k := min(len(data), 10007)
					_, err := w.Write(data[:k])
					if !assert.NoError(t, err) {
						return
					}
					data = data[k:]
				}
			})))
		})
		c := noKeepAliveClient()
		for _, n := range []int{0, 1, handlerBufferSize, handlerBufferSize + 1, 3 << 20} {
			resp, body := getResponseBody(t, c, fmt.Sprintf("%s/?n=%d", hs.url, n))
			assert.Equal(t, http.StatusOK, resp.StatusCode, "n=%d", n)
			assert.True(t, bytes.Equal(patternBytes(n), body), "n=%d: body of %d bytes differs", n, len(body))
			if n <= handlerBufferSize {
				assert.Equal(t, int64(n), resp.ContentLength, "n=%d fits the buffer", n)
			} else {
				assert.Equal(t, []string{"chunked"}, resp.TransferEncoding, "n=%d is past the buffer", n)
			}
		}
	})
}

func TestHTTPHandlerDeclaredContentLength(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		const n = 2*handlerBufferSize + 5
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/exact", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(n))
				_, err := w.Write(patternBytes(n))
				assert.NoError(t, err)
				_, err = w.Write([]byte("over"))
				assert.ErrorIs(t, err, http.ErrContentLength)
			})))
			require.NoError(t, s.HandleHTTP("/short", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(n))
				_, err := w.Write(patternBytes(n - 1))
				assert.NoError(t, err)
			})))
		})
		c := noKeepAliveClient()
		resp, body := getResponseBody(t, c, hs.url+"/exact")
		assert.Equal(t, int64(n), resp.ContentLength)
		assert.Empty(t, resp.TransferEncoding)
		assert.True(t, bytes.Equal(patternBytes(n), body))

		// The connection is closed short of the declared length.
		resp, err := c.Get(hs.url + "/short")
		require.NoError(t, err)
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}

func TestHTTPHandlerRequestBodies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/sum", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if !assert.NoError(t, err) {
					return
				}
				assert.NoError(t, r.Body.Close())
				sum := sha256.Sum256(body)
				fmt.Fprintf(w, "%s %d %d %v %s", r.Method, r.ContentLength, len(body), r.TransferEncoding, hex.EncodeToString(sum[:]))
			})))
		})
		c := noKeepAliveClient()
		data := patternBytes(1 << 20)
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])

		resp, err := c.Post(hs.url+"/sum", "application/octet-stream", bytes.NewReader(data))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("POST %d %d [] %s", len(data), len(data), want), string(body))

		// A body of unknown length goes out chunked; libevent decodes it.
		req, err := http.NewRequest("PUT", hs.url+"/sum", io.MultiReader(bytes.NewReader(data)))
		require.NoError(t, err)
		resp, err = c.Do(req)
		require.NoError(t, err)
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("PUT %d %d [chunked] %s", len(data), len(data), want), string(body))
	})
}

func TestHTTPHandlerFlushStreams(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		release := make(chan struct{})
		flushErr := make(chan error, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "first\n")
				flushErr <- http.NewResponseController(w).Flush()
				// The client reads the first line before the handler
				// goes on, so the first line was sent by Flush.
				<-release
				io.WriteString(w, "second\n")
			})))
		})
		resp, err := noKeepAliveClient().Get(hs.url + "/stream")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, <-flushErr)
		assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		reader := bufio.NewReader(resp.Body)
		line, err := reader.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "first\n", line)
		close(release)
		rest, err := io.ReadAll(reader)
		require.NoError(t, err)
		assert.Equal(t, "second\n", string(rest))
	})
}

// panicLogs returns the panic and stack attributes of the records that log
// a handler's panic.
func panicLogs(h *recordHandler) (panics []string, stacks []string) {
	for _, r := range h.snapshot() {
		if r.Message != "libevent: panic in an http.Handler" {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "panic":
				panics = append(panics, a.Value.String())
			case "stack":
				stacks = append(stacks, a.Value.String())
			}
			return true
		})
	}
	return panics, stacks
}

func TestHTTPHandlerPanic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		logged := captureLog(t, slog.LevelWarn)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/early", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Dropped", "yes")
				io.WriteString(w, "buffered, never sent")
				panic("early failure")
			})))
			require.NoError(t, s.HandleHTTP("/late", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				panic("late failure")
			})))
			require.NoError(t, s.HandleHTTP("/abort", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				panic(http.ErrAbortHandler)
			})))
		})
		c := noKeepAliveClient()
		resp, body := getResponseBody(t, c, hs.url+"/early")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("X-Dropped"))
		assert.NotContains(t, string(body), "buffered")

		resp, err := c.Get(hs.url + "/late")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Error(t, err, "a reply cut off by a panic must not look complete")
		assert.Equal(t, "partial", string(body))

		resp, body = getResponseBody(t, c, hs.url+"/abort")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)

		// The server still serves after the panics.
		resp, _ = getResponseBody(t, c, hs.url+"/missing")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)

		// http.ErrAbortHandler is not logged.
		panics, stacks := panicLogs(logged)
		assert.ElementsMatch(t, []string{"early failure", "late failure"}, panics)
		require.Len(t, stacks, 2)
		for _, stack := range stacks {
			assert.Contains(t, stack, "http_handler_test.go", "the log has the stack of the panic")
		}
	})
}

func TestHTTPHandlerContextCancelledOnClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		started := make(chan struct{})
		cancelled := make(chan error, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/wait", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-r.Context().Done()
				cancelled <- r.Context().Err()
				_, err := w.Write([]byte("too late"))
				assert.NoError(t, err, "Write only buffers")
			})))
		})
		clientErr := make(chan error, 1)
		go func() {
			resp, err := noKeepAliveClient().Get(hs.url + "/wait")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					err = fmt.Errorf("got a reply with status %d", resp.StatusCode)
				}
			}
			clientErr <- err
		}()
		<-started
		require.NoError(t, hs.server.Close())
		select {
		case err := <-cancelled:
			assert.ErrorIs(t, err, context.Canceled)
		case <-time.After(30 * time.Second):
			t.Fatal("the handler's context was not cancelled by HTTPServer.Close")
		}
		assert.Error(t, <-clientErr, "the client gets no reply from a closed server")
	})
}

func TestHTTPHandlerContextCancelledOnReturn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		contexts := make(chan context.Context, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.NoError(t, r.Context().Err())
				contexts <- r.Context()
			})))
		})
		resp, _ := getResponseBody(t, noKeepAliveClient(), hs.url+"/")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		ctx := <-contexts
		<-ctx.Done()
		assert.ErrorIs(t, ctx.Err(), context.Canceled)
	})
}

func TestHTTPHandlerConcurrentRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if !assert.NoError(t, err) {
					return
				}
				w.Header().Set("X-Id", r.Header.Get("X-Id"))
				// Handlers run on their own goroutines, so a slow one
				// does not hold up the others.
				time.Sleep(time.Millisecond)
				w.Write(bytes.Repeat(body, 3))
			})))
		})
		transport := &http.Transport{MaxIdleConnsPerHost: 16}
		t.Cleanup(transport.CloseIdleConnections)
		c := &http.Client{Transport: transport}
		const clients, perClient = 16, 20
		var wg sync.WaitGroup
		errs := make(chan error, clients*perClient)
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < perClient; j++ {
					id := fmt.Sprintf("%d-%d", i, j)
					payload := strings.Repeat(id+";", 100*(j+1))
					req, err := http.NewRequest("POST", hs.url+"/echo", strings.NewReader(payload))
					if err != nil {
						errs <- err
						return
					}
					req.Header.Set("X-Id", id)
					resp, err := c.Do(req)
					if err != nil {
						errs <- err
						return
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case err != nil:
						errs <- err
					case resp.Header.Get("X-Id") != id:
						errs <- fmt.Errorf("request %s got the reply of %s", id, resp.Header.Get("X-Id"))
					case string(body) != strings.Repeat(payload, 3):
						errs <- fmt.Errorf("request %s got a wrong body of %d bytes", id, len(body))
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestHTTPHandlerFileServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		dir := t.TempDir()
		big := patternBytes(200 << 10)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, file\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644))
		mux := http.NewServeMux()
		mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(dir))))
		mux.HandleFunc("GET /api/{name}", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "name=%s", r.PathValue("name"))
		})
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTPDefault(mux))
		})
		c := noKeepAliveClient()

		resp, body := getResponseBody(t, c, hs.url+"/static/hello.txt")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "hello, file\n", string(body))
		assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
		lastModified := resp.Header.Get("Last-Modified")
		assert.NotEmpty(t, lastModified)

		resp, body = getResponseBody(t, c, hs.url+"/static/big.bin")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, int64(len(big)), resp.ContentLength, "FileServer sets Content-Length")
		assert.True(t, bytes.Equal(big, body))

		req, err := http.NewRequest("GET", hs.url+"/static/big.bin", nil)
		require.NoError(t, err)
		req.Header.Set("Range", "bytes=1000-1999")
		resp, err = c.Do(req)
		require.NoError(t, err)
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
		assert.Equal(t, big[1000:2000], body)

		req, err = http.NewRequest("GET", hs.url+"/static/hello.txt", nil)
		require.NoError(t, err)
		req.Header.Set("If-Modified-Since", lastModified)
		resp, err = c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotModified, resp.StatusCode)

		resp, err = c.Head(hs.url + "/static/big.bin")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, int64(len(big)), resp.ContentLength)

		resp, _ = getResponseBody(t, c, hs.url+"/static/missing.txt")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)

		resp, body = getResponseBody(t, c, hs.url+"/api/widget")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "name=widget", string(body))
	})
}

func TestHTTPHandlerWithCurl(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTPDefault(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if !assert.NoError(t, err) {
					return
				}
				w.Header().Set("X-Proto", r.Proto)
				if r.URL.Path == "/stream" {
					for i := 0; i < 3; i++ {
						fmt.Fprintf(w, "part %d\n", i)
						w.(http.Flusher).Flush()
					}
					return
				}
				fmt.Fprintf(w, "%s %s %q", r.Method, r.URL.Path, body)
			})))
		})
		out := runPeer(t, nil, "curl", "-sS", "-i", "--max-time", "30", "-d", "a=1&b=2", hs.url+"/form")
		reply := string(out)
		assert.True(t, strings.HasPrefix(reply, "HTTP/1.1 200 OK\r\n"), "reply: %q", reply)
		assert.Contains(t, reply, "X-Proto: HTTP/1.1\r\n")
		assert.Contains(t, reply, "Content-Length: 20\r\n")
		assert.True(t, strings.HasSuffix(reply, "\r\n\r\nPOST /form \"a=1&b=2\""), "reply: %q", reply)

		out = runPeer(t, nil, "curl", "-sS", "-i", "--http1.0", "--max-time", "30", hs.url+"/stream")
		reply = string(out)
		assert.True(t, strings.HasPrefix(reply, "HTTP/1.0 200 OK\r\n"), "reply: %q", reply)
		assert.Contains(t, reply, "X-Proto: HTTP/1.0\r\n")
		assert.NotContains(t, reply, "Transfer-Encoding")
		assert.True(t, strings.HasSuffix(reply, "\r\n\r\npart 0\npart 1\npart 2\n"), "reply: %q", reply)

		out = runPeer(t, nil, "curl", "-sS", "--max-time", "30", hs.url+"/stream")
		assert.Equal(t, "part 0\npart 1\npart 2\n", string(out))
	})
}

// Handlers that block at the same time each get a goroutine, also when
// earlier requests left idle goroutines to reuse.
func TestHTTPHandlerBlockedHandlersOverlap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		const overlapping = 8
		var arrived sync.WaitGroup
		arrived.Add(overlapping)
		allInside := make(chan struct{})
		go func() {
			arrived.Wait()
			close(allInside)
		}()
		var blocking sync.Mutex
		block := false
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				blocking.Lock()
				wait := block
				blocking.Unlock()
				if wait {
					arrived.Done()
					select {
					case <-allInside:
					case <-time.After(30 * time.Second):
						http.Error(w, "the other handlers did not run meanwhile", http.StatusInternalServerError)
						return
					}
				}
				io.WriteString(w, "ok")
			})))
		})
		transport := &http.Transport{MaxIdleConnsPerHost: overlapping}
		t.Cleanup(transport.CloseIdleConnections)
		c := &http.Client{Transport: transport}

		// Sequential requests leave idle handler goroutines behind.
		for i := 0; i < 3; i++ {
			resp, body := getResponseBody(t, c, hs.url+"/")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "ok", string(body))
		}

		blocking.Lock()
		block = true
		blocking.Unlock()
		statuses := make(chan int, overlapping)
		for i := 0; i < overlapping; i++ {
			go func() {
				resp, err := c.Get(hs.url + "/")
				if err != nil {
					t.Error(err)
					statuses <- 0
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		for i := 0; i < overlapping; i++ {
			assert.Equal(t, http.StatusOK, <-statuses, "request %d", i)
		}
	})
}

// Headers that fit the adapter's scratch buffer and headers that do not
// both reach the handler whole.
func TestHTTPHandlerHeaderSizes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.Header.Get("X-Big")+"|"+r.Header.Get("X-Small"))
			})))
		})
		c := noKeepAliveClient()
		for _, size := range []int{10, headerScratchSize / 2, headerScratchSize, 3 * headerScratchSize} {
			big := strings.Repeat("v", size)
			req, err := http.NewRequest("GET", hs.url+"/", nil)
			require.NoError(t, err)
			req.Header.Set("X-Big", big)
			req.Header.Set("X-Small", "small")
			resp, err := c.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "header of %d bytes", size)
			assert.Equal(t, big+"|small", string(body), "header of %d bytes", size)
		}
	})
}

// TestHTTPHandlerHostAndProto sends raw requests whose Host header is in
// lower case or repeated, or whose URI is absolute, and checks Request.Host,
// Header and Proto as net/http's server would set them.
func TestHTTPHandlerHostAndProto(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		seen := make(chan *http.Request, 1)
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTPDefault(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r
			})))
		})
		cases := []struct {
			request string
			host    string
			proto   string
		}{
			{"GET /a HTTP/1.1\r\nhost: lower.example\r\nX-After: 1\r\n\r\n", "lower.example", "HTTP/1.1"},
			{"GET /a HTTP/1.1\r\nHost: first.example\r\nHOST: second.example\r\nX-After: 1\r\n\r\n", "first.example", "HTTP/1.1"},
			{"GET http://uri.example/a HTTP/1.1\r\nHost: header.example\r\nX-After: 1\r\n\r\n", "uri.example", "HTTP/1.1"},
			{"GET /a HTTP/1.0\r\nHost: old.example\r\nX-After: 1\r\n\r\n", "old.example", "HTTP/1.0"},
		}
		for _, tc := range cases {
			c, err := net.Dial("tcp", hs.addr)
			require.NoError(t, err)
			require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
			_, err = io.WriteString(c, tc.request)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err, "request %q", tc.request)
			resp.Body.Close()
			c.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)

			r := <-seen
			assert.Equal(t, tc.host, r.Host, "request %q", tc.request)
			assert.Equal(t, tc.proto, r.Proto, "request %q", tc.request)
			assert.Empty(t, r.Header.Values("Host"), "request %q", tc.request)
			assert.Equal(t, "1", r.Header.Get("X-After"), "request %q", tc.request)
		}
	})
}

// TestHTTPHandlerHeaderSnapshot checks what WriteHeader takes from the
// header map: later changes, even to a value slice, do not reach the
// client, an invalid Content-Length is dropped, and Content-Type is sniffed
// only when the handler set none.
func TestHTTPHandlerHeaderSnapshot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTP("/late", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["X-Kept"] = []string{"before"}
				w.WriteHeader(http.StatusOK)
				w.Header()["X-Kept"][0] = "after"
				w.Header().Set("Content-Type", "text/late")
				io.WriteString(w, "<html><body>sniffed</body></html>")
			})))
			require.NoError(t, s.HandleHTTP("/length", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "not a number")
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, "body")
			})))
		})
		client := noKeepAliveClient()

		resp, err := client.Get(hs.url + "/late")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "before", resp.Header.Get("X-Kept"))
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Equal(t, "<html><body>sniffed</body></html>", string(body))

		resp, err = client.Get(hs.url + "/length")
		require.NoError(t, err)
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "body", string(body))
		assert.Equal(t, int64(4), resp.ContentLength)
		assert.Equal(t, []string{"4"}, resp.Header.Values("Content-Length"))
		assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	})
}

func TestHTTPHandlerNoContentLengthOn204And304(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTPDefault(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/204":
					w.WriteHeader(http.StatusNoContent)
				case "/304":
					w.WriteHeader(http.StatusNotModified)
				case "/204-set":
					// net/http drops these headers that the handler set.
					w.Header().Set("Content-Length", "0")
					w.Header().Set("Content-Type", "text/plain")
					w.WriteHeader(http.StatusNoContent)
				case "/304-set":
					w.Header().Set("Content-Length", "42")
					w.Header().Set("Content-Type", "text/plain")
					w.Header().Set("ETag", `"v1"`)
					w.WriteHeader(http.StatusNotModified)
				}
			})))
		})
		cases := []struct {
			path, status string
			// contentType is whether the reply keeps the handler's
			// Content-Type: net/http drops it from a 304 only.
			contentType bool
		}{
			{"/204", "HTTP/1.1 204 ", false},
			{"/304", "HTTP/1.1 304 ", false},
			{"/204-set", "HTTP/1.1 204 ", true},
			{"/304-set", "HTTP/1.1 304 ", false},
		}
		for _, tc := range cases {
			out, err := rawExchange(t, hs.addr, "GET "+tc.path+" HTTP/1.1\r\nHost: t\r\n\r\n")
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(out, tc.status), "%s: %q", tc.path, out)
			assert.NotContains(t, out, "\r\nContent-Length:", tc.path)
			if tc.contentType {
				assert.Contains(t, out, "\r\nContent-Type: text/plain\r\n", tc.path)
			} else {
				assert.NotContains(t, out, "\r\nContent-Type:", tc.path)
			}
		}
		out, err := rawExchange(t, hs.addr, "GET /304-set HTTP/1.1\r\nHost: t\r\n\r\n")
		require.NoError(t, err)
		assert.Contains(t, out, "\r\nEtag: \"v1\"\r\n", "other headers stay")
	})
}

func TestHTTPHandlerHeadSniffsContentType(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		const page = "<!DOCTYPE html><p>hi</p>"
		hs := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.HandleHTTPDefault(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Two writes, as a template might make them.
				io.WriteString(w, page[:5])
				io.WriteString(w, page[5:])
			})))
		})
		get, err := rawExchange(t, hs.addr, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		require.NoError(t, err)
		head, err := rawExchange(t, hs.addr, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
		require.NoError(t, err)
		for name, out := range map[string]string{"GET": get, "HEAD": head} {
			assert.Contains(t, out, "\r\nContent-Type: text/html; charset=utf-8\r\n", name)
			assert.Contains(t, out, fmt.Sprintf("\r\nContent-Length: %d\r\n", len(page)), name)
		}
		assert.True(t, strings.HasSuffix(get, "\r\n\r\n"+page), "GET reply: %q", get)
		assert.True(t, strings.HasSuffix(head, "\r\n\r\n"), "HEAD reply has no body: %q", head)
	})
}
