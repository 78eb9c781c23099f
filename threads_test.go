//go:build cgo

package libevent

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runInBackground runs b's loop on its own goroutine until the returned stop
// function is called; stop returns Run's result.
func runInBackground(t *testing.T, b *Base) (stop func() error) {
	t.Helper()
	running := make(chan struct{})
	require.NoError(t, b.Post(func() { close(running) }))
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- b.Run(ctx) }()
	<-running
	return func() error {
		cancel()
		return <-result
	}
}

// TestPostFromManyGoroutines posts from several goroutines while the loop
// runs: every function runs exactly once, on the loop's goroutine, in the
// order of its poster's calls.
func TestPostFromManyGoroutines(t *testing.T) {
	const posters, perPoster = 8, 2000
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		stop := runInBackground(t, b)

		var next [posters]int
		var ran int
		allRan := make(chan struct{})
		var wg sync.WaitGroup
		for p := 0; p < posters; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perPoster; i++ {
					err := b.Post(func() {
						// Only the loop's goroutine touches next and ran.
						assert.Equal(t, next[p], i, "poster %d out of order", p)
						next[p] = i + 1
						ran++
						if ran == posters*perPoster {
							close(allRan)
						}
					})
					if !assert.NoError(t, err) {
						return
					}
				}
			}()
		}
		wg.Wait()
		<-allRan
		assert.ErrorIs(t, stop(), context.Canceled)
		for p := range next {
			assert.Equal(t, perPoster, next[p])
		}
	})
}

// TestPostsShareOneWakeUp queues many functions before the loop runs: one
// run of the Post event's callback runs them all.
func TestPostsShareOneWakeUp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		ran := 0
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 250; i++ {
					assert.NoError(t, b.Post(func() { ran++ }))
				}
			}()
		}
		wg.Wait()
		active, err := b.NumEvents(CountActive)
		require.NoError(t, err)
		assert.Equal(t, 1, active, "1000 posts activated more than one event")
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, 1000, ran)
		assert.Equal(t, uint64(1), b.postBatches.Load())
	})
}

// TestActivateFromGoroutines activates an event from other goroutines while
// the loop waits: every activation wakes the loop and runs the callback.
func TestActivateFromGoroutines(t *testing.T) {
	const goroutines, rounds = 4, 200
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		acks := make(chan struct{})
		ev, err := b.NewTimer(func(*Event, EventFlags) { acks <- struct{}{} })
		require.NoError(t, err)
		stop := runInBackground(t, b)

		var mu sync.Mutex // one activation in flight, so none merge
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					mu.Lock()
					err := ev.Activate(EvRead)
					if err == nil {
						<-acks
					}
					mu.Unlock()
					if !assert.NoError(t, err) {
						return
					}
				}
			}()
		}
		wg.Wait()
		assert.ErrorIs(t, stop(), context.Canceled)
	})
}

// TestLoopBreakAndExitFromGoroutines ends a waiting loop from other
// goroutines.
func TestLoopBreakAndExitFromGoroutines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		for i := 0; i < 20; i++ {
			running := make(chan struct{})
			require.NoError(t, b.Post(func() { close(running) }))
			result := make(chan error, 1)
			go func() { result <- b.Loop(LoopNoExitOnEmpty) }()
			<-running
			if i%2 == 0 {
				require.NoError(t, b.LoopBreak())
				require.NoError(t, <-result)
				assert.True(t, b.GotBreak())
			} else {
				require.NoError(t, b.LoopExit(0))
				require.NoError(t, <-result)
				assert.True(t, b.GotExit())
			}
		}
	})
}

// TestAddAndDelFromGoroutines adds and deletes timers from several goroutines
// while the loop runs. A zero timeout races with the Del that follows it:
// either the callback ran first, or it never runs after Del returned.
func TestAddAndDelFromGoroutines(t *testing.T) {
	const goroutines, perGoroutine = 4, 100
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		stop := runInBackground(t, b)

		var fired, firedBeforeDel atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perGoroutine; i++ {
					var deleted, ran atomic.Bool
					done := make(chan struct{})
					ev, err := b.NewTimer(func(*Event, EventFlags) {
						assert.False(t, deleted.Load(), "a timer fired after its Del returned")
						fired.Add(1)
						ran.Store(true)
						close(done)
					})
					if !assert.NoError(t, err) {
						return
					}
					if i%2 == 0 {
						assert.NoError(t, ev.AddTimeout(0))
						assert.NoError(t, ev.Del())
						if ran.Load() {
							firedBeforeDel.Add(1)
						} else {
							deleted.Store(true)
							time.Sleep(time.Millisecond)
							deleted.Store(false)
							assert.NoError(t, ev.Activate(EvTimeout))
						}
					} else {
						assert.NoError(t, ev.AddTimeout(time.Millisecond))
					}
					<-done
					assert.NoError(t, ev.Close())
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int64(goroutines*perGoroutine), fired.Load())
		t.Logf("%d of %d deleted timers had fired before Del", firedBeforeDel.Load(), goroutines*perGoroutine/2)
		assert.ErrorIs(t, stop(), context.Canceled)
	})
}

