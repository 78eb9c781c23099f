//go:build cgo

package libevent

import (
	"io"
	"net"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/golibevent/libevent/internal/cbev"
	"github.com/golibevent/libevent/internal/cthread"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// newCBufferEvent creates a socket bufferevent that C code owns on base, with
// C's counting callbacks, and returns it with a connection on the peer end.
// C frees the bufferevent when the test ends, before the base goes.
func newCBufferEvent(t *testing.T, base unsafe.Pointer, options BufferEventOptions) (*cbev.Bufferevent, net.Conn) {
	t.Helper()
	c, err := cbev.New(base, int(options))
	require.NoError(t, err)
	t.Cleanup(c.Free)
	fd, err := unix.Dup(c.Peer())
	require.NoError(t, err)
	f := os.NewFile(uintptr(fd), "peer")
	peer, err := net.FileConn(f)
	f.Close()
	require.NoError(t, err)
	t.Cleanup(func() { peer.Close() })
	return c, peer
}

// readPeer reads exactly n bytes from the peer, or fails after ten seconds.
func readPeer(t *testing.T, peer net.Conn, n int) string {
	t.Helper()
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, n)
	_, err := io.ReadFull(peer, buf)
	require.NoError(t, err)
	return string(buf)
}

func writePeer(t *testing.T, peer net.Conn, s string) {
	t.Helper()
	_, err := peer.Write([]byte(s))
	require.NoError(t, err)
}

func TestWrapBufferEventUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		c, peer := newCBufferEvent(t, b.C(), 0)

		writePeer(t, peer, "c1")
		loopUntil(t, b, "C's first read callback", func() bool { return c.Reads() >= 1 })
		assert.Equal(t, "c1", c.TakeReceived())

		w, err := WrapBufferEvent(c.Ptr(), b)
		require.NoError(t, err)
		assert.Equal(t, c.Ptr(), w.C())
		assert.Equal(t, b, w.Base())
		assert.True(t, c.HasOwnCallbacks(), "the wrap replaced C's callbacks")

		// C's callbacks keep running until Go sets its own.
		writePeer(t, peer, "c2")
		loopUntil(t, b, "C's second read callback", func() bool { return c.Reads() >= 2 })
		assert.Equal(t, "c2", c.TakeReceived())
		writes := c.Writes()
		n, err := w.WriteString("from Go")
		require.NoError(t, err)
		assert.Equal(t, 7, n)
		loopUntil(t, b, "C's write callback", func() bool { return c.Writes() > writes })
		assert.Equal(t, "from Go", readPeer(t, peer, 7))

		fd := w.Fd()
		require.GreaterOrEqual(t, fd, 0)
		sockType, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		require.NoError(t, err)
		assert.Equal(t, unix.SOCK_STREAM, sockType)

		// Go's callbacks replace C's.
		var goReads int
		var got []byte
		var events []BEVEvents
		require.NoError(t, w.SetCallbacks(func(bev *BufferEvent) {
			goReads++
			buf := make([]byte, 64)
			n, _ := bev.Read(buf)
			got = append(got, buf[:n]...)
		}, nil, func(bev *BufferEvent, what BEVEvents, err error) {
			events = append(events, what)
		}))
		assert.False(t, c.HasOwnCallbacks(), "SetCallbacks left C's callbacks")
		cReads := c.Reads()
		writePeer(t, peer, "g1")
		loopUntil(t, b, "Go's read callback", func() bool { return string(got) == "g1" })
		assert.Equal(t, cReads, c.Reads(), "C's read callback ran after SetCallbacks")
		require.NoError(t, w.TriggerEvent(BEVEventEOF|BEVEventReading, false))
		assert.Equal(t, []BEVEvents{BEVEventEOF | BEVEventReading}, events)

		// Settings work as on a bufferevent that Go created.
		require.NoError(t, w.SetWatermark(EvRead, 0, 1024))
		low, high, err := w.Watermark(EvRead)
		require.NoError(t, err)
		assert.Equal(t, 0, low)
		assert.Equal(t, 1024, high)
		require.NoError(t, w.SetTimeouts(time.Hour, 0))
		require.NoError(t, w.SetPriority(0))
		assert.Equal(t, 0, w.Priority())
		assert.Equal(t, EvRead|EvWrite, w.Enabled())
		require.NoError(t, w.Disable(EvRead))
		assert.Equal(t, EvWrite, w.Enabled())
		require.NoError(t, w.Enable(EvRead))
		assert.Equal(t, BufferEventOptions(0), w.Options())

		// Without a read callback the data stays in the input for
		// ReadBuffer.
		require.NoError(t, w.SetCallbacks(nil, nil, nil))
		in := w.Input()
		require.NotNil(t, in)
		writePeer(t, peer, "in the input")
		loopUntil(t, b, "data in the input", func() bool { return in.Len() == 12 })
		dst, err := NewBuffer()
		require.NoError(t, err)
		defer dst.Close()
		require.NoError(t, w.ReadBuffer(dst))
		assert.Equal(t, 12, dst.Len())
		assert.Zero(t, in.Len())
		src, err := NewBuffer()
		require.NoError(t, err)
		defer src.Close()
		require.NoError(t, src.AddString("buffer"))
		require.NoError(t, w.WriteBuffer(src))
		out := w.Output()
		require.NotNil(t, out)
		loopUntil(t, b, "the output to drain", func() bool { return out.Len() == 0 })
		assert.Equal(t, "buffer", readPeer(t, peer, 6))

		// Close hands the bufferevent back with C's callbacks.
		require.NoError(t, w.SetCallbacks(func(*BufferEvent) { goReads++ }, nil, nil))
		reads := goReads
		require.NoError(t, w.Close())
		require.NoError(t, w.Close())
		assert.Nil(t, w.C())
		assert.Nil(t, in.C())
		_, err = w.WriteString("x")
		assert.ErrorIs(t, err, ErrClosed)
		assert.True(t, c.HasOwnCallbacks(), "Close did not put C's callbacks back")
		cReads = c.Reads()
		writePeer(t, peer, "c3")
		loopUntil(t, b, "C's read callback after Close", func() bool { return c.Reads() > cReads })
		assert.Equal(t, "c3", c.TakeReceived())
		assert.Equal(t, reads, goReads, "Go's read callback ran after Close")

		// The bufferevent can be wrapped again once the wrapper is closed.
		again, err := WrapBufferEvent(c.Ptr(), b)
		require.NoError(t, err)
		require.NoError(t, again.Close())
		assert.True(t, c.HasOwnCallbacks())
	})
}

func TestWrapBufferEventBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		other := newBase(t, bk)
		c, _ := newCBufferEvent(t, b.C(), 0)

		_, err := WrapBufferEvent(nil, b)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = WrapBufferEvent(c.Ptr(), nil)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = WrapBufferEvent(c.Ptr(), other)
		assert.ErrorIs(t, err, ErrInvalid, "a bufferevent of another event_base")

		// A bufferevent that the package created, with and without Go
		// callbacks, and through a second Base for the same event_base.
		own, err := b.NewBufferEvent(-1, 0)
		require.NoError(t, err)
		defer own.Close()
		_, err = WrapBufferEvent(own.C(), b)
		assert.ErrorIs(t, err, ErrInvalid, "a bufferevent that the package created")
		require.NoError(t, own.SetCallbacks(func(*BufferEvent) {}, nil, nil))
		second, err := WrapBase(b.C())
		require.NoError(t, err)
		defer second.Close()
		_, err = WrapBufferEvent(own.C(), second)
		assert.ErrorIs(t, err, ErrInvalid, "a package bufferevent through a second Base")

		// Twice, also through the second Base.
		w, err := WrapBufferEvent(c.Ptr(), b)
		require.NoError(t, err)
		_, err = WrapBufferEvent(c.Ptr(), b)
		assert.ErrorIs(t, err, ErrInvalid, "a second wrap")
		_, err = WrapBufferEvent(c.Ptr(), second)
		assert.ErrorIs(t, err, ErrInvalid, "a second wrap through a second Base")

		// A filter must not free the bufferevent that C owns.
		_, err = b.NewBufferEventFilter(w, nil, nil, BEVOptCloseOnFree)
		assert.ErrorIs(t, err, ErrInvalid)
		require.NoError(t, w.Close())

		// A closed Base.
		require.NoError(t, second.Close())
		_, err = WrapBufferEvent(c.Ptr(), second)
		assert.ErrorIs(t, err, ErrClosed)
		assert.True(t, c.HasOwnCallbacks())
	})
}

