//go:build cgo

package libevent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fixture is what a bad-input case works on: an open base with an event on
// a pipe, a closed base, and events made unusable in different ways.
type fixture struct {
	base        *Base
	readEnd     int
	event       *Event
	closedBase  *Base
	orphan      *Event // created on closedBase before it was closed
	closedEvent *Event
	closedFd    int
	regularFile int
	blockingFd  int
}

func newFixture(t *testing.T, bk backend) *fixture {
	f := &fixture{}
	f.base = newBase(t, bk)
	f.readEnd, _ = newPipe(t)
	var err error
	f.event, err = f.base.NewEvent(f.readEnd, EvRead, func(*Event, EventFlags) {})
	require.NoError(t, err)
	f.closedEvent, err = f.base.NewTimer(func(*Event, EventFlags) {})
	require.NoError(t, err)
	require.NoError(t, f.closedEvent.Close())

	f.closedBase, err = NewBase(&bk.config)
	require.NoError(t, err)
	f.orphan, err = f.closedBase.NewTimer(func(*Event, EventFlags) {})
	require.NoError(t, err)
	require.NoError(t, f.closedBase.Close())

	// A descriptor that was open and is closed now. It is duplicated to a
	// high number first so that the lowest-free-number rule does not hand
	// the number out again during the test.
	var p [2]int
	require.NoError(t, unix.Pipe(p[:]))
	high, err := unix.FcntlInt(uintptr(p[0]), unix.F_DUPFD_CLOEXEC, 900)
	require.NoError(t, err)
	require.NoError(t, unix.Close(p[0]))
	require.NoError(t, unix.Close(p[1]))
	require.NoError(t, unix.Close(high))
	f.closedFd = high

	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o644))
	f.regularFile = openNonBlocking(t, path)

	require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
	t.Cleanup(func() {
		unix.Close(p[0])
		unix.Close(p[1])
	})
	f.blockingFd = p[0]
	return f
}

func noop(*Event, EventFlags) {}

func noopOnce(int, EventFlags) {}

