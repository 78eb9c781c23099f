//go:build cgo

package libevent

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/golibevent/libevent/internal/chttp"
	"github.com/golibevent/libevent/internal/cthread"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cServer is an evhttp that C code created on a base, with its C handlers,
// and the URL of its socket on 127.0.0.1.
type cServer struct {
	c   *chttp.Server
	url string
}

// newCServer creates the C server of package chttp on base and frees it
// when the test ends. Register it before anything that must be closed
// before it, because cleanups run in reverse order.
func newCServer(t *testing.T, base unsafe.Pointer) *cServer {
	t.Helper()
	cs, err := chttp.NewServer(base)
	require.NoError(t, err)
	t.Cleanup(cs.Free)
	return &cServer{c: cs, url: fmt.Sprintf("http://127.0.0.1:%d", cs.Port)}
}

// wrapCServer starts a C evhttp server on a new base on bk and wraps it
// with WrapHTTPServer, which is closed when the test ends.
func wrapCServer(t *testing.T, bk backend) (*Base, *cServer, *HTTPServer) {
	t.Helper()
	b := newBase(t, bk)
	cs := newCServer(t, b.C())
	s, err := WrapHTTPServer(cs.c.C(), b)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return b, cs, s
}

// httpGet sends a GET to url with a fresh connection and returns the status
// code and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   30 * time.Second,
	}
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// goReply returns a handler that replies with status 200 and body.
func goReply(body string) HandlerFunc {
	return func(r *HTTPRequest) { r.SendReply(200, "OK", []byte(body)) }
}

func TestServerAndRequestC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		uris := make(chan [2]string, 1)
		srv := startHTTPServer(t, bk, func(s *HTTPServer) {
			require.NoError(t, s.Handle("/ptr", func(r *HTTPRequest) {
				uris <- [2]string{r.URI(), chttp.RequestURI(r.C())}
				assert.NoError(t, r.SendReply(200, "OK", nil))
				assert.Nil(t, r.C(), "C after the reply")
			}))
		})
		require.NotNil(t, srv.server.C())
		assert.Equal(t, unsafe.Pointer(srv.server.ptr), srv.server.C())

		code, _ := httpGet(t, srv.url+"/ptr?x=1")
		require.Equal(t, 200, code)
		got := <-uris
		assert.Equal(t, "/ptr?x=1", got[0])
		assert.Equal(t, got[0], got[1], "C read another URI through HTTPRequest.C")

		s, err := NewHTTPServer(srv.base)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		assert.Nil(t, s.C())
		var zero *HTTPServer
		assert.Nil(t, zero.C())
		var nilRequest *HTTPRequest
		assert.Nil(t, nilRequest.C())
	})
}

func TestWrapHTTPServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		cs := newCServer(t, b.C())
		s, err := WrapHTTPServer(cs.c.C(), b)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		assert.Equal(t, cs.c.C(), s.C())

		require.NoError(t, s.Handle("/go", goReply("from Go")))
		assert.ErrorIs(t, s.Handle("/c", goReply("stolen")), ErrInvalid, "a path that C code set")
		vhost, err := s.AddVirtualHost("vhost.test")
		require.NoError(t, err)
		require.NoError(t, vhost.Handle("/v", goReply("from a Go virtual host")))
		held := make(chan *HTTPRequest, 1)
		require.NoError(t, s.Handle("/hold", func(r *HTTPRequest) {
			assert.ErrorIs(t, r.OnComplete(func(*HTTPRequest) {}), ErrInvalid)
			held <- r
		}))
		runLoopUntilCleanup(t, b)

		check := func(path string, wantCode int, wantBody string) {
			t.Helper()
			code, body := httpGet(t, cs.url+path)
			assert.Equal(t, wantCode, code, path)
			if wantBody != "" {
				assert.Equal(t, wantBody, body, path)
			}
		}
		check("/go", 200, "from Go")
		check("/c", 200, "from C")
		check("/other", 200, "C default")

		req, err := http.NewRequest("GET", cs.url+"/v", nil)
		require.NoError(t, err)
		req.Host = "vhost.test"
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "from a Go virtual host", string(body))

		require.NoError(t, s.HandleDefault(goReply("Go default")))
		check("/other", 200, "Go default")

		// A request that a Go handler holds at Close gets 503.
		heldResult := make(chan int, 1)
		go func() {
			code, _ := httpGet(t, cs.url+"/hold")
			heldResult <- code
		}()
		var r *HTTPRequest
		select {
		case r = <-held:
		case <-time.After(30 * time.Second):
			t.Fatal("the /hold handler did not run")
		}

		require.NoError(t, s.Close())
		require.NoError(t, s.Close(), "second Close")
		assert.Equal(t, 503, <-heldResult)
		assert.ErrorIs(t, r.SendReply(200, "OK", nil), ErrClosed)
		assert.Nil(t, s.C())
		assert.ErrorIs(t, s.Handle("/again", goReply("x")), ErrClosed)

		// The C server lives on without Go's handlers.
		check("/c", 200, "from C")
		check("/go", 404, "")
		check("/other", 404, "")
	})
}

