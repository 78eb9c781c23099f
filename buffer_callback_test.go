//go:build cgo

package libevent

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordInfos adds a callback to b that appends each BufferCallbackInfo to
// the returned slice.
func recordInfos(t *testing.T, b *Buffer) (*[]BufferCallbackInfo, *BufferCallback) {
	t.Helper()
	var infos []BufferCallbackInfo
	cb, err := b.AddCallback(func(buf *Buffer, info BufferCallbackInfo) {
		assert.Same(t, b, buf)
		infos = append(infos, info)
	})
	require.NoError(t, err)
	return &infos, cb
}

func TestBufferCallbackInfo(t *testing.T) {
	b := newBuffer(t)
	other := newBuffer(t)
	infos, _ := recordInfos(t, b)
	otherInfos, _ := recordInfos(t, other)

	require.NoError(t, b.AddString("hello"))
	require.NoError(t, b.Prepend([]byte(">>")))
	require.NoError(t, b.Drain(3))
	_, err := b.Remove(make([]byte, 2))
	require.NoError(t, err)
	require.NoError(t, other.AddString("abc\n"))
	require.NoError(t, b.AddBuffer(other))
	line, err := b.ReadLine(EOLLF)
	require.NoError(t, err)
	assert.Equal(t, "loabc", string(line))
	space, err := b.Reserve(4)
	require.NoError(t, err)
	copy(space[0], "wxyz")
	require.NoError(t, b.Commit(4))
	_, err = b.AddReference([]byte("ref"))
	require.NoError(t, err)
	moved, err := b.RemoveBuffer(other, 5)
	require.NoError(t, err)
	assert.Equal(t, 5, moved)

	assert.Equal(t, []BufferCallbackInfo{
		{OrigSize: 0, Added: 5},
		{OrigSize: 5, Added: 2},
		{OrigSize: 7, Deleted: 3},
		{OrigSize: 4, Deleted: 2},
		{OrigSize: 2, Added: 4},
		// evbuffer_readln removes the line, then drains the LF.
		{OrigSize: 6, Deleted: 5},
		{OrigSize: 1, Deleted: 1},
		{OrigSize: 0, Added: 4},
		{OrigSize: 4, Added: 3},
		{OrigSize: 7, Deleted: 5},
	}, *infos)
	assert.Equal(t, []BufferCallbackInfo{
		{OrigSize: 0, Added: 4},
		{OrigSize: 4, Deleted: 4},
		{OrigSize: 0, Added: 5},
	}, *otherInfos)
}

func TestBufferCallbackDisableAndEnable(t *testing.T) {
	b := newBuffer(t)
	infos, cb := recordInfos(t, b)
	require.NoError(t, cb.Disable())
	require.NoError(t, b.AddString("quiet"))
	assert.Empty(t, *infos)
	require.NoError(t, cb.Enable())
	require.NoError(t, b.AddString("!"))
	// The changes made while the callback was disabled are not reported
	// to it later.
	assert.Equal(t, []BufferCallbackInfo{{OrigSize: 5, Added: 1}}, *infos)
}

func TestBufferCallbackRemove(t *testing.T) {
	b := newBuffer(t)
	before := handles.count.Load()
	infos, cb := recordInfos(t, b)
	assert.Equal(t, before+1, handles.count.Load())
	require.NoError(t, cb.Remove())
	assert.Equal(t, before, handles.count.Load(), "Remove kept the registry key")
	require.NoError(t, cb.Remove(), "removing twice")
	assert.ErrorIs(t, cb.Enable(), ErrClosed)
	assert.ErrorIs(t, cb.Disable(), ErrClosed)
	require.NoError(t, b.AddString("x"))
	assert.Empty(t, *infos)
}

