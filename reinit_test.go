//go:build cgo

package libevent

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// loopUntil runs b's loop one iteration at a time until cond holds, and
// fails the test after 10 seconds.
func loopUntil(t *testing.T, b *Base, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		require.NoError(t, b.Loop(LoopOnce|LoopNonBlock))
		time.Sleep(time.Millisecond)
	}
}

// Go's runtime does not survive fork without exec, so the test cannot fork.
// It checks what a forked child relies on instead: after Reinit, pending
// events of every kind are in the backend's new kernel state and fire. It
// does so on a Go base and on a base that C code created.
func TestReinitKeepsEventsFiring(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		for _, wrapped := range []bool{false, true} {
			name := "NewBase"
			if wrapped {
				name = "WrapBase"
			}
			t.Run(name, func(t *testing.T) {
				var b *Base
				if wrapped {
					var err error
					b, err = WrapBase(newCBase(t, bk))
					require.NoError(t, err)
					t.Cleanup(func() { require.NoError(t, b.Close()) })
				} else {
					b = newBase(t, bk)
				}

				r, w := newPipe(t)
				var reads, ticks, signals int
				readEv, err := b.NewEvent(r, EvRead|EvPersist, func(*Event, EventFlags) {
					var buf [16]byte
					n, _ := unix.Read(r, buf[:])
					reads += n
				})
				require.NoError(t, err)
				require.NoError(t, readEv.Add())
				timer, err := b.NewEvent(-1, EvPersist, func(*Event, EventFlags) { ticks++ })
				require.NoError(t, err)
				require.NoError(t, timer.AddTimeout(time.Millisecond))
				sigEv, err := b.NewSignalEvent(syscall.SIGUSR1, EvPersist, func(*Event, EventFlags) { signals++ })
				require.NoError(t, err)
				require.NoError(t, sigEv.Add())
				defer sigEv.Close()

				require.NoError(t, b.Reinit())
				writeByte(t, w)
				require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
				loopUntil(t, b, "the read event", func() bool { return reads == 1 })
				loopUntil(t, b, "the timer", func() bool { return ticks >= 1 })
				loopUntil(t, b, "the signal event", func() bool { return signals >= 1 })

				// A second Reinit, as a grandchild would call, keeps the
				// persistent events pending.
				require.NoError(t, b.Reinit())
				writeByte(t, w)
				loopUntil(t, b, "the read event after a second Reinit", func() bool { return reads == 2 })
				before := ticks
				loopUntil(t, b, "the timer after a second Reinit", func() bool { return ticks > before })

				pending, _, err := readEv.Pending(EvRead)
				require.NoError(t, err)
				assert.Equal(t, EvRead, pending)
			})
		}
	})
}
