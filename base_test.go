//go:build cgo

package libevent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestBaseMethodAndFeatures(t *testing.T) {
	want := map[string]struct {
		method   string
		features Features
	}{
		"epoll":            {"epoll", FeatureET | FeatureO1 | FeatureEarlyClose},
		"epoll-changelist": {"epoll (with changelist)", FeatureET | FeatureO1 | FeatureEarlyClose},
		"poll":             {"poll", FeatureFDs | FeatureEarlyClose},
		"select":           {"select", FeatureFDs},
	}
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		assert.Equal(t, want[bk.name].method, b.Method())
		assert.Equal(t, want[bk.name].features, b.Features())
	})
}

func TestSupportedMethods(t *testing.T) {
	methods := SupportedMethods()
	for _, m := range []string{"epoll", "poll", "select"} {
		assert.Contains(t, methods, m)
	}
}

func TestConfigAvoidMethods(t *testing.T) {
	b, err := NewBase(&Config{AvoidMethods: []string{"epoll"}, Flags: IgnoreEnv})
	require.NoError(t, err)
	assert.Equal(t, "poll", b.Method())
	require.NoError(t, b.Close())

	b, err = NewBase(&Config{AvoidMethods: []string{"epoll", "poll", "kqueue"}, Flags: IgnoreEnv})
	require.NoError(t, err)
	assert.Equal(t, "select", b.Method())
	require.NoError(t, b.Close())
}

func TestConfigRequireFeatures(t *testing.T) {
	b, err := NewBase(&Config{RequireFeatures: FeatureEarlyClose, Flags: IgnoreEnv})
	require.NoError(t, err)
	assert.Equal(t, "epoll", b.Method())
	require.NoError(t, b.Close())

	b, err = NewBase(&Config{Method: "poll", RequireFeatures: FeatureET, Flags: IgnoreEnv})
	assert.Error(t, err)
	assert.Nil(t, b)
}

func TestConfigIgnoreEnv(t *testing.T) {
	t.Setenv("EVENT_NOEPOLL", "1")
	b, err := NewBase(nil)
	require.NoError(t, err)
	assert.NotEqual(t, "epoll", b.backend(), "EVENT_NOEPOLL was ignored")
	require.NoError(t, b.Close())

	b, err = NewBase(&Config{Flags: IgnoreEnv})
	require.NoError(t, err)
	assert.Equal(t, "epoll", b.Method())
	require.NoError(t, b.Close())
}

func TestConfigOtherFlags(t *testing.T) {
	flags := []BaseFlags{NoCacheTime, PreciseTimer, StartupIOCP, NoLock, IgnoreEnv | PreciseTimer | NoCacheTime}
	forEachBackend(t, func(t *testing.T, bk backend) {
		for _, f := range flags {
			b := newBase(t, bk, func(c *Config) { c.Flags |= f; c.NumCPUsHint = 4 })
			fired := 0
			tm, err := b.NewTimer(func(*Event, EventFlags) { fired++ })
			require.NoError(t, err)
			require.NoError(t, tm.AddTimeout(time.Millisecond))
			require.ErrorIs(t, b.Dispatch(), ErrNoEvents, "flags %v", f)
			assert.Equal(t, 1, fired, "flags %v", f)
		}
	})
}

func TestConfigFlagNames(t *testing.T) {
	assert.Equal(t, "NoLock|EpollUseChangelist", (NoLock | EpollUseChangelist).String())
	assert.Equal(t, "ET|EarlyClose", (FeatureET | FeatureEarlyClose).String())
	assert.Equal(t, "EvRead|EvPersist|0x400", (EvRead | EvPersist | 0x400).String())
	assert.Equal(t, "0", EventFlags(0).String())
}

