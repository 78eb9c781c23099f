//go:build cgo

package libevent

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// debugModeEnv turns on libevent's debug mode and lock debugging for a test
// run; CI runs the tests once with it set to 1.
const debugModeEnv = "GOLIBEVENT_TEST_DEBUG_MODE"

func TestMain(m *testing.M) {
	if name := os.Getenv(childProcessEnv); name != "" {
		runChildProcess(name)
		return
	}
	if os.Getenv(debugModeEnv) == "1" {
		if err := EnableDebugMode(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := EnableLockDebugging(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	code := m.Run()
	if n := handles.count.Load(); n != 0 {
		fmt.Fprintf(os.Stderr, "registry leak: %d handles left after the tests: %v\n", n, handles.owners())
		code = 1
	}
	os.Exit(code)
}

// backend is one of the event mechanisms every test runs on.
type backend struct {
	name   string
	config Config
}

// backends are the Linux backends, chosen through the Config so that the
// environment cannot change them.
var backends = []backend{
	{"epoll", Config{Method: "epoll", Flags: IgnoreEnv}},
	{"epoll-changelist", Config{Method: "epoll", Flags: IgnoreEnv | EpollUseChangelist}},
	{"poll", Config{Method: "poll", Flags: IgnoreEnv}},
	{"select", Config{Method: "select", Flags: IgnoreEnv}},
}

// forEachBackend runs fn as a subtest on every backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, bk backend)) {
	t.Helper()
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) { fn(t, bk) })
	}
}

// newBase creates a base on bk, merged with extra settings, and closes it
// when the test ends.
func newBase(t *testing.T, bk backend, extra ...func(*Config)) *Base {
	t.Helper()
	cfg := bk.config
	for _, f := range extra {
		f(&cfg)
	}
	b, err := NewBase(&cfg)
	require.NoError(t, err)
	require.Equal(t, bk.config.Method, b.backend())
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// newPipe returns a non-blocking pipe that is closed when the test ends.
func newPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	t.Cleanup(func() {
		unix.Close(p[0])
		unix.Close(p[1])
	})
	return p[0], p[1]
}

// newSocketPair returns a connected pair of non-blocking stream sockets that
// is closed when the test ends.
func newSocketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() {
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return fds[0], fds[1]
}

func writeByte(t *testing.T, fd int) {
	t.Helper()
	_, err := unix.Write(fd, []byte{'x'})
	require.NoError(t, err)
}

// coarseClockResolution returns how early, measured with time.Now, a libevent
// timeout can expire: two ticks of CLOCK_MONOTONIC_COARSE, which libevent
// uses for timeouts unless a base has PreciseTimer. Both the reading that
// sets the deadline and the one that checks it can lag by up to one tick.
func coarseClockResolution(t *testing.T) time.Duration {
	t.Helper()
	var ts unix.Timespec
	require.NoError(t, unix.ClockGetres(unix.CLOCK_MONOTONIC_COARSE, &ts))
	return 2 * time.Duration(ts.Nano())
}

// openNonBlocking opens path read-only with O_NONBLOCK, which libevent's
// debug mode requires of every descriptor, and closes it when the test ends.
func openNonBlocking(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}
