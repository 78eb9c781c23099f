//go:build cgo

package libevent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// readAll drains bev's input into a string.
func readAll(t *testing.T, bev *BufferEvent) string {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := bev.Read(buf)
		out.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return out.String()
		}
		require.NoError(t, err)
	}
}

// runPending runs the callbacks that are ready without waiting. A base with
// only bufferevent pairs has no events, so the loop may end with
// ErrNoEvents.
func runPending(t *testing.T, b *Base) {
	t.Helper()
	if err := b.Loop(LoopNonBlock); err != nil {
		require.ErrorIs(t, err, ErrNoEvents)
	}
}

// eventRecord is one call of a bufferevent's event callback.
type eventRecord struct {
	what BEVEvents
	err  error
}

func TestPairDeliversData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		assert.Same(t, c, a.Partner())
		assert.Same(t, a, c.Partner())
		var got []string
		require.NoError(t, c.SetCallbacks(func(bev *BufferEvent) {
			got = append(got, readAll(t, bev))
		}, nil, nil))
		require.NoError(t, c.Enable(EvRead))

		n, err := a.Write([]byte("hello"))
		require.NoError(t, err)
		assert.Equal(t, 5, n)
		_, err = a.WriteString(", pair")
		require.NoError(t, err)
		runPending(t, b)
		assert.Equal(t, "hello, pair", stringsJoin(got))

		require.NoError(t, c.Close())
		assert.Nil(t, a.Partner(), "the closed partner is still reported")
		require.NoError(t, a.Close())
	})
}

func stringsJoin(parts []string) string {
	var out bytes.Buffer
	for _, p := range parts {
		out.WriteString(p)
	}
	return out.String()
}

// TestPairCallbacksAreDeferred checks that a pair's callbacks run from the
// loop, never inside Write: libevent 2.1 always defers them for pairs.
func TestPairCallbacksAreDeferred(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		assert.Equal(t, BEVOptDeferCallbacks, a.Options())
		reads := 0
		require.NoError(t, c.SetCallbacks(func(*BufferEvent) { reads++ }, nil, nil))
		require.NoError(t, c.Enable(EvRead))
		_, err = a.Write([]byte("x"))
		require.NoError(t, err)
		assert.Equal(t, 0, reads, "a deferred callback ran inside Write")
		runPending(t, b)
		assert.Equal(t, 1, reads)
	})
}

func TestSocketBufferEventEcho(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		local, peer := newSocketPair(t)
		bev, err := b.NewBufferEvent(local, 0)
		require.NoError(t, err)
		var events []eventRecord
		require.NoError(t, bev.SetCallbacks(func(bev *BufferEvent) {
			data := readAll(t, bev)
			_, err := bev.WriteString("echo:" + data)
			assert.NoError(t, err)
		}, nil, func(_ *BufferEvent, what BEVEvents, err error) {
			events = append(events, eventRecord{what, err})
			assert.NoError(t, b.LoopBreak())
		}))
		require.NoError(t, bev.Enable(EvRead|EvWrite))
		assert.Equal(t, EvRead|EvWrite, bev.Enabled())
		assert.Equal(t, local, bev.Fd())

		_, err = unix.Write(peer, []byte("ping"))
		require.NoError(t, err)
		require.NoError(t, b.Loop(LoopOnce))
		// The reply went to the output buffer; the next round writes it.
		require.NoError(t, b.Loop(LoopNonBlock))
		reply := make([]byte, 64)
		waitReadable(t, peer)
		n, err := unix.Read(peer, reply)
		require.NoError(t, err)
		assert.Equal(t, "echo:ping", string(reply[:n]))

		require.NoError(t, unix.Shutdown(peer, unix.SHUT_WR))
		require.NoError(t, b.Dispatch())
		require.Len(t, events, 1)
		assert.Equal(t, BEVEventEOF|BEVEventReading, events[0].what)
		assert.NoError(t, events[0].err)
		assert.Zero(t, bev.Enabled()&EvRead, "reading stayed enabled after EOF")
	})
}

// waitReadable waits until fd is readable, for at most a minute.
func waitReadable(t *testing.T, fd int) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 60_000)
	require.NoError(t, err)
	require.Equal(t, 1, n, "descriptor %d did not become readable", fd)
}