// dispatchLimitRun activates a self-reactivating event x that makes a pipe
// readable in its first callback, and returns how many times x had run when
// the pipe's read event r fired. Without dispatch limits the loop keeps
// running x, which is always active again, before it polls for r.
func dispatchLimitRun(t *testing.T, b *Base, xPriority int, sleep time.Duration) int {
	t.Helper()
	const rounds = 30
	rfd, wfd := newPipe(t)
	xCount, seenAt := 0, -1
	var r *Event
	r, err := b.NewEvent(rfd, EvRead, func(*Event, EventFlags) { seenAt = xCount })
	require.NoError(t, err)
	require.NoError(t, r.Add())
	x, err := b.NewTimer(func(ev *Event, _ EventFlags) {
		xCount++
		if xCount == 1 {
			writeByte(t, wfd)
		}
		time.Sleep(sleep)
		if xCount < rounds {
			assert.NoError(t, ev.Activate(EvTimeout))
		}
	})
	require.NoError(t, err)
	if xPriority >= 0 {
		require.NoError(t, x.SetPriority(xPriority))
	}
	require.NoError(t, x.Activate(EvTimeout))
	require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
	require.Equal(t, rounds, xCount)
	return seenAt
}

func TestConfigMaxCallbacks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		unlimited := newBase(t, bk)
		assert.Equal(t, 30, dispatchLimitRun(t, unlimited, -1, 0))

		limited := newBase(t, bk, func(c *Config) { c.MaxCallbacks = 1 })
		assert.Less(t, dispatchLimitRun(t, limited, -1, 0), 5)

		// With MinPriority 1 the limit spares priority 0.
		spared := newBase(t, bk, func(c *Config) { c.MaxCallbacks = 1; c.MinPriority = 1 })
		require.NoError(t, spared.SetPriorities(2))
		assert.Equal(t, 30, dispatchLimitRun(t, spared, 0, 0))
	})
}

func TestConfigMaxDispatchInterval(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		limited := newBase(t, bk, func(c *Config) { c.MaxDispatchInterval = time.Millisecond })
		// libevent measures the interval on the coarse clock, so each
		// callback sleeps long enough to move that clock by a tick.
		assert.Less(t, dispatchLimitRun(t, limited, -1, coarseClockResolution(t)), 5)
	})
}

func TestDispatchWithoutEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		assert.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.ErrorIs(t, b.Loop(LoopNonBlock), ErrNoEvents)
		assert.ErrorIs(t, b.Loop(LoopOnce), ErrNoEvents)
	})
}

func TestLoopOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var fired []string
		short, err := b.NewTimer(func(*Event, EventFlags) { fired = append(fired, "short") })
		require.NoError(t, err)
		long, err := b.NewTimer(func(*Event, EventFlags) { fired = append(fired, "long") })
		require.NoError(t, err)
		require.NoError(t, short.AddTimeout(time.Millisecond))
		require.NoError(t, long.AddTimeout(time.Hour))

		require.NoError(t, b.Loop(LoopOnce))
		assert.Equal(t, []string{"short"}, fired)
		pending, _, err := long.Pending(EvTimeout)
		require.NoError(t, err)
		assert.Equal(t, EvTimeout, pending)
	})
}

func TestLoopNonBlock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, w := newPipe(t)
		reads := 0
		ev, err := b.NewEvent(r, EvRead|EvPersist, func(*Event, EventFlags) {
			reads++
			var buf [16]byte
			unix.Read(r, buf[:])
		})
		require.NoError(t, err)
		require.NoError(t, ev.Add())

		require.NoError(t, b.Loop(LoopNonBlock))
		assert.Equal(t, 0, reads)

		writeByte(t, w)
		require.NoError(t, b.Loop(LoopNonBlock))
		assert.Equal(t, 1, reads)
	})
}

