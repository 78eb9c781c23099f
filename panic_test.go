//go:build cgo

package libevent

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recoverFrom runs fn and returns the value it panicked with, or nil.
func recoverFrom(fn func()) (value any) {
	defer func() { value = recover() }()
	fn()
	return nil
}

type panicValue struct{ code int }

// TestCallbackPanicReachesLoopCaller is the case of a timer whose callback
// panics while the loop runs with LoopOnce inside a recovering function:
// the panic reaches the caller with its value, and a second timer then fires
// on the same base.
func TestCallbackPanicReachesLoopCaller(t *testing.T) {
	values := []any{"boom", panicValue{7}, errors.New("callback failed")}
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		for _, value := range values {
			tm, err := b.NewTimer(func(*Event, EventFlags) { panic(value) })
			require.NoError(t, err)
			require.NoError(t, tm.AddTimeout(time.Millisecond))

			got := recoverFrom(func() { _ = b.Loop(LoopOnce) })
			assert.Equal(t, value, got)

			fired := false
			second, err := b.NewTimer(func(*Event, EventFlags) { fired = true })
			require.NoError(t, err)
			require.NoError(t, second.AddTimeout(time.Millisecond))
			require.NoError(t, b.Loop(LoopOnce))
			assert.True(t, fired, "the second timer did not fire after the panic")
			require.NoError(t, tm.Close())
			require.NoError(t, second.Close())
		}
	})
}

func TestPanicNilIsReported(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		require.NoError(t, b.Once(-1, 0, 0, func(int, EventFlags) { panic(nil) }))
		got := recoverFrom(func() { _ = b.Dispatch() })
		var nilPanic *runtime.PanicNilError
		assert.ErrorAs(t, got.(error), &nilPanic)
	})
}

// TestPanicInPostedFunctionLosesNothing checks that the functions posted
// after a panicking one run in the next loop run, in order.
func TestPanicInPostedFunctionLosesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var ran []int
		require.NoError(t, b.Post(func() { ran = append(ran, 1) }))
		require.NoError(t, b.Post(func() { panic("posted") }))
		require.NoError(t, b.Post(func() { ran = append(ran, 3) }))
		require.NoError(t, b.Post(func() { ran = append(ran, 4) }))

		assert.Equal(t, "posted", recoverFrom(func() { _ = b.Dispatch() }))
		assert.Equal(t, []int{1}, ran)
		require.NoError(t, b.Post(func() { ran = append(ran, 5) }))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []int{1, 3, 4, 5}, ran)
	})
}

func TestPanicInOnceCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		require.NoError(t, b.Once(-1, EvTimeout, time.Millisecond, func(int, EventFlags) { panic("once") }))
		assert.Equal(t, "once", recoverFrom(func() { _ = b.Dispatch() }))
		b.mu.Lock()
		assert.Empty(t, b.onces, "the once-callback kept its handle after the panic")
		b.mu.Unlock()
	})
}

func TestPanicStopsRunAndBaseStaysUsable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		after := false
		first, err := b.NewTimer(func(*Event, EventFlags) { panic("run") })
		require.NoError(t, err)
		second, err := b.NewTimer(func(*Event, EventFlags) { after = true })
		require.NoError(t, err)
		require.NoError(t, first.Activate(EvTimeout))
		require.NoError(t, second.Activate(EvTimeout))

		assert.Equal(t, "run", recoverFrom(func() { _ = b.Run(context.Background()) }))
		assert.False(t, after, "a callback ran after the panic")
		assert.False(t, b.running.Load())

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, b.Run(ctx), context.DeadlineExceeded)
		assert.True(t, after, "the remaining active callback was lost")
	})
}

// TestPanicInNestedLoop runs base inner's loop from a callback of base outer:
// a panic in inner's callback leaves inner.Dispatch inside outer's callback,
// and then outer.Dispatch, with the same value.
func TestPanicInNestedLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		outer := newBase(t, bk)
		inner := newBase(t, bk)
		value := panicValue{42}
		require.NoError(t, inner.Once(-1, 0, 0, func(int, EventFlags) { panic(value) }))
		innerSaw := false
		require.NoError(t, outer.Once(-1, 0, 0, func(int, EventFlags) {
			defer func() {
				r := recover()
				innerSaw = r == value
				panic(r)
			}()
			_ = inner.Dispatch()
		}))
		assert.Equal(t, value, recoverFrom(func() { _ = outer.Dispatch() }))
		assert.True(t, innerSaw)
		require.ErrorIs(t, inner.Dispatch(), ErrNoEvents)
		require.ErrorIs(t, outer.Dispatch(), ErrNoEvents)
	})
}

// TestSyncPanicStaysWithItsGoroutine checks that a panic kept for one
// goroutine is re-raised there and nowhere else.
func TestSyncPanicStaysWithItsGoroutine(t *testing.T) {
	kept := make(chan struct{})
	rethrown := make(chan any)
	go func() {
		keepSyncPanic("sync")
		close(kept)
		rethrown <- recoverFrom(rethrowSyncPanic)
	}()
	<-kept
	assert.Nil(t, recoverFrom(rethrowSyncPanic), "another goroutine's panic was re-raised here")
	assert.Equal(t, "sync", <-rethrown)
	assert.Zero(t, syncPanics.pending.Load())
}

func TestCalledFromPackageCall(t *testing.T) {
	assert.False(t, calledFromPackageCall(), "a test function is not a callback")
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var fromLoop bool
		require.NoError(t, b.Once(-1, 0, 0, func(int, EventFlags) { fromLoop = !calledFromPackageCall() }))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.True(t, fromLoop, "a loop callback was taken for a synchronous one")
	})
}