// TestWriteToClosedPeer writes to a socket whose peer is closed: the event
// callback reports the error with EPIPE or ECONNRESET, and SIGPIPE does not
// end the process.
func TestWriteToClosedPeer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		bev, err := b.NewBufferEvent(fds[0], BEVOptCloseOnFree)
		require.NoError(t, err)
		defer bev.Close()
		require.NoError(t, unix.Close(fds[1]))

		var events []eventRecord
		require.NoError(t, bev.SetCallbacks(nil, nil, func(_ *BufferEvent, what BEVEvents, err error) {
			events = append(events, eventRecord{what, err})
		}))
		chunk := bytes.Repeat([]byte("z"), 64<<10)
		writes := 0
		writer, err := b.NewEvent(-1, EvPersist, func(ev *Event, _ EventFlags) {
			_, err := bev.Write(chunk)
			assert.NoError(t, err)
			writes++
			if writes == 2 {
				assert.NoError(t, ev.Close())
			}
		})
		require.NoError(t, err)
		require.NoError(t, writer.AddTimeout(time.Millisecond))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		require.Len(t, events, 1)
		assert.Equal(t, BEVEventError|BEVEventWriting, events[0].what)
		assert.True(t, errors.Is(events[0].err, syscall.EPIPE) || errors.Is(events[0].err, syscall.ECONNRESET),
			"errno %v", events[0].err)
	})
}

// listenTCP starts a Go TCP listener on loopback that echoes each
// connection, and returns its address.
func listenTCP(t *testing.T, network, address string) net.Addr {
	t.Helper()
	ln, err := net.Listen(network, address)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
	return ln.Addr()
}

func TestConnect(t *testing.T) {
	tcp4 := listenTCP(t, "tcp4", "127.0.0.1:0")
	unixPath := filepath.Join(t.TempDir(), "echo.sock")
	unixAddr := listenTCP(t, "unix", unixPath)
	var tcp6 net.Addr
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		tcp6 = listenTCP(t, "tcp6", "[::1]:0")
	}

	forEachBackend(t, func(t *testing.T, bk backend) {
		connects := map[string]func(bev *BufferEvent) error{
			"string":  func(bev *BufferEvent) error { return bev.Connect(tcp4.String()) },
			"TCPAddr": func(bev *BufferEvent) error { return bev.ConnectAddr(tcp4) },
			"unix":    func(bev *BufferEvent) error { return bev.ConnectUnix(unixPath) },
			"UnixAddr": func(bev *BufferEvent) error {
				return bev.ConnectAddr(unixAddr)
			},
		}
		if tcp6 != nil {
			connects["IPv6"] = func(bev *BufferEvent) error { return bev.Connect(tcp6.String()) }
		}
		for name, connect := range connects {
			b := newBase(t, bk)
			bev, err := b.NewBufferEvent(-1, BEVOptCloseOnFree)
			require.NoError(t, err)
			var events []BEVEvents
			var reply string
			require.NoError(t, bev.SetCallbacks(func(bev *BufferEvent) {
				reply += readAll(t, bev)
				if reply == "through "+name {
					assert.NoError(t, b.LoopBreak())
				}
			}, nil, func(_ *BufferEvent, what BEVEvents, err error) {
				assert.NoError(t, err, name)
				events = append(events, what)
			}))
			require.NoError(t, connect(bev), name)
			require.NoError(t, bev.Enable(EvRead))
			_, err = bev.WriteString("through " + name)
			require.NoError(t, err)
			require.NoError(t, b.Dispatch(), name)
			assert.Equal(t, []BEVEvents{BEVEventConnected}, events, name)
			assert.Equal(t, "through "+name, reply)
			assert.GreaterOrEqual(t, bev.Fd(), 0)
			require.NoError(t, bev.Close())
		}
	})
}

func TestConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, err := b.NewBufferEvent(-1, BEVOptCloseOnFree)
		require.NoError(t, err)
		var events []eventRecord
		require.NoError(t, bev.SetCallbacks(nil, nil, func(_ *BufferEvent, what BEVEvents, err error) {
			events = append(events, eventRecord{what, err})
		}))
		require.NoError(t, bev.Connect(closedAddr))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		require.Len(t, events, 1)
		assert.NotZero(t, events[0].what&BEVEventError, "events %v", events[0].what)
		assert.ErrorIs(t, events[0].err, syscall.ECONNREFUSED)
	})
}

func TestWatermarks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		require.NoError(t, c.SetWatermark(EvRead, 4, 0))
		low, high, err := c.Watermark(EvRead)
		require.NoError(t, err)
		assert.Equal(t, 4, low)
		assert.Equal(t, 0, high)
		var got []string
		require.NoError(t, c.SetCallbacks(func(bev *BufferEvent) { got = append(got, readAll(t, bev)) }, nil, nil))
		require.NoError(t, c.Enable(EvRead))

		_, err = a.WriteString("abc")
		require.NoError(t, err)
		runPending(t, b)
		assert.Empty(t, got, "the read callback ran below the low watermark")
		_, err = a.WriteString("d")
		require.NoError(t, err)
		runPending(t, b)
		assert.Equal(t, []string{"abcd"}, got)

		// The write callback runs once the output drains to its low mark.
		writes := 0
		require.NoError(t, a.SetWatermark(EvWrite, 0, 0))
		require.NoError(t, a.SetCallbacks(nil, func(*BufferEvent) { writes++ }, nil))
		_, err = a.WriteString("more")
		require.NoError(t, err)
		runPending(t, b)
		assert.Positive(t, writes)
	})
}

// TestReadCallbackAtHighWatermark is the case of a read callback that hands
// the data to a goroutine without draining it, with read watermarks 0 and 4
// and 10 bytes from the peer: the callback runs a few times, not millions,
// in 200 ms, and every byte arrives once the goroutine drains the input.
func TestReadCallbackAtHighWatermark(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		local, peer := newSocketPair(t)
		bev, err := b.NewBufferEvent(local, BEVOptThreadSafe)
		require.NoError(t, err)
		require.NoError(t, bev.SetWatermark(EvRead, 0, 4))
		var calls atomic.Int64
		ready := make(chan struct{}, 100)
		require.NoError(t, bev.SetCallbacks(func(*BufferEvent) {
			calls.Add(1)
			select {
			case ready <- struct{}{}:
			default:
			}
		}, nil, nil))
		require.NoError(t, bev.Enable(EvRead))
		_, err = unix.Write(peer, []byte("0123456789"))
		require.NoError(t, err)

		require.NoError(t, b.LoopExit(200*time.Millisecond))
		require.NoError(t, b.Dispatch())
		assert.Less(t, calls.Load(), int64(10), "the read callback spun at the high watermark")
		assert.Equal(t, EvRead, bev.Enabled()&EvRead, "the pause shows as disabled reading")

		// A consumer goroutine drains; the loop delivers the rest.
		var received bytes.Buffer
		var mu sync.Mutex
		done := make(chan struct{})
		go func() {
			buf := make([]byte, 16)
			for range ready {
				n, err := bev.Read(buf)
				if err != nil && !errors.Is(err, io.EOF) {
					assert.NoError(t, err)
					return
				}
				mu.Lock()
				received.Write(buf[:n])
				full := received.Len() == 10
				mu.Unlock()
				if full {
					close(done)
					return
				}
			}
		}()
		ready <- struct{}{}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-done
			cancel()
		}()
		assert.ErrorIs(t, b.Run(ctx), context.Canceled)
		mu.Lock()
		assert.Equal(t, "0123456789", received.String())
		mu.Unlock()
	})
}

func TestBufferEventTimeouts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		local, _ := newSocketPair(t)
		bev, err := b.NewBufferEvent(local, 0)
		require.NoError(t, err)
		var events []BEVEvents
		require.NoError(t, bev.SetCallbacks(func(*BufferEvent) {}, nil, func(_ *BufferEvent, what BEVEvents, err error) {
			assert.NoError(t, err)
			events = append(events, what)
		}))
		start := time.Now()
		require.NoError(t, bev.SetTimeouts(20*time.Millisecond, 0))
		require.NoError(t, bev.Enable(EvRead))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond-coarseClockResolution(t))
		assert.Equal(t, []BEVEvents{BEVEventTimeout | BEVEventReading}, events)
		assert.Zero(t, bev.Enabled()&EvRead)
	})
}

