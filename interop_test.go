//go:build cgo

package libevent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/golibevent/libevent/internal/cthread"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// newCBase creates an event_base in C on bk's backend, frees it when the
// test ends, and returns it.
func newCBase(t *testing.T, bk backend) unsafe.Pointer {
	t.Helper()
	ptr, err := cthread.NewBase(bk.config.Method, int(bk.config.Flags))
	require.NoError(t, err)
	t.Cleanup(func() { cthread.FreeBase(ptr) })
	return ptr
}

func TestBaseC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		cfg := bk.config
		b, err := NewBase(&cfg)
		require.NoError(t, err)
		require.NotNil(t, b.C())
		assert.Equal(t, unsafe.Pointer(b.ptr), b.C())
		require.NoError(t, b.Close())
		assert.Nil(t, b.C())
		var zero Base
		assert.Nil(t, zero.C())
	})
}

func TestWrapBaseRunByCThread(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		ptr := newCBase(t, bk)
		b, err := WrapBase(ptr)
		require.NoError(t, err)
		assert.Equal(t, ptr, b.C())
		assert.Equal(t, bk.config.Method, b.backend())

		loop, err := cthread.Start(ptr, true)
		require.NoError(t, err)
		stopped := false
		defer func() {
			if !stopped {
				loop.Stop()
			}
		}()

		// A Go timer on the base that C runs fires on the C thread.
		var fired, offThread atomic.Int64
		timer, err := b.NewEvent(-1, EvPersist, func(*Event, EventFlags) {
			if !loop.OnLoopThread() {
				offThread.Add(1)
			}
			fired.Add(1)
		})
		require.NoError(t, err)
		require.NoError(t, timer.AddTimeout(time.Millisecond))
		waitFor(t, "five timer callbacks", func() bool { return fired.Load() >= 5 })
		require.NoError(t, timer.Del())
		assert.Zero(t, offThread.Load(), "timer callbacks off the C thread")

		// Post runs on the C thread too.
		onThread := make(chan bool, 1)
		require.NoError(t, b.Post(func() { onThread <- loop.OnLoopThread() }))
		select {
		case on := <-onThread:
			assert.True(t, on, "the posted function ran off the C thread")
		case <-time.After(10 * time.Second):
			t.Fatal("the posted function did not run")
		}

		// Closing the wrapper leaves C's loop running: a second wrapper's
		// timer still fires.
		require.NoError(t, b.Close())
		assert.Nil(t, b.C())
		again, err := WrapBase(ptr)
		require.NoError(t, err)
		ran := make(chan struct{})
		require.NoError(t, again.Once(-1, EvTimeout, 0, func(int, EventFlags) { close(ran) }))
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("the C loop stopped when the first wrapper was closed")
		}
		require.NoError(t, again.Close())

		stopped = true
		assert.Equal(t, 0, loop.Stop())
	})
}

func TestWrapBaseBadInput(t *testing.T) {
	b, err := WrapBase(nil)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.Nil(t, b)
	buf, err := WrapBuffer(nil)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.Nil(t, buf)
}

func TestWrapBuffer(t *testing.T) {
	owned, err := NewBuffer()
	require.NoError(t, err)
	defer owned.Close()
	require.NoError(t, owned.AddString("hello"))

	w, err := WrapBuffer(owned.C())
	require.NoError(t, err)
	assert.Equal(t, owned.C(), w.C())
	assert.Equal(t, 5, w.Len())
	require.NoError(t, w.AddString(", world"))
	require.NoError(t, w.Close())
	assert.Nil(t, w.C())
	assert.ErrorIs(t, w.AddString("!"), ErrClosed)

	// Closing the wrapper left the evbuffer to its owner.
	got := make([]byte, 64)
	n, err := owned.Read(got)
	require.NoError(t, err)
	assert.Equal(t, "hello, world", string(got[:n]))
}

func TestBufferEventC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, err := b.NewBufferEvent(-1, 0)
		require.NoError(t, err)
		require.NotNil(t, bev.C())
		assert.Equal(t, unsafe.Pointer(bev.ptr), bev.C())
		require.NoError(t, bev.Close())
		assert.Nil(t, bev.C())
	})
}

// writeToClosedPeer creates a bufferevent on a socket whose peer is closed
// and writes 64 KiB to it twice through post. It returns a channel that
// receives the errors of the bufferevent's event callback, and a function
// that closes the bufferevent.
func writeToClosedPeer(b *Base, post func(func()) error) (<-chan error, func(), error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	unix.Close(fds[1])
	bev, err := b.NewBufferEvent(fds[0], BEVOptCloseOnFree)
	if err != nil {
		unix.Close(fds[0])
		return nil, nil, err
	}
	errs := make(chan error, 4)
	err = bev.SetCallbacks(nil, nil, func(_ *BufferEvent, what BEVEvents, err error) {
		select {
		case errs <- fmt.Errorf("%v: %w", what, err):
		default:
		}
	})
	if err != nil {
		return nil, nil, err
	}
	data := bytes.Repeat([]byte("x"), 64<<10)
	for i := 0; i < 2; i++ {
		err := post(func() {
			if _, err := bev.Write(data); err != nil {
				errs <- err
			}
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return errs, func() { _ = bev.Close() }, nil
}

func TestSIGPIPEOnGoroutineLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		errs, closeBev, err := writeToClosedPeer(b, b.Post)
		require.NoError(t, err)
		runLoop(t, b)
		select {
		case err := <-errs:
			require.ErrorIs(t, err, syscall.EPIPE)
		case <-time.After(10 * time.Second):
			t.Fatal("no error from writing to a closed peer")
		}
		require.NoError(t, b.Post(closeBev))
	})
}