// TestBufferCallbackRemovesOthers removes callbacks from inside a callback:
// itself, one that runs later in the same walk, and one that already ran.
// libevent allows only the first; the others are disabled and removed after
// the walk.
func TestBufferCallbackRemovesOthers(t *testing.T) {
	b := newBuffer(t)
	before := handles.count.Load()
	calls := map[string]int{}
	var first, middle, last *BufferCallback
	var err error
	// libevent runs the most recently added callback first.
	first, err = b.AddCallback(func(*Buffer, BufferCallbackInfo) { calls["first"]++ })
	require.NoError(t, err)
	middle, err = b.AddCallback(func(*Buffer, BufferCallbackInfo) {
		calls["middle"]++
		assert.NoError(t, middle.Remove())
		assert.NoError(t, first.Remove())
		assert.NoError(t, last.Remove())
	})
	require.NoError(t, err)
	last, err = b.AddCallback(func(*Buffer, BufferCallbackInfo) { calls["last"]++ })
	require.NoError(t, err)

	require.NoError(t, b.AddString("x"))
	assert.Equal(t, map[string]int{"last": 1, "middle": 1}, calls)
	assert.Equal(t, before, handles.count.Load())
	assert.Equal(t, int32(0), b.staleCount.Load(), "the disabled entries were not removed after the call")
	require.NoError(t, b.AddString("y"))
	assert.Equal(t, map[string]int{"last": 1, "middle": 1}, calls)
}

// TestBufferCloseInCallback closes the buffer from its own callback: the
// callbacks still to run in that walk are dropped, and the memory is freed
// when the call that ran them returns.
func TestBufferCloseInCallback(t *testing.T) {
	b, err := NewBuffer()
	require.NoError(t, err)
	before := handles.count.Load()
	dropped := droppedCallbacks.Load()
	laterRan := false
	_, err = b.AddCallback(func(*Buffer, BufferCallbackInfo) { laterRan = true })
	require.NoError(t, err)
	_, err = b.AddCallback(func(buf *Buffer, _ BufferCallbackInfo) {
		assert.NoError(t, buf.Close())
		assert.ErrorIs(t, buf.AddString("more"), ErrClosed)
	})
	require.NoError(t, err)
	_, err = b.AddReference([]byte("referenced"))
	require.NoError(t, err)

	assert.False(t, laterRan, "a callback of the closed buffer ran")
	assert.Equal(t, dropped+1, droppedCallbacks.Load())
	assert.Equal(t, before, handles.count.Load(), "closing in a callback leaked registry keys")
	assert.ErrorIs(t, b.AddString("x"), ErrClosed)
}

// TestBufferCallbackPanicFromAdd panics in a callback that runs inside Add:
// Add panics with the same value, and the buffer stays usable.
func TestBufferCallbackPanicFromAdd(t *testing.T) {
	b := newBuffer(t)
	value := panicValue{11}
	armed := true
	_, err := b.AddCallback(func(*Buffer, BufferCallbackInfo) {
		if armed {
			armed = false
			panic(value)
		}
	})
	require.NoError(t, err)
	assert.Equal(t, value, recoverFrom(func() { _ = b.AddString("boom") }))
	assert.Equal(t, "boom", string(contents(t, b)), "the data added before the panic is kept")
	require.NoError(t, b.AddString("!"))
	assert.Equal(t, "boom!", string(contents(t, b)))

	// A panic in the source's callback leaves AddBuffer too.
	src := newBuffer(t)
	require.NoError(t, src.AddString("src"))
	_, err = src.AddCallback(func(*Buffer, BufferCallbackInfo) { panic("source") })
	require.NoError(t, err)
	assert.Equal(t, "source", recoverFrom(func() { _ = b.AddBuffer(src) }))
	assert.Equal(t, "boom!src", string(contents(t, b)))
	assert.Zero(t, syncPanics.pending.Load(), "a panic value was left behind")
}

// TestBufferDeferredCallbacks checks that after DeferCallbacks the callbacks
// run from the base's loop, once for the changes made before it runs.
func TestBufferDeferredCallbacks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		base := newBase(t, bk)
		b := newBuffer(t)
		infos, _ := recordInfos(t, b)
		require.NoError(t, b.DeferCallbacks(base))
		require.NoError(t, b.DeferCallbacks(base), "the same base again")
		assert.ErrorIs(t, b.DeferCallbacks(newBase(t, bk)), ErrInvalid, "another base")

		require.NoError(t, b.AddString("hello"))
		require.NoError(t, b.Drain(2))
		assert.Empty(t, *infos, "a deferred callback ran inside the call")
		assert.ErrorIs(t, base.Dispatch(), ErrNoEvents)
		assert.Equal(t, []BufferCallbackInfo{{OrigSize: 0, Added: 5, Deleted: 2}}, *infos)

		require.NoError(t, b.AddString("!"))
		assert.ErrorIs(t, base.Dispatch(), ErrNoEvents)
		assert.Equal(t, BufferCallbackInfo{OrigSize: 3, Added: 1}, (*infos)[1])
	})
}

