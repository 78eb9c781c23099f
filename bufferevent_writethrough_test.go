//go:build cgo

package libevent

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// readNow returns what fd holds now, without waiting.
func readNow(t *testing.T, fd int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return out
		}
		require.NoError(t, err)
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// newWriteThroughPair returns a socket BufferEvent with write-through on,
// and the descriptor of its peer.
func newWriteThroughPair(t *testing.T, b *Base) (*BufferEvent, int) {
	t.Helper()
	local, peer := newSocketPair(t)
	bev, err := b.NewBufferEvent(local, 0)
	require.NoError(t, err)
	t.Cleanup(func() { bev.Close() })
	require.NoError(t, bev.SetWriteThrough(true))
	return bev, peer
}

func TestWriteThroughWritesAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)

		// Without write-through, nothing reaches the peer before the loop
		// runs.
		local, plainPeer := newSocketPair(t)
		plain, err := b.NewBufferEvent(local, 0)
		require.NoError(t, err)
		defer plain.Close()
		_, err = plain.WriteString("queued")
		require.NoError(t, err)
		assert.Empty(t, readNow(t, plainPeer))

		bev, peer := newWriteThroughPair(t, b)
		assert.True(t, bev.WriteThrough())
		assert.False(t, plain.WriteThrough())
		_, err = bev.WriteString("hello")
		require.NoError(t, err)
		assert.Equal(t, "hello", string(readNow(t, peer)))
		assert.Zero(t, bev.Output().Len())

		// The output is empty again, so the next write goes at once too.
		_, err = bev.Write([]byte(" world"))
		require.NoError(t, err)
		assert.Equal(t, " world", string(readNow(t, peer)))

		buf, err := NewBuffer()
		require.NoError(t, err)
		defer buf.Close()
		_, err = buf.WriteString("from a buffer")
		require.NoError(t, err)
		require.NoError(t, bev.WriteBuffer(buf))
		assert.Equal(t, "from a buffer", string(readNow(t, peer)))
		assert.Zero(t, buf.Len())
	})
}

// TestWriteThroughRelay moves a pair's input into a socket bufferevent
// with write-through on.
func TestWriteThroughRelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, peer := newWriteThroughPair(t, b)
		writer, reader, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		defer writer.Close()
		defer reader.Close()
		require.NoError(t, reader.Enable(EvRead))
		require.NoError(t, writer.Enable(EvWrite))
		_, err = writer.WriteString("relayed")
		require.NoError(t, err)
		runPending(t, b)

		n, err := reader.MoveInputTo(bev)
		require.NoError(t, err)
		assert.Equal(t, len("relayed"), n)
		assert.Equal(t, "relayed", string(readNow(t, peer)))
		assert.Zero(t, reader.Input().Len())
		assert.Zero(t, bev.Output().Len())
	})
}

// TestWriteThroughCallbackOncePerPass writes 100 times before the loop
// runs: the write callback runs once, as after one write by the loop.
func TestWriteThroughCallbackOncePerPass(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, peer := newWriteThroughPair(t, b)
		calls := 0
		require.NoError(t, bev.SetCallbacks(nil, func(*BufferEvent) { calls++ }, nil))

		for i := 0; i < 100; i++ {
			_, err := bev.WriteString("x")
			require.NoError(t, err)
		}
		assert.Len(t, readNow(t, peer), 100)
		runPending(t, b)
		assert.Equal(t, 1, calls)
	})
}

// TestWriteThroughCloseBeforeLoop closes the bufferevent and its base
// before the loop runs the write callback that a write at once scheduled.
// The descriptor is still closed, so the peer reads EOF.
func TestWriteThroughCloseBeforeLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := bk.config
		b, err := NewBase(&cfg)
		require.NoError(t, err)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		peer := fds[1]
		defer unix.Close(peer)
		bev, err := b.NewBufferEvent(fds[0], BEVOptCloseOnFree)
		require.NoError(t, err)
		require.NoError(t, bev.SetWriteThrough(true))
		require.NoError(t, bev.SetCallbacks(nil, func(*BufferEvent) {}, nil))

		_, err = bev.WriteString("bye")
		require.NoError(t, err)
		require.NoError(t, bev.Close())
		require.NoError(t, b.Close())

		waitReadable(t, peer)
		assert.Equal(t, "bye", string(readNow(t, peer)))
		buf := make([]byte, 8)
		n, err := unix.Read(peer, buf)
		require.NoError(t, err)
		assert.Zero(t, n, "the descriptor stayed open")
	})
}

func TestWriteThroughWriteCallbackFromLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, peer := newWriteThroughPair(t, b)
		calls := 0
		require.NoError(t, bev.SetCallbacks(nil, func(*BufferEvent) { calls++ }, nil))

		_, err := bev.WriteString("ping")
		require.NoError(t, err)
		assert.Equal(t, "ping", string(readNow(t, peer)))
		assert.Zero(t, calls, "the write callback ran inside Write")

		runPending(t, b)
		assert.Equal(t, 1, calls)
	})
}

