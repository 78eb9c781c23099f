//go:build cgo

package libevent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestReadAndWriteEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c := newSocketPair(t)
		var got []EventFlags
		reader, err := b.NewEvent(a, EvRead, func(_ *Event, what EventFlags) { got = append(got, what) })
		require.NoError(t, err)
		writer, err := b.NewEvent(c, EvWrite, func(_ *Event, what EventFlags) {
			got = append(got, what)
			_, err := unix.Write(c, []byte("hello"))
			assert.NoError(t, err)
		})
		require.NoError(t, err)
		require.NoError(t, reader.Add())
		require.NoError(t, writer.Add())

		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []EventFlags{EvWrite, EvRead}, got)
		var buf [16]byte
		n, err := unix.Read(a, buf[:])
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:n]))

		// A non-persistent event is no longer pending after it fired.
		pending, _, err := reader.Pending(EvRead | EvTimeout)
		require.NoError(t, err)
		assert.Zero(t, pending)
	})
}

func TestPersistentReadEvent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, w := newPipe(t)
		var chunks []string
		ev, err := b.NewEvent(r, EvRead|EvPersist, func(ev *Event, _ EventFlags) {
			var buf [64]byte
			n, err := unix.Read(r, buf[:])
			assert.NoError(t, err)
			chunks = append(chunks, string(buf[:n]))
			if len(chunks) < 3 {
				_, err := unix.Write(w, []byte{byte('a' + len(chunks))})
				assert.NoError(t, err)
				return
			}
			assert.NoError(t, ev.Del())
		})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		_, err = unix.Write(w, []byte("a"))
		require.NoError(t, err)
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []string{"a", "b", "c"}, chunks)
	})
}

// TestEdgeTriggered reads one byte of two on each callback. Edge-triggered
// backends report the readiness once; the others ignore EvET and report it
// again while data is left.
func TestEdgeTriggered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c := newSocketPair(t)
		calls := 0
		ev, err := b.NewEvent(a, EvRead|EvET|EvPersist, func(*Event, EventFlags) {
			calls++
			var one [1]byte
			_, err := unix.Read(a, one[:])
			assert.NoError(t, err)
		})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		_, err = unix.Write(c, []byte("xy"))
		require.NoError(t, err)
		for i := 0; i < 3; i++ {
			require.NoError(t, b.Loop(LoopNonBlock))
		}
		if b.Features()&FeatureET != 0 {
			assert.Equal(t, 1, calls)
		} else {
			assert.Equal(t, 2, calls)
		}
	})
}

func TestClosedEvent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		defer unix.Close(fds[0])
		var got EventFlags
		record := func(_ *Event, what EventFlags) { got |= what }

		if b.Features()&FeatureEarlyClose == 0 {
			_, err := b.NewEvent(fds[0], EvClosed, record)
			assert.ErrorIs(t, err, ErrInvalid)
			ev, err := b.NewEvent(fds[0], EvRead|EvClosed, record)
			require.NoError(t, err)
			require.NoError(t, ev.Add())
			require.NoError(t, unix.Close(fds[1]))
			require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
			assert.Equal(t, EvRead, got, "the peer's close shows as end of stream")
			return
		}

		ev, err := b.NewEvent(fds[0], EvClosed, record)
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		// Unread data does not hide the close.
		_, err = unix.Write(fds[1], []byte("unread"))
		require.NoError(t, err)
		require.NoError(t, b.Loop(LoopNonBlock))
		assert.Zero(t, got, "EvClosed fired before the close")
		require.NoError(t, unix.Close(fds[1]))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, EvClosed, got)
	})
}

func TestTimer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var firedAt time.Time
		var got EventFlags
		tm, err := b.NewTimer(func(_ *Event, what EventFlags) {
			firedAt = time.Now()
			got = what
		})
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, tm.AddTimeout(10*time.Millisecond))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, EvTimeout, got)
		assert.GreaterOrEqual(t, firedAt.Sub(start), 10*time.Millisecond-coarseClockResolution(t))
	})
}

func TestPersistentTimerClosesItself(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		before := handles.count.Load()
		ticks := 0
		tm, err := b.NewEvent(-1, EvPersist, func(ev *Event, what EventFlags) {
			assert.Equal(t, EvTimeout, what)
			ticks++
			if ticks == 5 {
				assert.NoError(t, ev.Close())
				assert.ErrorIs(t, ev.AddTimeout(time.Millisecond), ErrClosed)
			}
		})
		require.NoError(t, err)
		require.NoError(t, tm.AddTimeout(time.Millisecond))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, 5, ticks)
		assert.Equal(t, before, handles.count.Load(), "the closed event kept its handle")
	})
}

func TestAddTimeoutReplacesTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		fired := 0
		tm, err := b.NewTimer(func(*Event, EventFlags) { fired++ })
		require.NoError(t, err)
		require.NoError(t, tm.AddTimeout(time.Hour))
		require.NoError(t, tm.AddTimeout(time.Millisecond))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, 1, fired)
	})
}

func TestReadEventWithTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, w := newPipe(t)
		var got []EventFlags
		ev, err := b.NewEvent(r, EvRead, func(_ *Event, what EventFlags) { got = append(got, what) })
		require.NoError(t, err)
		require.NoError(t, ev.AddTimeout(5*time.Millisecond))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		require.NoError(t, ev.AddTimeout(time.Hour))
		writeByte(t, w)
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []EventFlags{EvTimeout, EvRead}, got)
	})
}

func TestDel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, w := newPipe(t)
		fired := 0
		ev, err := b.NewEvent(r, EvRead|EvPersist, func(*Event, EventFlags) { fired++ })
		require.NoError(t, err)
		require.NoError(t, ev.AddTimeout(time.Hour))
		require.NoError(t, ev.Del())
		writeByte(t, w)
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Zero(t, fired)
		pending, _, err := ev.Pending(EvRead | EvTimeout)
		require.NoError(t, err)
		assert.Zero(t, pending)

		// Each Del variant removes a pending event, and deleting a
		// non-pending event is not an error.
		for _, del := range []func() error{ev.Del, ev.DelNoBlock, ev.DelBlock} {
			require.NoError(t, ev.Add())
			require.NoError(t, del())
			require.NoError(t, del())
			require.ErrorIs(t, b.Loop(LoopNonBlock), ErrNoEvents)
		}
		assert.Zero(t, fired)
	})
}

func TestActivate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var got []EventFlags
		ev, err := b.NewTimer(func(_ *Event, what EventFlags) { got = append(got, what) })
		require.NoError(t, err)
		require.NoError(t, ev.Activate(EvRead))
		require.NoError(t, ev.Activate(EvWrite))
		pending, _, err := ev.Pending(EvRead | EvWrite)
		require.NoError(t, err)
		assert.Equal(t, EvRead|EvWrite, pending, "active flags show as pending")
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		// Activations before the callback runs are merged into one call.
		assert.Equal(t, []EventFlags{EvRead | EvWrite}, got)
	})
}

func TestPendingTimeLeft(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, _ := newPipe(t)
		ev, err := b.NewEvent(r, EvRead, func(*Event, EventFlags) {})
		require.NoError(t, err)
		pending, left, err := ev.Pending(EvRead | EvTimeout)
		require.NoError(t, err)
		assert.Zero(t, pending)
		assert.Zero(t, left)

		require.NoError(t, ev.AddTimeout(time.Hour))
		pending, left, err = ev.Pending(EvRead | EvTimeout)
		require.NoError(t, err)
		assert.Equal(t, EvRead|EvTimeout, pending)
		assert.LessOrEqual(t, left, time.Hour)
		assert.Greater(t, left, 59*time.Minute)

		pending, left, err = ev.Pending(EvRead)
		require.NoError(t, err)
		assert.Equal(t, EvRead, pending)
		assert.Zero(t, left, "time left reported without EvTimeout")

		require.NoError(t, ev.RemoveTimer())
		pending, _, err = ev.Pending(EvRead | EvTimeout)
		require.NoError(t, err)
		assert.Equal(t, EvRead, pending, "RemoveTimer removed more than the timeout")
	})
}

func TestEventAccessors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, _ := newPipe(t)
		var running *Event
		fn := func(ev *Event, _ EventFlags) { running = b.RunningEvent() }
		ev, err := b.NewEvent(r, EvRead|EvPersist, fn)
		require.NoError(t, err)
		assert.Equal(t, r, ev.Fd())
		assert.Equal(t, EvRead|EvPersist, ev.Events())
		assert.Same(t, b, ev.Base())
		assert.NotNil(t, ev.Callback())
		assert.Equal(t, 0, ev.Priority())

		assert.Nil(t, b.RunningEvent())
		require.NoError(t, ev.Activate(EvRead))
		require.ErrorIs(t, b.Loop(LoopNonBlock), ErrNoEvents)
		assert.Same(t, ev, running)

		tm, err := b.NewTimer(fn)
		require.NoError(t, err)
		assert.Equal(t, -1, tm.Fd())
		assert.Equal(t, EventFlags(0), tm.Events())
		require.NoError(t, ev.Close())
		assert.Equal(t, -1, ev.Priority())
	})
}

// TestEpollRejectsRegularFile checks that a regular file gets the same clear
// error on both epoll variants, and works on poll and select, which report
// it as always ready.
func TestEpollRejectsRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(path, []byte("content"), 0o644))
	fd := openNonBlocking(t, path)

	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		fired := 0
		ev, err := b.NewEvent(fd, EvRead, func(*Event, EventFlags) { fired++ })
		if b.backend() == "epoll" {
			assert.ErrorIs(t, err, unix.EPERM)
			assert.ErrorContains(t, err, "use the poll or select backend")
			assert.Nil(t, ev)
			return
		}
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, 1, fired)
	})
}

func TestEpollRejectsDevNull(t *testing.T) {
	fd := openNonBlocking(t, os.DevNull)
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		ev, err := b.NewEvent(fd, EvRead, noop)
		if b.backend() == "epoll" {
			assert.ErrorIs(t, err, unix.EPERM)
			return
		}
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
	})
}