func TestLoopNoExitOnEmpty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		fired := make(chan struct{})
		require.NoError(t, b.Once(-1, EvTimeout, time.Millisecond, func(int, EventFlags) { close(fired) }))
		go func() {
			<-fired
			// The loop now has no events and waits; LoopBreak wakes it.
			time.Sleep(10 * time.Millisecond)
			assert.NoError(t, b.LoopBreak())
		}()
		require.NoError(t, b.Loop(LoopNoExitOnEmpty))
		assert.True(t, b.GotBreak())
		assert.False(t, b.GotExit())
	})
}

func TestLoopExit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		ticks := 0
		tick, err := b.NewEvent(-1, EvPersist, func(*Event, EventFlags) { ticks++ })
		require.NoError(t, err)
		require.NoError(t, tick.AddTimeout(time.Millisecond))

		start := time.Now()
		require.NoError(t, b.LoopExit(30*time.Millisecond))
		require.NoError(t, b.Dispatch())
		assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond-coarseClockResolution(t))
		assert.Positive(t, ticks)
		assert.True(t, b.GotExit())
		assert.False(t, b.GotBreak())
	})
}

func TestLoopExitBeforeLoopRuns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		ticks := 0
		tick, err := b.NewEvent(-1, EvPersist, func(*Event, EventFlags) { ticks++ })
		require.NoError(t, err)
		require.NoError(t, tick.AddTimeout(time.Millisecond))
		require.NoError(t, b.LoopExit(0))
		require.NoError(t, b.Dispatch())
		assert.True(t, b.GotExit())
		assert.LessOrEqual(t, ticks, 1)
	})
}

func TestLoopBreakSkipsRemainingCallbacks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var order []string
		first, err := b.NewTimer(func(*Event, EventFlags) {
			order = append(order, "first")
			assert.NoError(t, b.LoopBreak())
		})
		require.NoError(t, err)
		second, err := b.NewTimer(func(*Event, EventFlags) { order = append(order, "second") })
		require.NoError(t, err)
		require.NoError(t, first.Activate(EvTimeout))
		require.NoError(t, second.Activate(EvTimeout))

		require.NoError(t, b.Dispatch())
		assert.Equal(t, []string{"first"}, order)
		assert.True(t, b.GotBreak())

		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []string{"first", "second"}, order)
		assert.False(t, b.GotBreak())
	})
}

// TestLoopContinue checks that LoopContinue makes the loop poll before it runs
// the rest of the active callbacks: a high-priority read event that a
// callback made ready then runs before the remaining low-priority callback.
func TestLoopContinue(t *testing.T) {
	for _, useContinue := range []bool{false, true} {
		t.Run(fmt.Sprintf("continue=%v", useContinue), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, bk backend) {
				b := newBase(t, bk)
				require.NoError(t, b.SetPriorities(2))
				rfd, wfd := newPipe(t)
				var order []string
				r, err := b.NewEvent(rfd, EvRead, func(*Event, EventFlags) { order = append(order, "read") })
				require.NoError(t, err)
				require.NoError(t, r.SetPriority(0))
				require.NoError(t, r.Add())
				a, err := b.NewTimer(func(*Event, EventFlags) {
					order = append(order, "a")
					writeByte(t, wfd)
					if useContinue {
						assert.NoError(t, b.LoopContinue())
					}
				})
				require.NoError(t, err)
				c, err := b.NewTimer(func(*Event, EventFlags) { order = append(order, "c") })
				require.NoError(t, err)
				require.NoError(t, a.SetPriority(1))
				require.NoError(t, c.SetPriority(1))
				require.NoError(t, a.Activate(EvTimeout))
				require.NoError(t, c.Activate(EvTimeout))

				require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
				if useContinue {
					assert.Equal(t, []string{"a", "read", "c"}, order)
				} else {
					assert.Equal(t, []string{"a", "c", "read"}, order)
				}
			})
		})
	}
}