// TestWriteThroughRestGoesThroughLoop writes more than the socket takes:
// the rest, and what is added after it, goes out from the loop in order,
// and write-through resumes once the output is empty.
func TestWriteThroughRestGoesThroughLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, peer := newWriteThroughPair(t, b)
		writes := 0
		require.NoError(t, bev.SetCallbacks(nil, func(*BufferEvent) { writes++ }, nil))

		first := bytes.Repeat([]byte("a"), 4<<20)
		second := bytes.Repeat([]byte("b"), 1000)
		_, err := bev.Write(first)
		require.NoError(t, err)
		queued := bev.Output().Len()
		assert.Positive(t, queued, "the socket took all of 4 MiB")
		assert.Less(t, queued, len(first), "nothing was written at once")
		_, err = bev.Write(second)
		require.NoError(t, err)
		assert.Equal(t, queued+len(second), bev.Output().Len(), "data added behind queued data was written at once")

		want := append(append([]byte{}, first...), second...)
		var got []byte
		for len(got) < len(want) {
			runPending(t, b)
			got = append(got, readNow(t, peer)...)
		}
		assert.True(t, bytes.Equal(want, got), "the peer received %d bytes out of order", len(got))
		assert.Zero(t, bev.Output().Len())
		assert.Positive(t, writes)

		_, err = bev.WriteString("again")
		require.NoError(t, err)
		assert.Equal(t, "again", string(readNow(t, peer)))
	})
}

// assertLoopDelivers checks that want is still queued, then runs a pass of
// b's loop and checks that it reaches the peer.
func assertLoopDelivers(t *testing.T, b *Base, bev *BufferEvent, peer int, want string) {
	t.Helper()
	assert.Empty(t, readNow(t, peer))
	assert.Equal(t, len(want), bev.Output().Len())
	runPending(t, b)
	waitReadable(t, peer)
	assert.Equal(t, want, string(readNow(t, peer)))
}

func TestWriteThroughDisabledWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, peer := newWriteThroughPair(t, b)
		require.NoError(t, bev.Disable(EvWrite))

		_, err := bev.WriteString("held")
		require.NoError(t, err)
		assert.Empty(t, readNow(t, peer))

		require.NoError(t, bev.Enable(EvWrite))
		assertLoopDelivers(t, b, bev, peer, "held")
	})
}

func TestWriteThroughOff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, peer := newWriteThroughPair(t, b)
		require.NoError(t, bev.SetWriteThrough(false))

		_, err := bev.WriteString("later")
		require.NoError(t, err)
		assertLoopDelivers(t, b, bev, peer, "later")
	})
}

// TestWriteThroughRateLimit checks that a write at once takes no more than
// the write bucket holds, and counts against the bufferevent's and the
// group's buckets.
func TestWriteThroughRateLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, peer := newWriteThroughPair(t, b)
		tb, err := NewTokenBucket(1<<20, 1<<20, 100, 100, 20*time.Millisecond)
		require.NoError(t, err)
		defer tb.Close()
		require.NoError(t, bev.SetRateLimit(tb))
		groupBucket, err := NewTokenBucket(1<<20, 1<<20, 1<<20, 1<<20, time.Second)
		require.NoError(t, err)
		defer groupBucket.Close()
		group, err := b.NewRateLimitGroup(groupBucket)
		require.NoError(t, err)
		defer group.Close()
		require.NoError(t, group.Add(bev))

		// Setting the rate limit added the write event, although the
		// output is empty. Writes wait for the loop until its next pass
		// removes the event.
		runPending(t, b)

		data := bytes.Repeat([]byte("r"), 450)
		_, err = bev.Write(data)
		require.NoError(t, err)
		first := readNow(t, peer)
		assert.Len(t, first, 100, "the first write ignored the write bucket")
		assert.LessOrEqual(t, bev.WriteLimit(), int64(0))
		_, written := group.Totals()
		assert.Equal(t, uint64(100), written)

		got := first
		deadline := time.Now().Add(time.Minute)
		for len(got) < len(data) && time.Now().Before(deadline) {
			require.NoError(t, b.Loop(LoopOnce))
			got = append(got, readNow(t, peer)...)
		}
		assert.Equal(t, data, got)
	})
}

// TestWriteThroughWriteError writes to a socket whose peer is closed: the
// data stays in the output, and the loop's write reports the error.
func TestWriteThroughWriteError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		bev, err := b.NewBufferEvent(fds[0], BEVOptCloseOnFree)
		require.NoError(t, err)
		defer bev.Close()
		require.NoError(t, bev.SetWriteThrough(true))
		require.NoError(t, unix.Close(fds[1]))
		var events []eventRecord
		require.NoError(t, bev.SetCallbacks(nil, nil, func(_ *BufferEvent, what BEVEvents, err error) {
			events = append(events, eventRecord{what, err})
		}))

		_, err = bev.WriteString("lost")
		require.NoError(t, err)
		assert.Equal(t, 4, bev.Output().Len())
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		require.Len(t, events, 1)
		assert.Equal(t, BEVEventError|BEVEventWriting, events[0].what)
		assert.True(t, errors.Is(events[0].err, syscall.EPIPE) || errors.Is(events[0].err, syscall.ECONNRESET),
			"errno %v", events[0].err)
	})
}