func TestBufferDeferredCallbackPanic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		base := newBase(t, bk)
		b := newBuffer(t)
		value := panicValue{23}
		armed := true
		_, err := b.AddCallback(func(*Buffer, BufferCallbackInfo) {
			if armed {
				armed = false
				panic(value)
			}
		})
		require.NoError(t, err)
		require.NoError(t, b.DeferCallbacks(base))
		require.NoError(t, b.AddString("x"), "Add must not panic: the callback runs later")
		assert.Equal(t, value, recoverFrom(func() { _ = base.Dispatch() }))

		ran := false
		_, err = b.AddCallback(func(*Buffer, BufferCallbackInfo) { ran = true })
		require.NoError(t, err)
		require.NoError(t, b.AddString("y"))
		assert.ErrorIs(t, base.Dispatch(), ErrNoEvents)
		assert.True(t, ran, "the base did not run the callbacks after the panic")
	})
}

// TestBufferClosedWithBase closes a base that a buffer defers its callbacks
// to: the buffer is closed and its keys and references are released.
func TestBufferClosedWithBase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := handles.count.Load()
		base, err := NewBase(&bk.config)
		require.NoError(t, err)
		b, err := NewBuffer()
		require.NoError(t, err)
		_, _ = recordInfos(t, b)
		require.NoError(t, b.DeferCallbacks(base))
		released, err := b.AddReference([]byte("pending"))
		require.NoError(t, err)

		require.NoError(t, base.Close())
		assert.ErrorIs(t, b.AddString("x"), ErrClosed)
		assert.Equal(t, 0, b.Len())
		assert.Equal(t, before, handles.count.Load(), "registry keys left after the base closed")
		select {
		case <-released:
		default:
			t.Error("the reference was not released")
		}
		require.NoError(t, b.Close())
	})
}

// TestBufferDeferredClose closes a deferring buffer from its own deferred
// callback, and another one while its deferred run is pending.
func TestBufferDeferredClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		base := newBase(t, bk)
		before := handles.count.Load()

		inCallback, err := NewBuffer()
		require.NoError(t, err)
		require.NoError(t, inCallback.DeferCallbacks(base))
		laterRan := false
		_, err = inCallback.AddCallback(func(*Buffer, BufferCallbackInfo) { laterRan = true })
		require.NoError(t, err)
		_, err = inCallback.AddCallback(func(buf *Buffer, _ BufferCallbackInfo) {
			assert.NoError(t, buf.Close())
		})
		require.NoError(t, err)
		released, err := inCallback.AddReference([]byte("data"))
		require.NoError(t, err)

		pending, err := NewBuffer()
		require.NoError(t, err)
		require.NoError(t, pending.DeferCallbacks(base))
		pendingRan := false
		_, err = pending.AddCallback(func(*Buffer, BufferCallbackInfo) { pendingRan = true })
		require.NoError(t, err)
		require.NoError(t, pending.AddString("scheduled"))
		require.NoError(t, pending.Close())

		assert.ErrorIs(t, base.Dispatch(), ErrNoEvents)
		assert.False(t, laterRan, "a callback ran after Close in the same run")
		assert.False(t, pendingRan, "a callback of a buffer closed before the run ran")
		<-released
		assert.Equal(t, before, handles.count.Load(), "registry keys left")
		assert.ErrorIs(t, inCallback.AddString("x"), ErrClosed)
	})
}

// TestBufferDeferredPriorityGuard checks that SetPriorities refuses to drop
// the priority that a buffer's deferred callbacks use.
func TestBufferDeferredPriorityGuard(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		base := newBase(t, bk)
		require.NoError(t, base.SetPriorities(8))
		b := newBuffer(t)
		require.NoError(t, b.DeferCallbacks(base))
		assert.Equal(t, 4, b.deferPriority)
		assert.ErrorIs(t, base.SetPriorities(4), ErrInvalid)
		require.NoError(t, base.SetPriorities(5))
		ran := false
		_, err := b.AddCallback(func(*Buffer, BufferCallbackInfo) { ran = true })
		require.NoError(t, err)
		require.NoError(t, b.AddString("x"))
		assert.ErrorIs(t, base.Dispatch(), ErrNoEvents)
		assert.True(t, ran)
	})
}

