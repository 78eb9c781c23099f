//go:build cgo

package libevent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runLoop runs b.Run on a new goroutine until the test ends.
func runLoop(t *testing.T, b *Base) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
}

// waitFor polls cond until it holds or ten seconds have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// growStack recurses depth times with a large frame, so that the goroutine's
// stack is copied to a larger one several times.
func growStack(depth int) int {
	var pad [512]byte
	pad[depth%len(pad)] = byte(depth)
	if depth == 0 {
		return int(pad[0])
	}
	return growStack(depth-1) + int(pad[depth%len(pad)])
}

func TestSignalEventStress(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var calls, offLoop atomic.Int64
		ev, err := b.NewSignalEvent(syscall.SIGUSR1, EvPersist, func(ev *Event, what EventFlags) {
			if what != EvSignal || !b.onLoopThread() {
				offLoop.Add(1)
			}
			calls.Add(1)
		})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		runLoop(t, b)

		// Goroutines that allocate and grow their stacks while the signals
		// arrive, so that signals land on goroutine stacks of every size.
		stop := make(chan struct{})
		var workers sync.WaitGroup
		var sink atomic.Int64
		for i := 0; i < 4; i++ {
			workers.Add(1)
			go func() {
				defer workers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					buf := make([]byte, 4096)
					sink.Add(int64(growStack(200) + len(buf)))
				}
			}()
		}

		const signals = 10000
		pid := os.Getpid()
		for i := 0; i < signals; i++ {
			require.NoError(t, syscall.Kill(pid, syscall.SIGUSR1))
		}
		close(stop)
		workers.Wait()

		waitFor(t, "the signal callback", func() bool { return calls.Load() > 0 })
		require.NoError(t, ev.Del())
		assert.LessOrEqual(t, calls.Load(), int64(signals))
		assert.Zero(t, offLoop.Load(), "callbacks off the loop thread or with the wrong flags")
		t.Logf("%d of %d signals ran the callback", calls.Load(), signals)
		require.NoError(t, ev.Close())
	})
}

func TestSignalNotifyAlongsideAndAfter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		before := make(chan os.Signal, 1)
		signal.Notify(before, syscall.SIGUSR2)
		defer signal.Stop(before)

		var calls atomic.Int64
		ev, err := b.NewSignalEvent(syscall.SIGUSR2, EvPersist, func(*Event, EventFlags) { calls.Add(1) })
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		runLoop(t, b)

		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
		waitFor(t, "the signal callback", func() bool { return calls.Load() > 0 })
		select {
		case <-before:
		case <-time.After(10 * time.Second):
			t.Fatal("a channel registered before the event did not receive the signal")
		}

		require.NoError(t, ev.Del())
		signal.Stop(before)
		after := make(chan os.Signal, 1)
		signal.Notify(after, syscall.SIGUSR2)
		defer signal.Stop(after)
		counted := calls.Load()
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
		select {
		case sig := <-after:
			assert.Equal(t, syscall.SIGUSR2, sig)
		case <-time.After(10 * time.Second):
			t.Fatal("signal.Notify after Del did not receive the signal")
		}

		// A posted function runs after any callback that the signal could
		// still have activated.
		done := make(chan struct{})
		require.NoError(t, b.Post(func() { close(done) }))
		<-done
		assert.Equal(t, counted, calls.Load(), "the callback ran after Del")
		require.NoError(t, ev.Close())
	})
}

func TestSignalEventOnTwoBases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		var calls [2]atomic.Int64
		for i := range calls {
			b := newBase(t, bk)
			ev, err := b.NewSignalEvent(syscall.SIGUSR1, EvPersist, func(*Event, EventFlags) { calls[i].Add(1) })
			require.NoError(t, err)
			require.NoError(t, ev.Add())
			t.Cleanup(func() { require.NoError(t, ev.Close()) })
			runLoop(t, b)
		}
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
		waitFor(t, "both bases' callbacks", func() bool {
			return calls[0].Load() > 0 && calls[1].Load() > 0
		})
	})
}

func TestSignalEventWithoutPersist(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var calls atomic.Int64
		ev, err := b.NewSignalEvent(syscall.SIGUSR1, 0, func(*Event, EventFlags) { calls.Add(1) })
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		pending, _, err := ev.Pending(EvSignal)
		require.NoError(t, err)
		assert.Equal(t, EvSignal, pending)

		// Dispatch keeps running while the signal event is the only pending
		// event, and returns once it has fired.
		done := make(chan error, 1)
		go func() { done <- b.Dispatch() }()
		require.NoError(t, ev.Activate(EvSignal))
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrNoEvents)
		case <-time.After(10 * time.Second):
			t.Fatal("Dispatch did not return after the event fired")
		}
		assert.Equal(t, int64(1), calls.Load())
		pending, _, err = ev.Pending(EvSignal)
		require.NoError(t, err)
		assert.Zero(t, pending)

		// Adding it again makes it fire again, for a real signal.
		require.NoError(t, ev.Add())
		go func() { done <- b.Dispatch() }()
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrNoEvents)
		case <-time.After(10 * time.Second):
			t.Fatal("Dispatch did not return after the signal")
		}
		assert.Equal(t, int64(2), calls.Load())
		require.NoError(t, ev.Close())
	})
}

func TestSignalEventDelInCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var calls atomic.Int64
		ev, err := b.NewSignalEvent(syscall.SIGUSR1, EvPersist, func(ev *Event, _ EventFlags) {
			calls.Add(1)
			require.NoError(t, ev.Del())
		})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		// Three deliveries before the loop runs make one batch; Del in the
		// first call ends it.
		for i := 0; i < 3; i++ {
			require.NoError(t, ev.Activate(EvSignal))
		}
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, int64(1), calls.Load())
		require.NoError(t, ev.Close())
	})
}

func TestSignalEventTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var got []EventFlags
		ev, err := b.NewSignalEvent(syscall.SIGUSR2, 0, func(_ *Event, what EventFlags) { got = append(got, what) })
		require.NoError(t, err)
		require.NoError(t, ev.AddTimeout(time.Millisecond))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []EventFlags{EvTimeout}, got)
		require.NoError(t, ev.Close())
	})
}

func TestSignalEventBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		fn := func(*Event, EventFlags) {}
		cases := []struct {
			name  string
			signo syscall.Signal
			flags EventFlags
			fn    EventFunc
		}{
			{"nil callback", syscall.SIGUSR1, 0, nil},
			{"zero signal", 0, 0, fn},
			{"signal out of range", 65, 0, fn},
			{"SIGKILL", syscall.SIGKILL, 0, fn},
			{"SIGSTOP", syscall.SIGSTOP, 0, fn},
			{"read flag", syscall.SIGUSR1, EvRead, fn},
		}
		for _, c := range cases {
			ev, err := b.NewSignalEvent(c.signo, c.flags, c.fn)
			assert.ErrorIs(t, err, ErrInvalid, c.name)
			assert.Nil(t, ev, c.name)
		}

		_, err := b.NewEvent(-1, EvSignal, fn)
		assert.ErrorIs(t, err, ErrInvalid)

		ev, err := b.NewSignalEvent(syscall.SIGUSR1, 0, fn)
		require.NoError(t, err)
		assert.ErrorIs(t, ev.Activate(EvRead), ErrInvalid)
		_, _, err = ev.Pending(EvRead)
		assert.ErrorIs(t, err, ErrInvalid)
		require.NoError(t, ev.Close())
		require.NoError(t, ev.Close())
		assert.ErrorIs(t, ev.Add(), ErrClosed)
		assert.ErrorIs(t, ev.Activate(EvSignal), ErrClosed)
	})
}

// TestSignalEventClosedWithBase checks that closing the base releases a
// signal event that is still pending, and with it the os/signal
// registration.
func TestSignalEventClosedWithBase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := bk.config
		b, err := NewBase(&cfg)
		require.NoError(t, err)
		ev, err := b.NewSignalEvent(syscall.SIGUSR1, EvPersist, func(*Event, EventFlags) {})
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		require.NoError(t, b.Close())
		assert.Nil(t, ev.sig.ch, "os/signal still delivers to the closed event")
		assert.ErrorIs(t, ev.Add(), ErrClosed)
	})
}

// runSignalChild is the child process of TestSignalEventSIGTERM. It handles
// the first SIGTERM with a signal event, deletes the event, and waits for a
// second SIGTERM, which Go's default handling turns into the end of the
// process.
func runSignalChild() {
	cfg := childBackend().config
	b, err := NewBase(&cfg)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	ev, err := b.NewSignalEvent(syscall.SIGTERM, 0, func(ev *Event, what EventFlags) {
		fmt.Println("handled", what)
	})
	if err == nil {
		err = ev.Add()
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	if err := b.Dispatch(); !errors.Is(err, ErrNoEvents) {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	if err := ev.Close(); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("removed")
	time.Sleep(time.Minute)
	fmt.Println("the second SIGTERM did not end the process")
	os.Exit(0)
}

func TestSignalEventSIGTERM(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	forEachBackend(t, func(t *testing.T, bk backend) {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childProcessEnv+"=signal", "GOLIBEVENT_TEST_BACKEND="+bk.name)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill() })

		lines := bufio.NewScanner(out)
		expect := func(want string) {
			t.Helper()
			require.True(t, lines.Scan(), "the child ended before it printed %q", want)
			require.Equal(t, want, strings.TrimSpace(lines.Text()))
		}
		expect("ready")
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		expect("handled EvSignal")
		expect("removed")
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		for lines.Scan() {
			t.Logf("child: %s", lines.Text())
		}

		err = cmd.Wait()
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr)
		status, ok := exitErr.Sys().(syscall.WaitStatus)
		require.True(t, ok)
		require.True(t, status.Signaled(), "the child exited with %v", err)
		assert.Equal(t, syscall.SIGTERM, status.Signal())
	})
}