// runSIGPIPEChild is the child process of TestSIGPIPEOnCThread. It writes to
// a closed peer from a loop that a C thread runs, which blocks SIGPIPE when
// GOLIBEVENT_TEST_BLOCK_SIGPIPE is 1, and prints the error it gets.
func runSIGPIPEChild() {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	bk := childBackend()
	ptr, err := cthread.NewBase(bk.config.Method, int(bk.config.Flags))
	if err != nil {
		fail(err)
	}
	b, err := WrapBase(ptr)
	if err != nil {
		fail(err)
	}
	loop, err := cthread.Start(ptr, os.Getenv("GOLIBEVENT_TEST_BLOCK_SIGPIPE") == "1")
	if err != nil {
		fail(err)
	}
	errs, _, err := writeToClosedPeer(b, b.Post)
	if err != nil {
		fail(err)
	}
	select {
	case err := <-errs:
		fmt.Println("write error is EPIPE:", errors.Is(err, syscall.EPIPE))
	case <-time.After(10 * time.Second):
		fail(errors.New("no error from writing to a closed peer"))
	}
	loop.Stop()
	fmt.Println("survived")
	os.Exit(0)
}

// childBackend returns the backend named by GOLIBEVENT_TEST_BACKEND.
func childBackend() backend {
	name := os.Getenv("GOLIBEVENT_TEST_BACKEND")
	for _, bk := range backends {
		if bk.name == name {
			return bk
		}
	}
	fmt.Println("error: unknown backend", name)
	os.Exit(2)
	return backend{}
}

// TestSIGPIPEOnCThread shows what the package documents for C hosts. A C
// thread that runs a loop and blocks SIGPIPE survives a write to a closed
// peer. Without the block, the default action ends the process, because Go's
// runtime forwards a SIGPIPE on a non-Go thread to the default handler.
func TestSIGPIPEOnCThread(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	forEachBackend(t, func(t *testing.T, bk backend) {
		run := func(block string) (string, error) {
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), childProcessEnv+"=sigpipe",
				"GOLIBEVENT_TEST_BACKEND="+bk.name, "GOLIBEVENT_TEST_BLOCK_SIGPIPE="+block)
			out, err := cmd.Output()
			return string(out), err
		}

		out, err := run("1")
		require.NoError(t, err, "child output: %s", out)
		assert.Equal(t, "write error is EPIPE: true\nsurvived\n", out)

		out, err = run("0")
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "child output: %s", out)
		status, ok := exitErr.Sys().(syscall.WaitStatus)
		require.True(t, ok)
		require.True(t, status.Signaled(), "the child exited with %v: %s", err, out)
		assert.Equal(t, syscall.SIGPIPE, status.Signal())
		assert.False(t, strings.Contains(out, "survived"))
	})
}

// TestCloseInReadCallbackOnCThread closes a bufferevent from its own read
// callback on a base that a C thread runs. With no Go loop to wait for, the
// package frees its C state at once, and the read shim, which reads that
// state after the callback for the high watermark, must free it instead.
// Run with -asan to see a use after free.
func TestCloseInReadCallbackOnCThread(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		ptr := newCBase(t, bk)
		b, err := WrapBase(ptr)
		require.NoError(t, err)
		local, peer := newSocketPair(t)
		bev, err := b.NewBufferEvent(local, BEVOptCloseOnFree)
		require.NoError(t, err)
		// A high watermark installs the input callback that the shim
		// checks after the read callback returns.
		require.NoError(t, bev.SetWatermark(EvRead, 0, 1<<20))
		var calls atomic.Int64
		closed := make(chan error, 1)
		require.NoError(t, bev.SetCallbacks(func(bev *BufferEvent) {
			if calls.Add(1) == 1 {
				closed <- bev.Close()
			}
		}, nil, nil))
		require.NoError(t, bev.Enable(EvRead))

		loop, err := cthread.Start(ptr, true)
		require.NoError(t, err)
		writeByte(t, peer)
		select {
		case err := <-closed:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the read callback did not run")
		}
		// The socket closes with the bufferevent, once libevent has let go
		// of it after the callback, so the peer sees EOF.
		fds := []unix.PollFd{{Fd: int32(peer), Events: unix.POLLIN}}
		ready, err := unix.Poll(fds, 10000)
		require.NoError(t, err)
		require.Equal(t, 1, ready, "no EOF within 10 seconds")
		n, err := syscall.Read(peer, make([]byte, 1))
		assert.NoError(t, err)
		assert.Zero(t, n, "the peer should read EOF")
		assert.Zero(t, loop.Stop())
		assert.Equal(t, int64(1), calls.Load())
		require.NoError(t, b.Close())
	})
}
