//go:build cgo

package libevent

import (
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestGroupSpreadsConnections(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := bk.config
		g, err := NewGroup(2, &cfg)
		require.NoError(t, err)
		defer func() { require.NoError(t, g.Close()) }()
		bases := g.Bases()
		require.Len(t, bases, 2)

		var perBase [2]atomic.Int64
		var offLoop atomic.Int64
		listeners, err := g.Listen("tcp", "127.0.0.1:0", LEVOptCloseOnExec, -1, func(l *Listener, fd int, _ net.Addr) {
			i := 0
			if l.Base() == bases[1] {
				i = 1
			}
			if !l.Base().onLoopThread() {
				offLoop.Add(1)
			}
			perBase[i].Add(1)
			unix.Close(fd)
		})
		require.NoError(t, err)
		require.Len(t, listeners, 2)
		addr0, err := listeners[0].Addr()
		require.NoError(t, err)
		addr1, err := listeners[1].Addr()
		require.NoError(t, err)
		require.Equal(t, addr0.String(), addr1.String())

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()

		const conns = 300
		for i := 0; i < conns; i++ {
			c, err := net.DialTimeout("tcp", addr0.String(), 10*time.Second)
			require.NoError(t, err)
			require.NoError(t, c.Close())
		}
		waitFor(t, "every connection to be accepted", func() bool {
			return perBase[0].Load()+perBase[1].Load() == conns
		})
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)

		t.Logf("connections per base: %d, %d", perBase[0].Load(), perBase[1].Load())
		assert.Positive(t, perBase[0].Load(), "base 0 accepted no connection")
		assert.Positive(t, perBase[1].Load(), "base 1 accepted no connection")
		assert.Zero(t, offLoop.Load(), "accept callbacks off their loop's thread")
	})
}

func TestGroupRunStopsOnPanic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := bk.config
		g, err := NewGroup(2, &cfg)
		require.NoError(t, err)
		defer g.Close()
		require.NoError(t, g.Bases()[1].Post(func() { panic("boom") }))
		assert.PanicsWithValue(t, "boom", func() { _ = g.Run(context.Background()) })
	})
}

func TestGroupBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := bk.config
		_, err := NewGroup(-1, &cfg)
		assert.ErrorIs(t, err, ErrInvalid)

		g, err := NewGroup(1, &cfg)
		require.NoError(t, err)
		defer g.Close()
		_, err = g.Listen("unix", t.TempDir()+"/group.sock", 0, -1, func(*Listener, int, net.Addr) {})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = g.Listen("tcp", "127.0.0.1:port", 0, -1, func(*Listener, int, net.Addr) {})
		assert.ErrorIs(t, err, ErrInvalid)
		testGroupRunTwice(t, g)
	})
}

// testGroupRunTwice checks that a second Run of g fails while the first
// runs, and that Close after Run is harmless twice.
func testGroupRunTwice(t *testing.T, g *Group) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor(t, "the loop to start", func() bool { return g.Bases()[0].running.Load() })
	assert.ErrorIs(t, g.Run(context.Background()), ErrLoopRunning)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.NoError(t, g.Close())
	require.NoError(t, g.Close())
}

func TestGroupDefaultSize(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := bk.config
		g, err := NewGroup(0, &cfg)
		require.NoError(t, err)
		defer g.Close()
		assert.Len(t, g.Bases(), runtime.NumCPU())
		for _, b := range g.Bases() {
			assert.Equal(t, bk.config.Method, b.backend())
		}
	})
}