func TestBufferEventFlushAndTrigger(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		reads, writes := 0, 0
		var events []BEVEvents
		require.NoError(t, c.SetCallbacks(func(*BufferEvent) { reads++ }, func(*BufferEvent) { writes++ },
			func(_ *BufferEvent, what BEVEvents, _ error) { events = append(events, what) }))

		// With reading disabled on c, the pair holds data in a's output
		// until a flush. libevent 2.1's pair flush reports 0 even when it
		// moved data.
		_, err = a.WriteString("held")
		require.NoError(t, err)
		assert.Equal(t, "", readAll(t, c))
		_, err = a.Flush(EvWrite, FlushAll)
		require.NoError(t, err)
		assert.Equal(t, "held", readAll(t, c))
		_, err = a.Flush(EvWrite, FlushNormal)
		require.NoError(t, err)
		// FlushFinished tells the partner that no more data follows.
		_, err = a.Flush(EvWrite, FlushFinished)
		require.NoError(t, err)
		runPending(t, b)
		assert.Equal(t, []BEVEvents{BEVEventEOF | BEVEventReading}, events)

		reads, writes = 0, 0
		require.NoError(t, c.Trigger(EvRead, true, false))
		require.NoError(t, c.Trigger(EvWrite, true, true))
		require.NoError(t, c.TriggerEvent(BEVEventEOF, false))
		runPending(t, b)
		assert.Equal(t, 1, reads)
		assert.Equal(t, 1, writes)
		assert.Equal(t, []BEVEvents{BEVEventEOF | BEVEventReading, BEVEventEOF}, events)
	})
}

func TestBufferEventSettings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		require.NoError(t, b.SetPriorities(3))
		local, _ := newSocketPair(t)
		bev, err := b.NewBufferEvent(-1, 0)
		require.NoError(t, err)
		assert.Equal(t, -1, bev.Fd())
		require.NoError(t, bev.SetFd(local))
		assert.Equal(t, local, bev.Fd())
		require.NoError(t, bev.SetPriority(2))
		assert.Equal(t, 2, bev.Priority())
		assert.ErrorIs(t, bev.SetPriority(3), ErrInvalid)
		require.NoError(t, bev.SetMaxSingleRead(1000))
		require.NoError(t, bev.SetMaxSingleWrite(2000))
		assert.Equal(t, 1000, bev.MaxSingleRead())
		assert.Equal(t, 2000, bev.MaxSingleWrite())
		assert.Same(t, b, bev.Base())
		assert.Equal(t, BufferEventOptions(0), bev.Options())
		assert.Equal(t, EvWrite, bev.Enabled(), "libevent enables writing on a new bufferevent")
		require.NoError(t, bev.Disable(EvWrite))
		assert.Zero(t, bev.Enabled())
	})
}

func TestBufferEventCallbackPanics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		local, _ := newSocketPair(t)
		bev, err := b.NewBufferEvent(local, 0)
		require.NoError(t, err)
		require.NoError(t, bev.SetCallbacks(func(*BufferEvent) { panic("synchronous") }, nil, nil))
		// A trigger without deferral runs the callback inside Trigger,
		// so Trigger panics.
		assert.Equal(t, "synchronous", recoverFrom(func() { _ = bev.Trigger(EvRead, true, false) }))
		assert.NoError(t, bev.SetWatermark(EvRead, 0, 0), "the panic was re-raised twice")

		// A deferred one runs from the loop, so the loop's caller panics.
		require.NoError(t, bev.Trigger(EvRead, true, true))
		assert.Equal(t, "synchronous", recoverFrom(func() { _ = b.Loop(LoopNonBlock) }))

		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		require.NoError(t, c.SetCallbacks(func(*BufferEvent) { panic("pair") }, nil, nil))
		require.NoError(t, c.Enable(EvRead))
		_, err = a.WriteString("x")
		require.NoError(t, err)
		assert.Equal(t, "pair", recoverFrom(func() { _ = b.Loop(LoopNonBlock) }))
	})
}

func TestBufferEventClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := handles.count.Load()
		b, err := NewBase(&bk.config)
		require.NoError(t, err)

		// Close in the bufferevent's own callback.
		a, c, err := b.NewBufferEventPair(BEVOptDeferCallbacks)
		require.NoError(t, err)
		require.NoError(t, c.SetCallbacks(func(bev *BufferEvent) { assert.NoError(t, bev.Close()) }, nil, nil))
		require.NoError(t, c.Enable(EvRead))
		_, err = a.WriteString("x")
		require.NoError(t, err)
		runPending(t, b)
		_, err = c.WriteString("after")
		assert.ErrorIs(t, err, ErrClosed)
		assert.NoError(t, c.Close())

		// A non-thread-safe bufferevent rejects other goroutines while the
		// loop runs; a thread-safe one may be closed from them.
		plain, err := b.NewBufferEvent(-1, 0)
		require.NoError(t, err)
		safe, err := b.NewBufferEvent(-1, BEVOptThreadSafe)
		require.NoError(t, err)
		stop := runInBackground(t, b)
		_, err = plain.WriteString("x")
		assert.ErrorIs(t, err, ErrNotThreadSafe)
		assert.ErrorIs(t, plain.Close(), ErrNotThreadSafe)
		_, err = safe.WriteString("x")
		assert.NoError(t, err)
		assert.NoError(t, safe.Close())
		assert.ErrorIs(t, stop(), context.Canceled)

		// Base.Close frees the rest: a, plain.
		require.NoError(t, b.Close())
		_, err = a.WriteString("x")
		assert.ErrorIs(t, err, ErrClosed)
		assert.Equal(t, before, handles.count.Load(), "handles left: %v", handles.owners())
	})
}

func TestBufferEventBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		_, err := b.NewBufferEvent(-1, 0x100)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = b.NewBufferEvent(-1, BEVOptUnlockCallbacks)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = b.NewBufferEvent(-3, 0)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = b.NewBufferEvent(1<<20, 0)
		assert.ErrorIs(t, err, syscall.EBADF)
		_, _, err = b.NewBufferEventPair(0x100)
		assert.ErrorIs(t, err, ErrInvalid)

		bev, err := b.NewBufferEvent(-1, 0)
		require.NoError(t, err)
		assert.ErrorIs(t, bev.Enable(EvPersist), ErrInvalid)
		assert.ErrorIs(t, bev.Disable(0), ErrInvalid)
		assert.ErrorIs(t, bev.SetWatermark(EvRead, -1, 0), ErrInvalid)
		assert.ErrorIs(t, bev.SetWatermark(EvRead, 10, 5), ErrInvalid)
		_, _, err = bev.Watermark(EvRead | EvWrite)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorIs(t, bev.SetTimeouts(-time.Second, 0), ErrInvalid)
		_, err = bev.Flush(EvRead, FlushMode(7))
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorIs(t, bev.Connect("localhost:80"), ErrInvalid)
		assert.ErrorIs(t, bev.Connect("127.0.0.1"), ErrInvalid)
		assert.ErrorIs(t, bev.ConnectAddr(&net.UDPAddr{}), ErrInvalid)
		assert.ErrorIs(t, bev.ConnectAddr((*net.TCPAddr)(nil)), ErrInvalid)
		assert.ErrorIs(t, bev.ConnectUnix(""), ErrInvalid)
		assert.ErrorIs(t, bev.SetMaxSingleRead(-1), ErrInvalid)
		assert.ErrorIs(t, bev.TriggerEvent(0, false), ErrInvalid)
		assert.ErrorIs(t, bev.SetFd(-2), ErrInvalid)

		var zero BufferEvent
		_, err = zero.Write([]byte("x"))
		assert.ErrorIs(t, err, ErrInvalid)
		assert.NoError(t, zero.Close())
		assert.Equal(t, -1, zero.Fd())
	})
}

