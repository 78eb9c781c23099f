//go:build cgo

package libevent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const childProcessEnv = "GOLIBEVENT_TEST_CHILD"

func runChildProcess(name string) {}

func TestSmoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		r, w := newPipe(t)
		var got EventFlags
		ev, err := b.NewEvent(r, EvRead, func(ev *Event, what EventFlags) { got = what })
		require.NoError(t, err)
		require.NoError(t, ev.Add())
		writeByte(t, w)
		fired := 0
		tm, err := b.NewTimer(func(ev *Event, what EventFlags) { fired++ })
		require.NoError(t, err)
		require.NoError(t, tm.AddTimeout(time.Millisecond))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		require.Equal(t, EvRead, got)
		require.Equal(t, 1, fired)
		done := 0
		require.NoError(t, b.Post(func() { done++ }))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		require.Equal(t, 1, done)
	})
}
