//go:build cgo

package libevent

import (
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// deadlockLimit bounds calls that must return rather than wait for a
// blocked callback. It only detects a deadlock; no test measures speed
// against it.
const deadlockLimit = 30 * time.Second

// mustReturn runs fn on a new goroutine and fails the test if it has not
// returned within deadlockLimit.
func mustReturn(t *testing.T, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		require.NoError(t, err, what)
	case <-time.After(deadlockLimit):
		t.Fatalf("%s did not return while the callback was blocked", what)
	}
}

// postAndWait posts an empty function and waits until the loop has run it,
// and with it everything queued before.
func postAndWait(t *testing.T, b *Base) {
	t.Helper()
	done := make(chan struct{})
	require.NoError(t, b.Post(func() { close(done) }))
	select {
	case <-done:
	case <-time.After(deadlockLimit):
		t.Fatal("the loop did not run a posted function")
	}
}

func TestBufferEventCloseDuringCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		bev, peer, err := b.NewBufferEventPair(BEVOptThreadSafe)
		require.NoError(t, err)
		defer peer.Close()

		entered := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		require.NoError(t, bev.SetCallbacks(func(*BufferEvent) {
			once.Do(func() { close(entered) })
			<-release
		}, nil, nil))
		require.NoError(t, bev.Enable(EvRead))
		runLoop(t, b)

		_, err = peer.Write([]byte("ping"))
		require.NoError(t, err)
		<-entered

		// The callback waits until both calls have returned.
		mustReturn(t, "Disable", func() error { return bev.Disable(EvRead) })
		mustReturn(t, "Close", bev.Close)
		close(release)
		postAndWait(t, b)

		assert.Nil(t, bev.C(), "the bufferevent is still open")
		_, err = bev.Write([]byte("x"))
		assert.ErrorIs(t, err, ErrClosed)
	})
}

func TestListenerCloseDuringCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		entered := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		l, err := b.Listen("tcp", "127.0.0.1:0", LEVOptThreadSafe, -1, func(_ *Listener, fd int, _ net.Addr) {
			unix.Close(fd)
			once.Do(func() { close(entered) })
			<-release
		})
		require.NoError(t, err)
		addr, err := l.Addr()
		require.NoError(t, err)
		runLoop(t, b)

		c, err := net.DialTimeout("tcp", addr.String(), deadlockLimit)
		require.NoError(t, err)
		defer c.Close()
		<-entered

		mustReturn(t, "Disable", l.Disable)
		mustReturn(t, "Enable", l.Enable)
		mustReturn(t, "Close", l.Close)
		close(release)
		postAndWait(t, b)

		// The loop freed the listener, which closed its socket.
		_, err = net.DialTimeout("tcp", addr.String(), deadlockLimit)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.ErrorIs(t, l.Enable(), ErrClosed)
	})
}

// TestConcurrentCallsAgainstLoop has goroutines post, activate, add,
// delete, create and close events, and enable and disable a bufferevent and
// a listener, against a running loop. Every call must return, and every
// posted function must run.
func TestConcurrentCallsAgainstLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var fired atomic.Int64
		shared := make([]*Event, 4)
		for i := range shared {
			ev, err := b.NewEvent(-1, EvPersist, func(*Event, EventFlags) { fired.Add(1) })
			require.NoError(t, err)
			shared[i] = ev
		}
		bev, peer, err := b.NewBufferEventPair(BEVOptThreadSafe)
		require.NoError(t, err)
		defer bev.Close()
		defer peer.Close()
		require.NoError(t, bev.SetCallbacks(func(bev *BufferEvent) {
			_, _ = bev.Read(make([]byte, 64))
		}, nil, nil))
		l, err := b.Listen("tcp", "127.0.0.1:0", LEVOptThreadSafe, -1, func(_ *Listener, fd int, _ net.Addr) {
			unix.Close(fd)
		})
		require.NoError(t, err)
		defer l.Close()
		runLoop(t, b)

		const goroutines, iterations = 8, 300
		var posted, ran atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*iterations)
		check := func(err error) {
			if err != nil {
				errs <- err
			}
		}
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(seed int64) {
				defer wg.Done()
				rng := rand.New(rand.NewSource(seed))
				for i := 0; i < iterations; i++ {
					ev := shared[rng.Intn(len(shared))]
					switch rng.Intn(8) {
					case 0:
						posted.Add(1)
						check(b.Post(func() { ran.Add(1) }))
					case 1:
						check(ev.Activate(EvTimeout))
					case 2:
						check(ev.AddTimeout(time.Duration(rng.Intn(100)) * time.Microsecond))
					case 3:
						check(ev.Del())
					case 4:
						own, err := b.NewEvent(-1, 0, func(*Event, EventFlags) {})
						check(err)
						if err == nil {
							check(own.AddTimeout(0))
							check(own.Close())
						}
					case 5:
						if rng.Intn(2) == 0 {
							check(bev.Enable(EvRead))
						} else {
							check(bev.Disable(EvRead))
						}
						_, err := peer.Write([]byte("data"))
						check(err)
					case 6:
						if rng.Intn(2) == 0 {
							check(l.Enable())
						} else {
							check(l.Disable())
						}
					case 7:
						check(b.LoopContinue())
					}
				}
			}(int64(g))
		}
		finished := make(chan struct{})
		go func() {
			wg.Wait()
			close(finished)
		}()
		select {
		case <-finished:
		case <-time.After(2 * deadlockLimit):
			t.Fatal("the goroutines did not finish; a call is stuck")
		}
		close(errs)
		for err := range errs {
			t.Errorf("call failed: %v", err)
		}
		postAndWait(t, b)
		assert.Equal(t, posted.Load(), ran.Load(), "posted functions that did not run")
		for _, ev := range shared {
			require.NoError(t, ev.Close())
		}
		t.Logf("%d posts, %d event callbacks", ran.Load(), fired.Load())
	})
}