// TestCloseWhileCallbacksRun closes events from other goroutines while their
// callbacks keep firing: after Close returns, the callback never runs again.
func TestCloseWhileCallbacksRun(t *testing.T) {
	const events = 50
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, _ := newSocketPair(t)
		stop := runInBackground(t, b)

		var wg sync.WaitGroup
		for i := 0; i < events; i++ {
			var closed atomic.Bool
			calls := make(chan struct{}, 1)
			// The socket is always writable, so the event fires on every
			// loop iteration until it is closed.
			ev, err := b.NewEvent(a, EvWrite|EvPersist, func(*Event, EventFlags) {
				assert.False(t, closed.Load(), "a callback ran after Close returned")
				select {
				case calls <- struct{}{}:
				default:
				}
			})
			require.NoError(t, err)
			require.NoError(t, ev.Add())
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-calls
				assert.NoError(t, ev.Close())
				closed.Store(true)
			}()
		}
		wg.Wait()
		assert.ErrorIs(t, stop(), context.Canceled)
	})
}

// TestCloseRacesLoopStart closes a base while another goroutine starts its
// loop: a break that arrives just before the loop starts must still end it.
func TestCloseRacesLoopStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		for i := 0; i < 200; i++ {
			b, err := NewBase(&bk.config)
			require.NoError(t, err)
			result := make(chan error, 1)
			go func() { result <- b.Loop(LoopNoExitOnEmpty) }()
			if i%2 == 1 {
				runtime.Gosched()
			}
			closed := make(chan error, 1)
			go func() { closed <- b.Close() }()
			select {
			case err := <-closed:
				require.NoError(t, err)
			case <-time.After(time.Minute):
				t.Fatal("Close waited for a loop that missed its break")
			}
			// Either the loop ran and was closed, or Close came first.
			assert.ErrorIs(t, <-result, ErrClosed)
		}
	})
}

// TestBaseCloseWhileGoroutinesPost closes a running base while goroutines keep
// posting to it: each Post either succeeds or reports ErrClosed.
func TestBaseCloseWhileGoroutinesPost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		for round := 0; round < 10; round++ {
			b, err := NewBase(&bk.config)
			require.NoError(t, err)
			stop := runInBackground(t, b)
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						err := b.Post(func() {})
						if errors.Is(err, ErrClosed) {
							return
						}
						if !assert.NoError(t, err) {
							return
						}
					}
				}()
			}
			time.Sleep(time.Millisecond)
			require.NoError(t, b.Close())
			wg.Wait()
			assert.ErrorIs(t, stop(), ErrClosed)
		}
	})
}

// TestCallOnLoopOneAtATime calls callOnLoop from several goroutines while
// another goroutine starts and stops the loop over and over. The functions
// serve objects without locks of their own, such as evhttp's, so no two may
// run at once, whether on the loop or on their callers' goroutines, and each
// runs exactly once.
func TestCallOnLoopOneAtATime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		const goroutines, each = 4, 300
		var inFlight, maxInFlight, ran atomic.Int32
		fn := func() {
			n := inFlight.Add(1)
			for {
				m := maxInFlight.Load()
				if n <= m || maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			runtime.Gosched()
			ran.Add(1)
			inFlight.Add(-1)
		}

		stopLoops := make(chan struct{})
		loops := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stopLoops:
					loops <- nil
					return
				default:
				}
				if err := b.Loop(LoopNonBlock); err != nil && !errors.Is(err, ErrNoEvents) {
					loops <- err
					return
				}
			}
		}()

		var wg sync.WaitGroup
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if !assert.NoError(t, b.enter("test")) {
						return
					}
					err := b.callOnLoop(fn)
					b.leave()
					if !assert.NoError(t, err) {
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stopLoops)
		require.NoError(t, <-loops)
		assert.Equal(t, int32(goroutines*each), ran.Load())
		assert.Equal(t, int32(1), maxInFlight.Load(), "functions ran at the same time")
	})
}