func TestEventCloseFromAnotherGoroutineWaits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		inCallback := make(chan struct{})
		var finished atomic.Bool
		calls := 0
		ev, err := b.NewTimer(func(*Event, EventFlags) {
			calls++
			close(inCallback)
			time.Sleep(20 * time.Millisecond)
			finished.Store(true)
		})
		require.NoError(t, err)
		require.NoError(t, ev.Activate(EvTimeout))
		ctx, cancel := context.WithCancel(context.Background())
		result := make(chan error, 1)
		go func() { result <- b.Run(ctx) }()
		<-inCallback
		require.NoError(t, ev.Close())
		assert.True(t, finished.Load(), "Close returned while the callback ran")
		cancel()
		assert.ErrorIs(t, <-result, context.Canceled)
		assert.Equal(t, 1, calls)
	})
}

// TestDelNoBlockDoesNotWait deletes an event from another goroutine while its
// callback is blocked: DelNoBlock returns at once, Del waits for the callback.
func TestDelNoBlockDoesNotWait(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		entered := make(chan struct{}, 1)
		release := make(chan struct{})
		ev, err := b.NewTimer(func(*Event, EventFlags) {
			entered <- struct{}{}
			<-release
		})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		result := make(chan error, 1)
		go func() { result <- b.Run(ctx) }()

		require.NoError(t, ev.Activate(EvTimeout))
		<-entered
		done := make(chan error, 1)
		go func() { done <- ev.DelNoBlock() }()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("DelNoBlock waited for the callback")
		}
		release <- struct{}{}

		require.NoError(t, ev.Activate(EvTimeout))
		<-entered
		go func() { done <- ev.Del() }()
		select {
		case <-done:
			t.Error("Del returned while the callback ran")
		case <-time.After(20 * time.Millisecond):
		}
		release <- struct{}{}
		assert.NoError(t, <-done)

		cancel()
		assert.ErrorIs(t, <-result, context.Canceled)
	})
}

// TestCallbackForClosedEventIsDropped closes an event while a call on it is
// still in flight, which keeps libevent's event alive for a moment, and
// activates it: the callback must be dropped, and the event freed when the
// call ends.
func TestCallbackForClosedEventIsDropped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		h := captureLog(t, slog.LevelDebug)
		b := newBase(t, bk)
		r, _ := newPipe(t)
		before := handles.count.Load()
		fired := 0
		ev, err := b.NewEvent(r, EvRead|EvPersist, func(*Event, EventFlags) { fired++ })
		require.NoError(t, err)
		require.NoError(t, ev.Add())

		require.NoError(t, ev.enter("test"))
		require.NoError(t, ev.Close())
		assert.Equal(t, before+1, handles.count.Load(), "freed with a call in flight")
		dropped := droppedCallbacks.Load()
		require.NoError(t, b.ActivateFd(r, EvRead))
		require.NoError(t, b.Loop(LoopNonBlock))
		assert.Zero(t, fired)
		assert.Equal(t, dropped+1, droppedCallbacks.Load())

		ev.leave()
		assert.Equal(t, before, handles.count.Load())
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)

		var logged bool
		for _, rec := range h.snapshot() {
			if rec.Message == "libevent: dropped a callback for a closed object" {
				logged = true
			}
		}
		assert.True(t, logged, "the drop was not logged at debug level")
	})
}

// epollDescriptors returns the open descriptors of this process that are
// epoll instances.
func epollDescriptors(t *testing.T) map[int]bool {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	out := map[int]bool{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || target != "anon_inode:[eventpoll]" {
			continue
		}
		var fd int
		_, err = fmt.Sscanf(e.Name(), "%d", &fd)
		require.NoError(t, err)
		out[fd] = true
	}
	return out
}

// TestAddErrorWrapsErrno makes epoll_ctl fail inside event_add by adding the
// base's own epoll descriptor to itself, which the kernel rejects with
// EINVAL: the error names event_add and wraps the errno libevent left.
func TestAddErrorWrapsErrno(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := epollDescriptors(t)
		b := newBase(t, bk)
		var own []int
		for fd := range epollDescriptors(t) {
			if !before[fd] {
				own = append(own, fd)
			}
		}
		if b.backend() != "epoll" {
			assert.Empty(t, own, "a %s base opened an epoll instance", bk.name)
			return
		}
		require.Len(t, own, 1, "the epoll base's own descriptor was not found")
		require.NoError(t, unix.SetNonblock(own[0], true))
		ev, err := b.NewEvent(own[0], EvRead, noop)
		require.NoError(t, err)
		h := captureLog(t, slog.LevelWarn)
		err = ev.Add()
		if b.Method() == "epoll (with changelist)" {
			// With the changelist, epoll_ctl runs at dispatch time and
			// libevent only logs its failure.
			require.NoError(t, err)
			require.NoError(t, b.Loop(LoopNonBlock))
			records := h.snapshot()
			require.NotEmpty(t, records)
			assert.Contains(t, records[0].Message, "Invalid argument")
			return
		}
		var le *Error
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "event_add", le.Op)
		assert.ErrorIs(t, err, syscall.EINVAL)
	})
}