// TestBufferDeferredConcurrentProducers adds to a locked buffer from several
// goroutines while the loop drains it from its deferred callback. Every byte
// must be reported once as added and once as removed.
func TestBufferDeferredConcurrentProducers(t *testing.T) {
	const producers, adds, chunk = 4, 500, 10
	const total = producers * adds * chunk
	forEachBackend(t, func(t *testing.T, bk backend) {
		base := newBase(t, bk)
		b := newBuffer(t)
		require.NoError(t, b.EnableLocking())
		require.NoError(t, b.DeferCallbacks(base))
		added, deleted := 0, 0
		_, err := b.AddCallback(func(buf *Buffer, info BufferCallbackInfo) {
			added += info.Added
			deleted += info.Deleted
			if n := buf.Len(); n > 0 {
				assert.NoError(t, buf.Drain(n))
			}
			if deleted == total {
				assert.NoError(t, base.LoopBreak())
			}
		})
		require.NoError(t, err)

		// The producers start once the loop runs.
		running := make(chan struct{})
		require.NoError(t, base.Post(func() { close(running) }))
		var wg sync.WaitGroup
		for range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-running
				data := make([]byte, chunk)
				for range adds {
					if !assert.NoError(t, b.Add(data)) {
						return
					}
				}
			}()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, base.Run(ctx))
		wg.Wait()
		assert.Equal(t, total, added)
		assert.Equal(t, total, deleted)
		assert.Equal(t, 0, b.Len())
	})
}

// TestBufferNoLockBase checks that a buffer deferring to a NoLock base
// rejects calls, Close included, from another goroutine while the loop runs.
func TestBufferNoLockBase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		base := newBase(t, bk, func(c *Config) { c.Flags |= NoLock })
		b, err := NewBuffer()
		require.NoError(t, err)
		require.NoError(t, b.DeferCallbacks(base))

		r, w := newPipe(t)
		running := make(chan struct{})
		stop := make(chan struct{})
		ev, err := base.NewEvent(r, EvRead|EvPersist, func(ev *Event, _ EventFlags) {
			var one [1]byte
			_, _ = unix.Read(r, one[:])
			select {
			case <-stop:
				assert.NoError(t, b.AddString("from the loop"), "a call from the loop's goroutine was rejected")
				assert.NoError(t, ev.Close())
			default:
			}
		})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		require.NoError(t, base.Post(func() { close(running) }))
		result := make(chan error, 1)
		go func() { result <- base.Dispatch() }()
		<-running

		assert.ErrorIs(t, b.AddString("x"), ErrNoLock)
		assert.ErrorIs(t, b.Close(), ErrNoLock)
		close(stop)
		writeByte(t, w)
		assert.ErrorIs(t, <-result, ErrNoEvents)

		assert.Equal(t, "from the loop", string(contents(t, b)))
		require.NoError(t, b.Close())
		assert.ErrorIs(t, b.AddString("x"), ErrClosed)
	})
}

// TestBufferCallbackConcurrentRemove removes callbacks while other
// goroutines enable and disable them and add data to the locked buffer.
func TestBufferCallbackConcurrentRemove(t *testing.T) {
	b := newBuffer(t)
	require.NoError(t, b.EnableLocking())
	before := handles.count.Load()
	for range 50 {
		cb, err := b.AddCallback(func(buf *Buffer, _ BufferCallbackInfo) {
			_ = buf.Len()
		})
		require.NoError(t, err)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				err := cb.Enable()
				if i%2 == 1 {
					err = cb.Disable()
				}
				if err != nil {
					assert.ErrorIs(t, err, ErrClosed)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				assert.NoError(t, b.AddString("x"))
			}
		}()
		go func() {
			defer wg.Done()
			assert.NoError(t, cb.Remove())
		}()
		wg.Wait()
	}
	require.NoError(t, b.Drain(b.Len()))
	assert.Equal(t, before, handles.count.Load(), "removed callbacks kept their keys")
}
