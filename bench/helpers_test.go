package bench

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/golibevent/libevent"
)

// backends are the libevent backends that the dispatch and Post benchmarks
// run on, so that their figures can be compared side by side.
var backends = []string{"epoll", "poll", "select"}

// lockModes are the two kinds of base: with pthread locks, which every base
// gets by default because the package calls evthread_use_pthreads, and
// without locks (libevent.NoLock, EVENT_BASE_FLAG_NOLOCK).
var lockModes = []struct {
	name   string
	noLock bool
}{
	{"pthread", false},
	{"none", true},
}

// waitTimeout bounds every wait for the loop, so that a benchmark that loses
// a callback fails instead of hanging.
const waitTimeout = time.Minute

// forEachBackend runs fn as one sub-benchmark for each backend, named
// backend=NAME.
func forEachBackend(b *testing.B, fn func(b *testing.B, method string)) {
	for _, method := range backends {
		b.Run("backend="+method, func(b *testing.B) {
			fn(b, method)
		})
	}
}

// forEachLockMode runs fn as one sub-benchmark for each lock mode, named
// lock=pthread and lock=none.
func forEachLockMode(b *testing.B, fn func(b *testing.B, noLock bool)) {
	for _, mode := range lockModes {
		b.Run("lock="+mode.name, func(b *testing.B) {
			fn(b, mode.noLock)
		})
	}
}

// newBase creates a base on the backend named method that libevent's
// environment variables cannot change, and closes it when the benchmark
// ends.
func newBase(b *testing.B, method string, noLock bool) *libevent.Base {
	b.Helper()
	flags := libevent.IgnoreEnv
	if noLock {
		flags |= libevent.NoLock
	}
	base, err := libevent.NewBase(&libevent.Config{Method: method, Flags: flags})
	if err != nil {
		b.Fatalf("NewBase(%s, %v): %v", method, flags, err)
	}
	b.Cleanup(func() {
		if err := base.Close(); err != nil {
			b.Errorf("Base.Close: %v", err)
		}
	})
	return base
}

// newIdlePipe returns the read end of a pipe whose write end is never
// written, so an EV_READ event on it fires only when it is activated. Both
// ends are closed when the benchmark ends. Register it before the base that
// watches it, because cleanups run in reverse order and the base must be
// freed before the descriptor is closed.
func newIdlePipe(b *testing.B) int {
	b.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatalf("os.Pipe: %v", err)
	}
	b.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return int(r.Fd())
}

// waitFor waits until done is closed, and fails the benchmark after
// waitTimeout.
func waitFor(b *testing.B, done <-chan struct{}, description string) {
	b.Helper()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		b.Fatalf("timed out after %v waiting for %s", waitTimeout, description)
	}
}

// startLoop runs base.Run on a new goroutine and returns once the loop runs
// posted functions. When the benchmark ends, the loop is stopped through its
// context before the base is closed.
func startLoop(b *testing.B, base *libevent.Base) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		result <- base.Run(ctx)
	}()
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-result:
			if !errors.Is(err, context.Canceled) {
				b.Errorf("Base.Run returned %v, expected context.Canceled", err)
			}
		case <-time.After(waitTimeout):
			b.Errorf("Base.Run did not return within %v after its context was canceled", waitTimeout)
		}
	})

	started := make(chan struct{})
	if err := base.Post(func() { close(started) }); err != nil {
		b.Fatalf("Base.Post: %v", err)
	}
	waitFor(b, started, "the loop to run its first posted function")
}