func TestRunUntilContextDone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, b.Run(ctx), context.DeadlineExceeded)
		assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)

		// A context that is done before Run starts, or while it starts,
		// still ends the run.
		done, cancel2 := context.WithCancel(context.Background())
		cancel2()
		assert.ErrorIs(t, b.Run(done), context.Canceled)
		for i := 0; i < 50; i++ {
			ctx, cancel := context.WithCancel(context.Background())
			go cancel()
			assert.ErrorIs(t, b.Run(ctx), context.Canceled)
		}
	})
}

func TestRunEndsWithLoopExitAndClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		require.NoError(t, b.Once(-1, EvTimeout, time.Millisecond, func(int, EventFlags) {
			assert.NoError(t, b.LoopExit(0))
		}))
		assert.NoError(t, b.Run(context.Background()))

		// A late cancel of the first run must not break the second.
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, b.LoopExit(time.Millisecond))
		require.NoError(t, b.Run(ctx))
		cancel()
		// The timer ends the run after its second tick, so an early end
		// shows up as fewer ticks, however slow the machine.
		ticks := 0
		tick, err := b.NewEvent(-1, EvPersist, func(*Event, EventFlags) {
			ticks++
			if ticks == 2 {
				assert.NoError(t, b.LoopExit(0))
			}
		})
		require.NoError(t, err)
		require.NoError(t, tick.AddTimeout(time.Millisecond))
		require.NoError(t, b.Run(context.Background()))
		assert.Equal(t, 2, ticks)
		require.NoError(t, tick.Del())

		running := make(chan struct{})
		require.NoError(t, b.Post(func() { close(running) }))
		result := make(chan error, 1)
		go func() { result <- b.Run(context.Background()) }()
		<-running
		require.NoError(t, b.Close())
		assert.ErrorIs(t, <-result, ErrClosed)
	})
}

func TestLoopAlreadyRunning(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		running := make(chan struct{})
		require.NoError(t, b.Post(func() { close(running) }))
		ctx, cancel := context.WithCancel(context.Background())
		result := make(chan error, 1)
		go func() { result <- b.Run(ctx) }()
		<-running

		assert.ErrorIs(t, b.Dispatch(), ErrLoopRunning)
		assert.ErrorIs(t, b.Loop(LoopNonBlock), ErrLoopRunning)
		assert.ErrorIs(t, b.Run(context.Background()), ErrLoopRunning)
		inner := make(chan error, 1)
		require.NoError(t, b.Post(func() { inner <- b.Dispatch() }))
		assert.ErrorIs(t, <-inner, ErrLoopRunning)

		cancel()
		assert.ErrorIs(t, <-result, context.Canceled)
	})
}

func TestPriorities(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		assert.Equal(t, 1, b.Priorities())
		require.NoError(t, b.SetPriorities(3))
		assert.Equal(t, 3, b.Priorities())

		var order []int
		var events []*Event
		for p := 2; p >= 0; p-- {
			ev, err := b.NewTimer(func(*Event, EventFlags) { order = append(order, p) })
			require.NoError(t, err)
			assert.Equal(t, 1, ev.Priority(), "new events get the middle priority")
			require.NoError(t, ev.SetPriority(p))
			assert.Equal(t, p, ev.Priority())
			events = append(events, ev)
		}
		for _, ev := range events {
			require.NoError(t, ev.Activate(EvTimeout))
		}
		require.Error(t, events[0].SetPriority(0), "an active event's priority changed")
		require.Error(t, b.SetPriorities(4), "priorities changed while callbacks are active")
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []int{0, 1, 2}, order)

		assert.ErrorIs(t, b.SetPriorities(2), ErrInvalid, "an event has priority 2")
		require.NoError(t, events[0].SetPriority(1))
		require.NoError(t, b.SetPriorities(2))
		assert.ErrorIs(t, events[1].SetPriority(2), ErrInvalid)
	})
}

func TestReinit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, w := newPipe(t)
		reads := 0
		ev, err := b.NewEvent(r, EvRead, func(*Event, EventFlags) { reads++ })
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		require.NoError(t, b.Reinit())
		writeByte(t, w)
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, 1, reads)
	})
}

func TestCachedTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		for _, noCache := range []bool{false, true} {
			b := newBase(t, bk, func(c *Config) {
				if noCache {
					c.Flags |= NoCacheTime
				}
			})
			var first, second, updated time.Time
			require.NoError(t, b.Once(-1, 0, 0, func(int, EventFlags) {
				var err error
				first, err = b.CachedTime()
				assert.NoError(t, err)
				time.Sleep(20 * time.Millisecond)
				second, err = b.CachedTime()
				assert.NoError(t, err)
				assert.NoError(t, b.UpdateCachedTime())
				updated, err = b.CachedTime()
				assert.NoError(t, err)
			}))
			require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
			if noCache {
				assert.GreaterOrEqual(t, second.Sub(first), 20*time.Millisecond)
			} else {
				assert.Equal(t, first, second, "the cached time moved inside one callback")
				// The cache is refreshed from the coarse monotonic clock.
				assert.GreaterOrEqual(t, updated.Sub(first), 20*time.Millisecond-coarseClockResolution(t))
			}
			outside, err := b.CachedTime()
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now(), outside, time.Second)
		}
	})
}

func TestMonotonicTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, err := b.MonotonicTime()
		require.NoError(t, err)
		time.Sleep(20 * time.Millisecond)
		c, err := b.MonotonicTime()
		require.NoError(t, err)
		assert.GreaterOrEqual(t, c-a, 20*time.Millisecond-coarseClockResolution(t))
	})
}

func TestEventCounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, _ := newPipe(t)
		var events []*Event
		for i := 0; i < 3; i++ {
			ev, err := b.NewEvent(r, EvRead, func(*Event, EventFlags) {})
			require.NoError(t, err)
			require.NoError(t, ev.Add())
			events = append(events, ev)
		}
		count := func(which CountFlags) int {
			n, err := b.NumEvents(which)
			require.NoError(t, err)
			return n
		}
		maxCount := func(which CountFlags, clear bool) int {
			n, err := b.MaxEvents(which, clear)
			require.NoError(t, err)
			return n
		}
		assert.Equal(t, 3, count(CountAdded))
		assert.Equal(t, 0, count(CountActive))
		assert.Equal(t, 0, count(CountVirtual))

		// libevent 2.1 counts an active event under CountAdded too, so
		// asking for both counts it twice.
		require.NoError(t, events[0].Activate(EvRead))
		assert.Equal(t, 1, count(CountActive))
		assert.Equal(t, 4, count(CountAdded))
		assert.Equal(t, 5, count(CountActive|CountAdded))

		assert.Equal(t, 4, maxCount(CountAdded, true))
		assert.Equal(t, 1, maxCount(CountActive, false))
		// A clear resets the maximum to zero until the count next grows.
		assert.Equal(t, 0, maxCount(CountAdded, false))
		require.NoError(t, events[1].Del())
		require.NoError(t, events[2].Del())
		assert.Equal(t, 2, count(CountAdded))
		assert.Equal(t, 0, maxCount(CountAdded, false))
		require.NoError(t, events[1].Add())
		assert.Equal(t, 3, maxCount(CountAdded, false))
	})
}

func TestDump(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, _ := newPipe(t)
		ev, err := b.NewEvent(r, EvRead|EvPersist, func(*Event, EventFlags) {})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		tm, err := b.NewTimer(func(*Event, EventFlags) {})
		require.NoError(t, err)
		require.NoError(t, tm.Activate(EvTimeout))

		var out bytes.Buffer
		require.NoError(t, b.Dump(&out))
		text := out.String()
		assert.Contains(t, text, "Inserted events:")
		assert.Contains(t, text, "Active events:")
		assert.Regexp(t, fmt.Sprintf(`\[fd +%d\] Read Persist\n`, r), text)
		assert.Regexp(t, `\[fd +-1, priority=0\] Timeout active\n`, text)
	})
}