func TestBufferEventInputAndOutput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		require.NoError(t, c.Enable(EvRead))
		require.NoError(t, a.Output().AddString("line one\nline two\n"))
		assert.Same(t, a.Output(), a.Output(), "Output made a new wrapper")
		runPending(t, b)

		in := c.Input()
		assert.Equal(t, 18, in.Len())
		pos, err := in.Search([]byte("two"))
		require.NoError(t, err)
		assert.Equal(t, 14, pos.Offset())
		line, err := in.ReadLine(EOLLF)
		require.NoError(t, err)
		assert.Equal(t, "line one", string(line))

		// libevent writing into the input makes positions stale.
		pos, err = in.Search([]byte("two"))
		require.NoError(t, err)
		require.NoError(t, a.Output().AddString("more\n"))
		runPending(t, b)
		_, err = in.PeekAt(pos, 1)
		assert.ErrorIs(t, err, ErrInvalid, "a position survived libevent's read")

		// The ends that libevent owns are frozen.
		assert.ErrorIs(t, in.AddString("x"), ErrFrozen)
		assert.ErrorIs(t, a.Output().Drain(1), ErrFrozen)

		// ReadBuffer and WriteBuffer move whole buffers.
		dst, err := NewBuffer()
		require.NoError(t, err)
		defer dst.Close()
		require.NoError(t, c.ReadBuffer(dst))
		assert.Equal(t, 0, in.Len())
		assert.Equal(t, "line two\nmore\n", string(contentsOf(t, dst)))
		require.NoError(t, c.WriteBuffer(dst))
		assert.Equal(t, 0, dst.Len())
		require.NoError(t, a.Enable(EvRead))
		runPending(t, b)
		assert.Equal(t, "line two\nmore\n", readAll(t, a))

		// Closing a borrowed wrapper leaves the bufferevent working; closing
		// the bufferevent ends the wrapper.
		require.NoError(t, in.Close())
		require.NoError(t, c.Close())
		assert.Nil(t, c.Input())
		assert.ErrorIs(t, in.AddString("x"), ErrClosed)
		assert.Equal(t, 0, in.Len())
	})
}

// contentsOf returns a copy of buf's data without removing it.
func contentsOf(t *testing.T, buf *Buffer) []byte {
	t.Helper()
	out := make([]byte, buf.Len())
	n, err := buf.CopyOut(out)
	require.NoError(t, err)
	return out[:n]
}

// TestMoveInputToEchoAndRelay echoes with MoveInputTo on one socket
// bufferevent and relays with it from a second one to the first.
func TestMoveInputToEchoAndRelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		local, peer := newSocketPair(t)
		relayLocal, relayPeer := newSocketPair(t)
		echo, err := b.NewBufferEvent(local, 0)
		require.NoError(t, err)
		relay, err := b.NewBufferEvent(relayLocal, 0)
		require.NoError(t, err)
		var echoed, relayed int
		require.NoError(t, echo.SetCallbacks(func(bev *BufferEvent) {
			n, err := bev.MoveInputTo(bev)
			assert.NoError(t, err)
			echoed += n
			assert.Zero(t, bev.Input().Len(), "input left after the move")
		}, nil, nil))
		require.NoError(t, relay.SetCallbacks(func(bev *BufferEvent) {
			n, err := bev.MoveInputTo(echo)
			assert.NoError(t, err)
			relayed += n
		}, nil, nil))
		require.NoError(t, echo.Enable(EvRead|EvWrite))
		require.NoError(t, relay.Enable(EvRead))

		_, err = unix.Write(peer, []byte("ping"))
		require.NoError(t, err)
		_, err = unix.Write(relayPeer, []byte("+relayed"))
		require.NoError(t, err)
		var got []byte
		reply := make([]byte, 64)
		deadline := time.Now().Add(time.Minute)
		for len(got) < len("ping+relayed") {
			require.True(t, time.Now().Before(deadline), "got only %q in a minute", got)
			require.NoError(t, b.Loop(LoopNonBlock))
			fds := []unix.PollFd{{Fd: int32(peer), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 10)
			require.NoError(t, err)
			if n == 0 {
				continue
			}
			n, err = unix.Read(peer, reply)
			require.NoError(t, err)
			got = append(got, reply[:n]...)
		}
		// Both sockets can be ready in one loop iteration, in either order.
		assert.Contains(t, []string{"ping+relayed", "+relayedping"}, string(got))
		// The relay moves its input straight into echo's output, so echo's
		// own callback moves only what its peer sent.
		assert.Equal(t, len("+relayed"), relayed, "bytes that the relay moved")
		assert.Equal(t, len("ping"), echoed, "bytes that the echo moved")

		var zero BufferEvent
		_, err = echo.MoveInputTo(nil)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, "destination")
		_, err = echo.MoveInputTo(&zero)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, "destination")
		require.NoError(t, relay.Close())
		_, err = echo.MoveInputTo(relay)
		assert.ErrorIs(t, err, ErrClosed)
		assert.ErrorContains(t, err, "destination")
		_, err = relay.MoveInputTo(echo)
		assert.ErrorIs(t, err, ErrClosed)
		assert.NotContains(t, err.Error(), "destination")
	})
}