func TestWrapHTTPServerOnCThread(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		ptr := newCBase(t, bk)
		b, err := WrapBase(ptr)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close()) })
		cs := newCServer(t, ptr)
		s, err := WrapHTTPServer(cs.c.C(), b)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })

		// The handlers are set before the C thread runs the loop, because
		// evhttp has no locks. The first request is sent after loop is
		// stored, which the race detector cannot see, hence the atomic.
		onThread := make(chan bool, 1)
		var running atomic.Pointer[cthread.Loop]
		require.NoError(t, s.Handle("/go", func(r *HTTPRequest) {
			onThread <- running.Load().OnLoopThread()
			r.SendReply(200, "OK", []byte("Go on the C thread"))
		}))
		loop, err := cthread.Start(ptr, true)
		require.NoError(t, err)
		running.Store(loop)
		stopped := false
		t.Cleanup(func() {
			if !stopped {
				loop.Stop()
			}
		})

		code, body := httpGet(t, cs.url+"/go")
		assert.Equal(t, 200, code)
		assert.Equal(t, "Go on the C thread", body)
		assert.True(t, <-onThread, "the Go handler ran off the C thread")
		code, body = httpGet(t, cs.url+"/c")
		assert.Equal(t, 200, code)
		assert.Equal(t, "from C", body)

		stopped = true
		assert.Equal(t, 0, loop.Stop())
	})
}

func TestWrapRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		other := newBase(t, bk)
		cs := newCServer(t, b.C())

		type seen struct {
			method, uri, header, body string
			cMatches                  bool
			otherBaseErr, complErr    error
		}
		got := make(chan seen, 1)
		later := make(chan *HTTPRequest, 1)
		chttp.SetHandOver(func(req unsafe.Pointer) {
			var v seen
			_, v.otherBaseErr = WrapHTTPRequest(req, other)
			r, err := WrapHTTPRequest(req, b)
			if !assert.NoError(t, err) {
				return
			}
			v.cMatches = r.C() == req
			v.method, v.uri = r.Method(), r.URI()
			v.header = r.InputHeaders().Get("X-Test")
			data, err := io.ReadAll(r.Body())
			assert.NoError(t, err)
			v.body = string(data)
			v.complErr = r.OnComplete(func(*HTTPRequest) {})
			got <- v
			// The reply comes later from another goroutine.
			later <- r
		})
		t.Cleanup(func() { chttp.SetHandOver(nil) })
		runLoopUntilCleanup(t, b)

		replies := make(chan error, 2)
		go func() {
			r := <-later
			replies <- r.SendReply(201, "Made", []byte("answered by Go"))
			replies <- r.SendReply(200, "OK", nil)
		}()

		req, err := http.NewRequest("POST", cs.url+"/handover?q=1", strings.NewReader("payload"))
		require.NoError(t, err)
		req.Header.Set("X-Test", "header value")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, 201, resp.StatusCode)
		assert.Equal(t, "answered by Go", string(body))

		v := <-got
		assert.True(t, v.cMatches, "HTTPRequest.C is not the pointer C handed over")
		assert.Equal(t, "POST", v.method)
		assert.Equal(t, "/handover?q=1", v.uri)
		assert.Equal(t, "header value", v.header)
		assert.Equal(t, "payload", v.body)
		assert.ErrorIs(t, v.otherBaseErr, ErrInvalid, "wrapping with another base")
		assert.ErrorIs(t, v.complErr, ErrInvalid, "OnComplete on a wrapped request")
		assert.NoError(t, <-replies)
		assert.ErrorIs(t, <-replies, ErrReplied)
	})
}

func TestWrapHTTPBadInput(t *testing.T) {
	b, err := NewBase(nil)
	require.NoError(t, err)
	var anything byte
	ptr := unsafe.Pointer(&anything)

	_, err = WrapHTTPServer(nil, b)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = WrapHTTPServer(ptr, nil)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = WrapHTTPRequest(nil, b)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = WrapHTTPRequest(ptr, nil)
	assert.ErrorIs(t, err, ErrInvalid)

	require.NoError(t, b.Close())
	_, err = WrapHTTPServer(ptr, b)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = WrapHTTPRequest(ptr, b)
	assert.ErrorIs(t, err, ErrClosed)
}