func TestForEachEvent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, _ := newPipe(t)
		reader, err := b.NewEvent(r, EvRead, func(*Event, EventFlags) {})
		require.NoError(t, err)
		require.NoError(t, reader.Add())
		timer, err := b.NewTimer(func(*Event, EventFlags) {})
		require.NoError(t, err)
		require.NoError(t, timer.AddTimeout(time.Hour))
		idle, err := b.NewTimer(func(*Event, EventFlags) {})
		require.NoError(t, err)
		// A posted function makes the Post event active; it is not listed.
		require.NoError(t, b.Post(func() {}))

		seen := map[*Event]EventInfo{}
		internal := 0
		require.NoError(t, b.ForEachEvent(func(info EventInfo) error {
			if info.Internal {
				// The event that wakes the loop from other threads.
				assert.Nil(t, info.Event)
				internal++
				return nil
			}
			require.NotNil(t, info.Event)
			seen[info.Event] = info
			return nil
		}))
		assert.Equal(t, 1, internal)
		require.Len(t, seen, 2)
		assert.Equal(t, EventInfo{Event: reader, Fd: r, Events: EvRead, Pending: EvRead}, seen[reader])
		assert.Equal(t, EventInfo{Event: timer, Fd: -1, Events: 0, Pending: EvTimeout}, seen[timer])
		assert.NotContains(t, seen, idle)

		stop := errors.New("stop")
		calls := 0
		err = b.ForEachEvent(func(info EventInfo) error {
			if info.Internal {
				return nil
			}
			calls++
			// Closing events from fn is allowed.
			require.NoError(t, info.Event.Close())
			return stop
		})
		assert.ErrorIs(t, err, stop)
		assert.Equal(t, 1, calls)
	})
}

func TestActivateFd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, _ := newPipe(t)
		var got []EventFlags
		for i := 0; i < 2; i++ {
			ev, err := b.NewEvent(r, EvRead, func(_ *Event, what EventFlags) { got = append(got, what) })
			require.NoError(t, err)
			require.NoError(t, ev.Add())
		}
		withTimeout, err := b.NewEvent(r, EvRead, func(_ *Event, what EventFlags) { got = append(got, what|0x1000) })
		require.NoError(t, err)
		require.NoError(t, withTimeout.AddTimeout(time.Hour))

		require.NoError(t, b.ActivateFd(r, EvTimeout))
		require.NoError(t, b.Loop(LoopNonBlock))
		assert.Equal(t, []EventFlags{EvTimeout | 0x1000}, got)

		got = nil
		require.NoError(t, b.ActivateFd(r, EvRead))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []EventFlags{EvRead, EvRead}, got)
	})
}

func TestOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, w := newPipe(t)
		type call struct {
			fd   int
			what EventFlags
		}
		var calls []call
		record := func(fd int, what EventFlags) { calls = append(calls, call{fd, what}) }
		require.NoError(t, b.Once(-1, EvTimeout, time.Millisecond, record))
		require.NoError(t, b.Once(-1, 0, 0, record))
		require.NoError(t, b.Once(r, EvRead, 0, record))
		r2, _ := newPipe(t)
		require.NoError(t, b.Once(r2, EvRead, 5*time.Millisecond, record))
		writeByte(t, w)

		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.ElementsMatch(t, []call{{-1, EvTimeout}, {-1, EvTimeout}, {r, EvRead}, {r2, EvTimeout}}, calls)
		b.mu.Lock()
		assert.Empty(t, b.onces, "fired once-callbacks kept their handles")
		b.mu.Unlock()
	})
}

func TestOncePendingAtClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := handles.count.Load()
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		require.NoError(t, b.Once(-1, EvTimeout, time.Hour, func(int, EventFlags) { t.Error("fired") }))
		assert.Equal(t, before+2, handles.count.Load())
		require.NoError(t, b.Close())
		assert.Equal(t, before, handles.count.Load())
	})
}

func TestCommonTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		ct, err := b.CommonTimeout(5 * time.Millisecond)
		require.NoError(t, err)
		assert.Equal(t, 5*time.Millisecond, ct.Duration())
		again, err := b.CommonTimeout(5 * time.Millisecond)
		require.NoError(t, err)
		assert.Equal(t, ct.tv, again.tv, "the same duration got another queue")

		fired := 0
		var events []*Event
		for i := 0; i < 10; i++ {
			ev, err := b.NewTimer(func(_ *Event, what EventFlags) {
				assert.Equal(t, EvTimeout, what)
				fired++
			})
			require.NoError(t, err)
			require.NoError(t, ev.AddCommonTimeout(ct))
			events = append(events, ev)
		}
		pending, left, err := events[0].Pending(EvTimeout)
		require.NoError(t, err)
		assert.Equal(t, EvTimeout, pending)
		assert.LessOrEqual(t, left, 5*time.Millisecond)

		start := time.Now()
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, 10, fired)
		assert.GreaterOrEqual(t, time.Since(start), 5*time.Millisecond-coarseClockResolution(t))

		other := newBase(t, bk)
		foreign, err := other.NewTimer(func(*Event, EventFlags) {})
		require.NoError(t, err)
		assert.ErrorIs(t, foreign.AddCommonTimeout(ct), ErrInvalid)
	})
}

func TestBaseCloseClosesEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := handles.count.Load()
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		r, _ := newPipe(t)
		ev, err := b.NewEvent(r, EvRead, func(*Event, EventFlags) {})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		tm, err := b.NewTimer(func(*Event, EventFlags) {})
		require.NoError(t, err)

		require.NoError(t, b.Close())
		require.NoError(t, b.Close())
		assert.Equal(t, before, handles.count.Load())
		assert.ErrorIs(t, ev.Add(), ErrClosed)
		assert.ErrorIs(t, tm.AddTimeout(time.Second), ErrClosed)
		assert.NoError(t, ev.Close())
		assert.ErrorIs(t, b.Dispatch(), ErrClosed)
		assert.ErrorIs(t, b.Post(func() {}), ErrClosed)
		_, err = b.NewTimer(func(*Event, EventFlags) {})
		assert.ErrorIs(t, err, ErrClosed)
	})
}

func TestBaseCloseFromCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		later := 0
		first, err := b.NewTimer(func(*Event, EventFlags) { assert.NoError(t, b.Close()) })
		require.NoError(t, err)
		second, err := b.NewTimer(func(*Event, EventFlags) { later++ })
		require.NoError(t, err)
		require.NoError(t, first.Activate(EvTimeout))
		require.NoError(t, second.Activate(EvTimeout))
		assert.ErrorIs(t, b.Dispatch(), ErrClosed)
		assert.Equal(t, 0, later)
		assert.ErrorIs(t, second.Activate(EvTimeout), ErrClosed)
	})
}

func TestBaseCloseWaitsForRunningCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		inCallback := make(chan struct{})
		var finished atomic.Bool
		require.NoError(t, b.Post(func() {
			close(inCallback)
			time.Sleep(20 * time.Millisecond)
			finished.Store(true)
		}))
		result := make(chan error, 1)
		go func() { result <- b.Run(context.Background()) }()
		<-inCallback
		require.NoError(t, b.Close())
		assert.True(t, finished.Load(), "Close returned while the callback ran")
		assert.ErrorIs(t, <-result, ErrClosed)
	})
}

func TestBaseErrorsNameOperation(t *testing.T) {
	b, err := NewBase(nil)
	require.NoError(t, err)
	require.NoError(t, b.Close())
	err = b.LoopExit(time.Second)
	var le *Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "event_base_loopexit", le.Op)
	assert.True(t, strings.HasPrefix(err.Error(), "libevent: event_base_loopexit: "), err.Error())
}