// TestMoveInputToFrozen checks that a move out of an input whose front the
// caller froze, or into an output whose back the caller froze, fails with
// ErrFrozen, for MoveInputTo, ReadBuffer and WriteBuffer.
func TestMoveInputToFrozen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		_, err = a.Write([]byte("data"))
		require.NoError(t, err)
		require.NoError(t, c.Enable(EvRead))
		runPending(t, b)
		require.Equal(t, 4, c.Input().Len())

		spare, err := NewBuffer()
		require.NoError(t, err)
		defer spare.Close()

		require.NoError(t, c.Input().Freeze(BufferFront))
		n, err := c.MoveInputTo(a)
		assert.ErrorIs(t, err, ErrFrozen)
		assert.Zero(t, n)
		assert.ErrorIs(t, c.ReadBuffer(spare), ErrFrozen)
		require.NoError(t, c.Input().Unfreeze(BufferFront))

		require.NoError(t, a.Output().Freeze(BufferBack))
		_, err = c.MoveInputTo(a)
		assert.ErrorIs(t, err, ErrFrozen)
		assert.ErrorContains(t, err, "destination")
		_, err = spare.Write([]byte("x"))
		require.NoError(t, err)
		assert.ErrorIs(t, a.WriteBuffer(spare), ErrFrozen)
		require.NoError(t, a.Output().Unfreeze(BufferBack))

		// With c reading, the pair would hand a's output back to c's input
		// at once.
		require.NoError(t, c.Disable(EvRead))
		n, err = c.MoveInputTo(a)
		require.NoError(t, err)
		assert.Equal(t, 4, n)
		assert.Zero(t, c.Input().Len())
		assert.Equal(t, 4, a.Output().Len())
		assert.Equal(t, 1, spare.Len(), "the refused WriteBuffer took data from spare")
	})
}

// TestLoopIterationEndsEndlessPass runs a ping-pong over a bufferevent pair,
// whose deliveries are deferred callbacks: each pass of the loop schedules
// the next, so event_base_loop with EVLOOP_ONCE would never return.
// golibevent_loop_iteration still ends its call after a limit of callbacks,
// and a LoopBreak from a callback still stops the loop.
func TestLoopIterationEndsEndlessPass(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		ping, pong, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		defer ping.Close()
		defer pong.Close()
		const exchanges = 5000
		count := 0
		bounce := func(bev *BufferEvent) {
			count++
			if count == exchanges {
				assert.NoError(t, b.LoopBreak())
				return
			}
			_, err := bev.MoveInputTo(bev)
			assert.NoError(t, err)
		}
		require.NoError(t, ping.SetCallbacks(bounce, nil, nil))
		require.NoError(t, pong.SetCallbacks(bounce, nil, nil))
		require.NoError(t, ping.Enable(EvRead|EvWrite))
		require.NoError(t, pong.Enable(EvRead|EvWrite))

		before := loopPassesEnded()
		_, err = ping.WriteString("ball")
		require.NoError(t, err)
		require.NoError(t, b.Dispatch())
		assert.Equal(t, exchanges, count)
		// 5000 callbacks at 1024 per call.
		assert.GreaterOrEqual(t, loopPassesEnded()-before, int64(4))
	})
}
