//go:build cgo

package libevent

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// httpServer is an HTTPServer on a running loop, bound to 127.0.0.1.
type httpServer struct {
	base   *Base
	server *HTTPServer
	addr   string // host:port of the bound socket
	url    string // "http://" + addr
}

// startHTTPServer creates an HTTPServer on a new base for bk, lets setup add
// handlers, binds 127.0.0.1:0 and runs the loop until the test ends.
func startHTTPServer(t *testing.T, bk backend, setup func(s *HTTPServer)) *httpServer {
	t.Helper()
	b := newBase(t, bk)
	s, err := NewHTTPServer(b)
	require.NoError(t, err)
	if setup != nil {
		setup(s)
	}
	addr, err := s.Bind("127.0.0.1:0")
	require.NoError(t, err)
	tcp, ok := addr.(*net.TCPAddr)
	require.True(t, ok, "bound address %v is not TCP", addr)
	require.NotZero(t, tcp.Port)
	runLoopUntilCleanup(t, b)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return &httpServer{base: b, server: s, addr: tcp.String(), url: "http://" + tcp.String()}
}

// runLoopUntilCleanup runs b's loop on another goroutine until the test
// ends, and fails the test if the loop ends with an error other than the
// cancellation.
func runLoopUntilCleanup(t *testing.T, b *Base) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.ErrorIs(t, <-result, context.Canceled)
	})
}