func TestWriteThroughNeedsSocket(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		pairEnd, otherEnd, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		defer pairEnd.Close()
		defer otherEnd.Close()
		err = pairEnd.SetWriteThrough(true)
		require.ErrorIs(t, err, syscall.EOPNOTSUPP)
		assert.Contains(t, err.Error(), "socket bufferevent")
		require.NoError(t, pairEnd.SetWriteThrough(false))

		local, peer := newSocketPair(t)
		underlying, err := b.NewBufferEvent(local, 0)
		require.NoError(t, err)
		require.NoError(t, underlying.SetWriteThrough(true))
		filter, err := b.NewBufferEventFilter(underlying, nil, nil, BEVOptCloseOnFree)
		require.NoError(t, err)
		defer filter.Close()
		assert.False(t, underlying.WriteThrough(), "the filter left write-through on")
		err = filter.SetWriteThrough(true)
		require.ErrorIs(t, err, syscall.EOPNOTSUPP)

		// The filter turned write-through off on its underlying
		// bufferevent, whose writes go from the loop again.
		require.NoError(t, filter.Enable(EvWrite))
		_, err = filter.WriteString("filtered")
		require.NoError(t, err)
		var got []byte
		for len(got) < len("filtered") {
			runPending(t, b)
			got = append(got, readNow(t, peer)...)
		}
		assert.Equal(t, "filtered", string(got))
	})
}

// TestWriteThroughThreadSafe writes from other goroutines while the loop
// runs on a thread-safe bufferevent.
func TestWriteThroughThreadSafe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		local, peer := newSocketPair(t)
		bev, err := b.NewBufferEvent(local, BEVOptThreadSafe)
		require.NoError(t, err)
		defer bev.Close()
		require.NoError(t, bev.SetWriteThrough(true))
		keep, err := b.NewEvent(-1, EvPersist, func(*Event, EventFlags) {})
		require.NoError(t, err)
		require.NoError(t, keep.AddTimeout(time.Hour))
		defer keep.Close()

		loopDone := make(chan error, 1)
		go func() { loopDone <- b.Dispatch() }()
		const writers, perWriter = 4, 200
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perWriter; i++ {
					_, err := bev.WriteString("0123456789abcdef")
					assert.NoError(t, err)
				}
			}()
		}
		total := writers * perWriter * 16
		var got []byte
		for len(got) < total {
			waitReadable(t, peer)
			got = append(got, readNow(t, peer)...)
		}
		wg.Wait()
		assert.Equal(t, bytes.Repeat([]byte("0123456789abcdef"), writers*perWriter), got)
		// Write-through needs no loop, so the loop may not have started
		// yet, and a start clears a break that came before it. A break
		// from a posted function comes from the running loop.
		require.NoError(t, b.Post(func() { assert.NoError(t, b.LoopBreak()) }))
		require.NoError(t, <-loopDone)
	})
}

// TestWriteThroughEchoTCP serves Go net clients over TCP on loopback with a
// write-through echo.
func TestWriteThroughEchoTCP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var bevs []*BufferEvent
		ln, err := b.Listen("tcp", "127.0.0.1:0", LEVOptReusable|LEVOptCloseOnFree, -1, func(_ *Listener, fd int, _ net.Addr) {
			bev, err := b.NewBufferEvent(fd, BEVOptCloseOnFree)
			if !assert.NoError(t, err) {
				unix.Close(fd)
				return
			}
			bevs = append(bevs, bev)
			assert.NoError(t, bev.SetWriteThrough(true))
			assert.NoError(t, bev.SetCallbacks(func(bev *BufferEvent) {
				_, err := bev.MoveInputTo(bev)
				assert.NoError(t, err)
			}, nil, func(bev *BufferEvent, what BEVEvents, _ error) {
				bev.Close()
			}))
			assert.NoError(t, bev.Enable(EvRead))
		})
		require.NoError(t, err)
		defer ln.Close()
		addr, err := ln.Addr()
		require.NoError(t, err)

		loopDone := make(chan error, 1)
		go func() { loopDone <- b.Dispatch() }()
		const clients, rounds = 8, 200
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				conn, err := net.Dial("tcp", addr.String())
				if !assert.NoError(t, err) {
					return
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(time.Minute))
				msg := bytes.Repeat([]byte{byte('a' + c)}, 64)
				reply := make([]byte, len(msg))
				for i := 0; i < rounds; i++ {
					_, err := conn.Write(msg)
					if !assert.NoError(t, err) {
						return
					}
					_, err = io.ReadFull(conn, reply)
					if !assert.NoError(t, err) || !assert.Equal(t, msg, reply) {
						return
					}
				}
			}(c)
		}
		wg.Wait()
		require.NoError(t, b.LoopBreak())
		require.NoError(t, <-loopDone)
		assert.Len(t, bevs, clients)
	})
}