func TestWrapBufferEventClosedWithBase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		ptr := newCBase(t, bk)
		c, peer := newCBufferEvent(t, ptr, 0)
		b, err := WrapBase(ptr)
		require.NoError(t, err)
		w, err := WrapBufferEvent(c.Ptr(), b)
		require.NoError(t, err)
		goReads := 0
		require.NoError(t, w.SetCallbacks(func(*BufferEvent) { goReads++ }, nil, nil))
		in := w.Input()
		require.NotNil(t, in)

		require.NoError(t, b.Close())
		assert.Nil(t, w.C())
		assert.Nil(t, in.C())
		assert.True(t, c.HasOwnCallbacks(), "closing the Base did not put C's callbacks back")

		// C's bufferevent still works on C's base.
		again, err := WrapBase(ptr)
		require.NoError(t, err)
		defer again.Close()
		writePeer(t, peer, "after")
		loopUntil(t, again, "C's read callback", func() bool { return c.Reads() >= 1 })
		assert.Equal(t, "after", c.TakeReceived())
		assert.Zero(t, goReads)
	})
}

func TestWrapBufferEventOnCThread(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		ptr := newCBase(t, bk)
		c, peer := newCBufferEvent(t, ptr, BEVOptThreadSafe)
		b, err := WrapBase(ptr)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close()) })
		w, err := WrapBufferEvent(c.Ptr(), b)
		require.NoError(t, err)

		// The callbacks are set before the C thread runs the loop. The
		// loop handle is stored before the first write, which the race
		// detector cannot see, hence the channel.
		loops := make(chan *cthread.Loop, 1)
		var loop *cthread.Loop
		onThread := make(chan bool, 1)
		require.NoError(t, w.SetCallbacks(func(bev *BufferEvent) {
			if loop == nil {
				loop = <-loops
			}
			onThread <- loop.OnLoopThread()
			buf := make([]byte, 64)
			n, _ := bev.Read(buf)
			_, err := bev.Write(buf[:n])
			assert.NoError(t, err)
		}, nil, nil))
		started, err := cthread.Start(ptr, true)
		require.NoError(t, err)
		loops <- started
		stopped := false
		t.Cleanup(func() {
			if !stopped {
				started.Stop()
			}
		})

		writePeer(t, peer, "ping")
		assert.Equal(t, "ping", readPeer(t, peer, 4))
		assert.True(t, <-onThread, "the Go read callback ran off the C thread")

		// Closed on the C thread, the wrapper gives the bufferevent back
		// to C's callbacks, which then run there.
		closed := make(chan error, 1)
		require.NoError(t, b.Post(func() { closed <- w.Close() }))
		select {
		case err := <-closed:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the posted Close did not run")
		}
		assert.True(t, c.HasOwnCallbacks())
		writePeer(t, peer, "to C")
		waitFor(t, "C's read callback", func() bool { return c.Reads() >= 1 })
		assert.Equal(t, "to C", c.TakeReceived())

		stopped = true
		assert.Equal(t, 0, started.Stop())
	})
}