// TestBadInput feeds every kind of invalid input to the API. Each case must
// return an error that matches want and names the libevent operation. No
// case may crash the process or reach one of libevent's fatal checks.
func TestBadInput(t *testing.T) {
	type badCase struct {
		name string
		want error
		call func(f *fixture) error
	}
	newEvent := func(b *Base, fd int, what EventFlags, fn EventFunc) error {
		_, err := b.NewEvent(fd, what, fn)
		return err
	}
	newBaseErr := func(cfg Config) error {
		b, err := NewBase(&cfg)
		if b != nil {
			b.Close()
		}
		return err
	}
	cases := []badCase{
		// Config.
		{"unsupported method", ErrInvalid, func(*fixture) error { return newBaseErr(Config{Method: "kqueue"}) }},
		{"unknown method", ErrInvalid, func(*fixture) error { return newBaseErr(Config{Method: "nonesuch"}) }},
		{"unknown avoided method", ErrInvalid, func(*fixture) error { return newBaseErr(Config{AvoidMethods: []string{"nonesuch"}}) }},
		{"method both required and avoided", ErrInvalid, func(*fixture) error {
			return newBaseErr(Config{Method: "poll", AvoidMethods: []string{"poll"}})
		}},
		{"unknown base flags", ErrInvalid, func(*fixture) error { return newBaseErr(Config{Flags: 0x4000}) }},
		{"unknown features", ErrInvalid, func(*fixture) error { return newBaseErr(Config{RequireFeatures: 0x100}) }},
		{"negative dispatch interval", ErrInvalid, func(*fixture) error {
			return newBaseErr(Config{MaxDispatchInterval: -time.Second})
		}},
		{"negative max callbacks", ErrInvalid, func(*fixture) error { return newBaseErr(Config{MaxCallbacks: -1}) }},
		{"min priority too large", ErrInvalid, func(*fixture) error { return newBaseErr(Config{MinPriority: 256}) }},
		{"negative min priority", ErrInvalid, func(*fixture) error { return newBaseErr(Config{MinPriority: -1}) }},
		{"negative CPU hint", ErrInvalid, func(*fixture) error { return newBaseErr(Config{NumCPUsHint: -2}) }},

		// Event creation.
		{"nil callback", ErrInvalid, func(f *fixture) error { return newEvent(f.base, f.readEnd, EvRead, nil) }},
		{"nil once callback", ErrInvalid, func(f *fixture) error { return f.base.Once(-1, 0, 0, nil) }},
		{"nil posted function", ErrInvalid, func(f *fixture) error { return f.base.Post(nil) }},
		{"unknown event flags", ErrInvalid, func(f *fixture) error { return newEvent(f.base, f.readEnd, EvRead|0x200, noop) }},
		{"signal flag", ErrInvalid, func(f *fixture) error { return newEvent(f.base, 2, 0x08, noop) }},
		{"negative descriptor", ErrInvalid, func(f *fixture) error { return newEvent(f.base, -5, EvRead, noop) }},
		{"timer descriptor below -1", ErrInvalid, func(f *fixture) error { return newEvent(f.base, -2, 0, noop) }},
		{"read without descriptor", ErrInvalid, func(f *fixture) error { return newEvent(f.base, -1, EvRead, noop) }},
		{"closed descriptor", syscall.EBADF, func(f *fixture) error { return newEvent(f.base, f.closedFd, EvRead, noop) }},
		{"descriptor never opened", syscall.EBADF, func(f *fixture) error { return newEvent(f.base, 1<<20, EvWrite, noop) }},
		{"edge-triggered timer", ErrInvalid, func(f *fixture) error { return newEvent(f.base, -1, EvET, noop) }},
		{"edge-triggered close only", ErrInvalid, func(f *fixture) error { return newEvent(f.base, f.readEnd, EvET|EvClosed, noop) }},

		// Event calls.
		{"negative timeout", ErrInvalid, func(f *fixture) error { return f.event.AddTimeout(-time.Millisecond) }},
		{"add after the descriptor closed", syscall.EBADF, func(f *fixture) error {
			ev, err := f.base.NewEvent(f.readEnd, EvRead, noop)
			if err != nil {
				return err
			}
			defer ev.Close()
			ev.fd = f.closedFd // as if the descriptor had been closed since
			return ev.Add()
		}},
		{"nil common timeout", ErrInvalid, func(f *fixture) error { return f.event.AddCommonTimeout(nil) }},
		{"zero common timeout", ErrInvalid, func(f *fixture) error { return f.event.AddCommonTimeout(&CommonTimeout{}) }},
		{"activate with persist", ErrInvalid, func(f *fixture) error { return f.event.Activate(EvPersist) }},
		{"pending with edge flag", ErrInvalid, func(f *fixture) error {
			_, _, err := f.event.Pending(EvET)
			return err
		}},
		{"priority below range", ErrInvalid, func(f *fixture) error { return f.event.SetPriority(-1) }},
		{"priority above range", ErrInvalid, func(f *fixture) error { return f.event.SetPriority(1) }},

		// Base calls.
		{"zero priorities", ErrInvalid, func(f *fixture) error { return f.base.SetPriorities(0) }},
		{"too many priorities", ErrInvalid, func(f *fixture) error { return f.base.SetPriorities(256) }},
		{"unknown loop flags", ErrInvalid, func(f *fixture) error { return f.base.Loop(0x10) }},
		{"negative loop exit delay", ErrInvalid, func(f *fixture) error { return f.base.LoopExit(-time.Second) }},
		{"negative once timeout", ErrInvalid, func(f *fixture) error { return f.base.Once(-1, 0, -time.Second, noopOnce) }},
		{"persistent once", ErrInvalid, func(f *fixture) error { return f.base.Once(-1, EvPersist, 0, noopOnce) }},
		{"once on closed descriptor", syscall.EBADF, func(f *fixture) error { return f.base.Once(f.closedFd, EvRead, 0, noopOnce) }},
		{"negative common timeout", ErrInvalid, func(f *fixture) error {
			_, err := f.base.CommonTimeout(-time.Second)
			return err
		}},
		{"no count flags", ErrInvalid, func(f *fixture) error {
			_, err := f.base.NumEvents(0)
			return err
		}},
		{"unknown count flags", ErrInvalid, func(f *fixture) error {
			_, err := f.base.MaxEvents(0x10, false)
			return err
		}},
		{"activate negative descriptor", ErrInvalid, func(f *fixture) error { return f.base.ActivateFd(-1, EvRead) }},
		{"activate without flags", ErrInvalid, func(f *fixture) error { return f.base.ActivateFd(f.readEnd, 0) }},
		{"dump to nil writer", ErrInvalid, func(f *fixture) error { return f.base.Dump(nil) }},
		{"nil for-each function", ErrInvalid, func(f *fixture) error { return f.base.ForEachEvent(nil) }},
		{"common timeout of another base", ErrInvalid, func(f *fixture) error {
			other, err := NewBase(nil)
			if err != nil {
				return err
			}
			defer other.Close()
			ct, err := other.CommonTimeout(time.Second)
			if err != nil {
				return err
			}
			return f.event.AddCommonTimeout(ct)
		}},

		// Closed base and events.
		{"event on closed base", ErrClosed, func(f *fixture) error { return newEvent(f.closedBase, -1, 0, noop) }},
		{"dispatch closed base", ErrClosed, func(f *fixture) error { return f.closedBase.Dispatch() }},
		{"run closed base", ErrClosed, func(f *fixture) error { return f.closedBase.Run(context.Background()) }},
		{"post to closed base", ErrClosed, func(f *fixture) error { return f.closedBase.Post(func() {}) }},
		{"loop break on closed base", ErrClosed, func(f *fixture) error { return f.closedBase.LoopBreak() }},
		{"loop continue on closed base", ErrClosed, func(f *fixture) error { return f.closedBase.LoopContinue() }},
		{"once on closed base", ErrClosed, func(f *fixture) error { return f.closedBase.Once(-1, 0, 0, noopOnce) }},
		{"reinit closed base", ErrClosed, func(f *fixture) error { return f.closedBase.Reinit() }},
		{"priorities on closed base", ErrClosed, func(f *fixture) error { return f.closedBase.SetPriorities(2) }},
		{"cached time of closed base", ErrClosed, func(f *fixture) error {
			_, err := f.closedBase.CachedTime()
			return err
		}},
		{"update cached time of closed base", ErrClosed, func(f *fixture) error { return f.closedBase.UpdateCachedTime() }},
		{"monotonic time of closed base", ErrClosed, func(f *fixture) error {
			_, err := f.closedBase.MonotonicTime()
			return err
		}},
		{"counts of closed base", ErrClosed, func(f *fixture) error {
			_, err := f.closedBase.NumEvents(CountAdded)
			return err
		}},
		{"dump closed base", ErrClosed, func(f *fixture) error { return f.closedBase.Dump(&strings.Builder{}) }},
		{"list events of closed base", ErrClosed, func(f *fixture) error {
			return f.closedBase.ForEachEvent(func(EventInfo) error { return nil })
		}},
		{"activate fd on closed base", ErrClosed, func(f *fixture) error { return f.closedBase.ActivateFd(0, EvRead) }},
		{"common timeout on closed base", ErrClosed, func(f *fixture) error {
			_, err := f.closedBase.CommonTimeout(time.Second)
			return err
		}},
		{"add event of closed base", ErrClosed, func(f *fixture) error { return f.orphan.AddTimeout(time.Second) }},
		{"activate event of closed base", ErrClosed, func(f *fixture) error { return f.orphan.Activate(EvTimeout) }},
		{"add closed event", ErrClosed, func(f *fixture) error { return f.closedEvent.Add() }},
		{"delete closed event", ErrClosed, func(f *fixture) error { return f.closedEvent.Del() }},
		{"activate closed event", ErrClosed, func(f *fixture) error { return f.closedEvent.Activate(EvTimeout) }},
		{"remove timer of closed event", ErrClosed, func(f *fixture) error { return f.closedEvent.RemoveTimer() }},
		{"priority of closed event", ErrClosed, func(f *fixture) error { return f.closedEvent.SetPriority(0) }},
		{"pending of closed event", ErrClosed, func(f *fixture) error {
			_, _, err := f.closedEvent.Pending(EvTimeout)
			return err
		}},

		// Zero values and nil pointers.
		{"zero Base", ErrInvalid, func(*fixture) error { return new(Base).Dispatch() }},
		{"nil Base", ErrInvalid, func(*fixture) error { return (*Base)(nil).Post(func() {}) }},
		{"event on zero Base", ErrInvalid, func(*fixture) error { return newEvent(new(Base), -1, 0, noop) }},
		{"zero Base loop exit", ErrInvalid, func(*fixture) error { return new(Base).LoopExit(0) }},
		{"zero Event", ErrInvalid, func(*fixture) error { return new(Event).Add() }},
		{"nil Event", ErrInvalid, func(*fixture) error { return (*Event)(nil).Activate(EvRead) }},
		{"zero Event pending", ErrInvalid, func(*fixture) error {
			_, _, err := new(Event).Pending(EvRead)
			return err
		}},
	}

	forEachBackend(t, func(t *testing.T, bk backend) {
		f := newFixture(t, bk)
		cases := append(cases,
			badCase{"regular file", nil, func(f *fixture) error { return newEvent(f.base, f.regularFile, EvRead, noop) }},
			badCase{"close-only event", nil, func(f *fixture) error {
				return newEvent(f.base, f.readEnd, EvClosed, noop)
			}},
			badCase{"blocking descriptor", nil, func(f *fixture) error {
				return newEvent(f.base, f.blockingFd, EvRead, noop)
			}},
			badCase{"blocking descriptor for once", nil, func(f *fixture) error {
				return f.base.Once(f.blockingFd, EvRead, time.Hour, noopOnce)
			}},
		)
		for _, c := range cases {
			err := c.call(f)
			want := c.want
			switch c.name {
			case "regular file":
				if f.base.backend() != "epoll" {
					assert.NoError(t, err, c.name)
					continue
				}
				want = syscall.EPERM
			case "close-only event":
				if f.base.Features()&FeatureEarlyClose != 0 {
					assert.NoError(t, err, c.name)
					continue
				}
				want = ErrInvalid
			case "blocking descriptor", "blocking descriptor for once":
				// Only libevent's debug mode rejects blocking descriptors.
				if !debugModeEnabled() {
					assert.NoError(t, err, c.name)
					continue
				}
				want = ErrInvalid
			}
			require.Error(t, err, c.name)
			assert.ErrorIs(t, err, want, "%s: %v", c.name, err)
			var le *Error
			if assert.ErrorAs(t, err, &le, c.name) {
				assert.NotEmpty(t, le.Op, c.name)
			}
			assert.True(t, strings.HasPrefix(err.Error(), "libevent: "), "%s: %q", c.name, err.Error())
		}

		// Methods without an error result return zero values.
		assert.Equal(t, 1, f.closedBase.Priorities())
		assert.False(t, f.closedBase.GotExit())
		assert.False(t, f.closedBase.GotBreak())
		assert.Nil(t, f.closedBase.RunningEvent())
		assert.NoError(t, f.closedBase.Close())
		assert.NoError(t, new(Base).Close())
		assert.NoError(t, new(Event).Close())
		assert.NoError(t, (*Event)(nil).Close())
		assert.Equal(t, -1, new(Event).Priority())
	})
}

// TestLoopStartedTwiceAtOnce starts the loop from two goroutines at the same
// moment, many times: exactly one of them runs it, the other gets
// ErrLoopRunning. The loop that runs ends only when told to after the other
// goroutine has returned, so the two calls always overlap.
func TestLoopStartedTwiceAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		for i := 0; i < 100; i++ {
			start := make(chan struct{})
			results := make(chan error, 2)
			for g := 0; g < 2; g++ {
				go func() {
					<-start
					results <- b.Loop(LoopNoExitOnEmpty)
				}()
			}
			close(start)
			assert.ErrorIs(t, <-results, ErrLoopRunning)
			// LoopExit also ends a loop that has not reached
			// event_base_loop yet.
			require.NoError(t, b.LoopExit(0))
			assert.NoError(t, <-results)
		}
	})
}

// TestNoLockBaseRejectsOtherGoroutines checks the calls that a base without
// locks cannot serve from another goroutine while its loop runs.
func TestNoLockBaseRejectsOtherGoroutines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk, func(c *Config) { c.Flags |= NoLock })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		assert.ErrorIs(t, b.Run(ctx), ErrInvalid)

		r, w := newPipe(t)
		running := make(chan struct{})
		stop := make(chan struct{})
		ev, err := b.NewEvent(r, EvRead|EvPersist, func(*Event, EventFlags) {
			var buf [8]byte
			unix.Read(r, buf[:])
			select {
			case <-stop:
				assert.NoError(t, b.LoopBreak(), "a call from a callback was rejected")
			default:
			}
		})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		require.NoError(t, b.Post(func() { close(running) }))
		result := make(chan error, 1)
		go func() { result <- b.Dispatch() }()
		<-running

		assert.ErrorIs(t, b.Post(func() {}), ErrNoLock)
		assert.ErrorIs(t, ev.Activate(EvRead), ErrNoLock)
		assert.ErrorIs(t, b.LoopBreak(), ErrNoLock)
		assert.ErrorIs(t, b.Close(), ErrNoLock)
		assert.ErrorIs(t, ev.Close(), ErrNoLock)

		close(stop)
		writeByte(t, w)
		assert.NoError(t, <-result)
	})
}

// TestSelectRejectsHighDescriptors checks that the select backend rejects a
// descriptor at or above FD_SETSIZE, where glibc's checked FD_SET would end
// the process, and that the other backends take it.
func TestSelectRejectsHighDescriptors(t *testing.T) {
	r, _ := newPipe(t)
	high, err := unix.FcntlInt(uintptr(r), unix.F_DUPFD_CLOEXEC, 1500)
	require.NoError(t, err)
	defer unix.Close(high)
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		ev, err := b.NewEvent(high, EvRead, noop)
		_, bevErr := b.NewBufferEvent(high, 0)
		onceErr := b.Once(high, EvRead, time.Hour, noopOnce)
		if bk.name == "select" {
			assert.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, "FD_SETSIZE")
			assert.ErrorIs(t, bevErr, ErrInvalid)
			assert.ErrorIs(t, onceErr, ErrInvalid)
			return
		}
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		assert.NoError(t, bevErr)
		assert.NoError(t, onceErr)
	})
}
