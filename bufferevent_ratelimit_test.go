//go:build cgo

package libevent

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// drainSocket reads and discards what arrives on fd until total bytes have
// arrived, from a persistent read event on b.
func drainSocket(t *testing.T, b *Base, fd int, total int, done func()) *Event {
	t.Helper()
	received := 0
	ev, err := b.NewEvent(fd, EvRead|EvPersist, func(ev *Event, _ EventFlags) {
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if n <= 0 || err != nil {
				break
			}
			received += n
		}
		if received >= total {
			assert.NoError(t, ev.Close())
			done()
		}
	})
	require.NoError(t, err)
	require.NoError(t, ev.Add())
	return ev
}

func TestRateLimitSlowsWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		local, peer := newSocketPair(t)
		bev, err := b.NewBufferEvent(local, 0)
		require.NoError(t, err)
		// A tick of an hour keeps libevent from refilling the bucket while
		// the counters are checked, however slow the machine. Replacing it
		// with a bucket of another tick below must not stop the refills.
		counting, err := NewTokenBucket(1000, 1000, 1000, 1000, time.Hour)
		require.NoError(t, err)
		require.NoError(t, bev.SetRateLimit(counting))
		// libevent fills a new bucket with one tick's worth.
		assert.Equal(t, int64(1000), bev.WriteLimit())
		assert.Equal(t, int64(1000), bev.ReadLimit())
		assert.Equal(t, int64(1000), bev.MaxToWrite())
		require.NoError(t, bev.DecrementReadLimit(300))
		assert.Equal(t, int64(700), bev.ReadLimit())
		assert.Equal(t, int64(700), bev.MaxToRead())
		require.NoError(t, bev.DecrementWriteLimit(-500))
		assert.Equal(t, int64(1500), bev.WriteLimit())

		tb, err := NewTokenBucket(1000, 1000, 1000, 1000, 10*time.Millisecond)
		require.NoError(t, err)
		require.NoError(t, bev.SetRateLimit(tb))
		require.NoError(t, counting.Close())
		require.NoError(t, bev.DecrementWriteLimit(-500))

		const total = 10000
		drainSocket(t, b, peer, total, func() { assert.NoError(t, b.LoopBreak()) })
		start := time.Now()
		_, err = bev.Write(bytes.Repeat([]byte("r"), total))
		require.NoError(t, err)
		require.NoError(t, b.Dispatch())
		// 1500 bytes may go at once; the other 8500 need at least 8
		// further ticks of 10 ms.
		assert.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond-coarseClockResolution(t))

		require.NoError(t, bev.SetRateLimit(nil))
		assert.Equal(t, int64(0x7fffffffffffffff), bev.WriteLimit(), "no limit after SetRateLimit(nil)")
		require.NoError(t, tb.Close())
	})
}

func TestRateLimitGroupSharesBuckets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		tb, err := NewTokenBucket(2000, 2000, 2000, 2000, 10*time.Millisecond)
		require.NoError(t, err)
		g, err := b.NewRateLimitGroup(tb)
		require.NoError(t, err)
		// The group keeps a copy of the configuration.
		require.NoError(t, tb.Close())
		require.NoError(t, g.SetMinShare(100))
		assert.Equal(t, int64(2000), g.ReadLimit())
		require.NoError(t, g.DecrementRead(500))
		assert.Equal(t, int64(1500), g.ReadLimit())
		require.NoError(t, g.DecrementWrite(-1000))
		assert.Equal(t, int64(3000), g.WriteLimit())

		const each = 10000
		pending := 2
		for i := 0; i < 2; i++ {
			local, peer := newSocketPair(t)
			bev, err := b.NewBufferEvent(local, 0)
			require.NoError(t, err)
			require.NoError(t, g.Add(bev))
			require.NoError(t, g.Add(bev), "adding a member twice")
			drainSocket(t, b, peer, each, func() {
				pending--
				if pending == 0 {
					assert.NoError(t, b.LoopBreak())
				}
			})
			_, err = bev.Write(bytes.Repeat([]byte("g"), each))
			require.NoError(t, err)
		}
		start := time.Now()
		require.NoError(t, b.Dispatch())
		// 20000 bytes at 2000 per tick, 3000 allowed at once: at least 8
		// further ticks for the two members together.
		assert.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond-coarseClockResolution(t))
		_, written := g.Totals()
		assert.Equal(t, uint64(2*each), written)
		require.NoError(t, g.ResetTotals())
		_, written = g.Totals()
		assert.Zero(t, written)

		// The same tick: libevent clips the buckets down to the new burst.
		smaller, err := NewTokenBucket(100, 200, 100, 200, 10*time.Millisecond)
		require.NoError(t, err)
		require.NoError(t, g.SetConfig(smaller))
		require.NoError(t, smaller.Close())
		assert.LessOrEqual(t, g.WriteLimit(), int64(200))

		// Another tick would stop the refills, so it is rejected.
		slower, err := NewTokenBucket(100, 200, 100, 200, 0)
		require.NoError(t, err)
		assert.Equal(t, time.Second, slower.Tick)
		assert.ErrorIs(t, g.SetConfig(slower), ErrInvalid)
		require.NoError(t, slower.Close())
	})
}

// TestRateLimitLifetimes closes groups, buckets, bufferevents and bases in
// the orders that would otherwise free a group with members or a
// configuration that a bufferevent still uses.
func TestRateLimitLifetimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := handles.count.Load()
		for order := 0; order < 3; order++ {
			b, err := NewBase(&bk.config)
			require.NoError(t, err)
			tb, err := NewTokenBucket(10, 10, 10, 10, time.Millisecond)
			require.NoError(t, err)
			g, err := b.NewRateLimitGroup(tb)
			require.NoError(t, err)
			a, c, err := b.NewBufferEventPair(0)
			require.NoError(t, err)
			require.NoError(t, a.SetRateLimit(tb))
			require.NoError(t, g.Add(a))
			require.NoError(t, g.Add(c))
			require.NoError(t, g.Remove(c))
			assert.ErrorIs(t, g.Remove(c), ErrInvalid)
			require.NoError(t, tb.Close(), "closing a bucket in use")
			assert.ErrorIs(t, c.SetRateLimit(tb), ErrClosed, "a closed bucket was taken up")

			switch order {
			case 0:
				require.NoError(t, g.Close())
				require.NoError(t, a.Close())
			case 1:
				require.NoError(t, a.Close())
				require.NoError(t, g.Close())
			}
			require.NoError(t, b.Close())
			assert.ErrorIs(t, g.ResetTotals(), ErrClosed)
		}
		assert.Equal(t, before, handles.count.Load())
	})
}

func TestRateLimitBadInput(t *testing.T) {
	cases := [][5]int{
		{0, 10, 10, 10, 0},
		{10, 10, 0, 10, 0},
		{20, 10, 10, 10, 0},
		{10, 10, 20, 10, 0},
		{10, 1 << 40, 10, 10, 0},
	}
	for _, c := range cases {
		_, err := NewTokenBucket(c[0], c[1], c[2], c[3], time.Duration(c[4]))
		assert.ErrorIs(t, err, ErrInvalid, "%v", c)
	}
	_, err := NewTokenBucket(1, 1, 1, 1, -time.Second)
	assert.ErrorIs(t, err, ErrInvalid)

	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		other := newBase(t, bk)
		tb, err := NewTokenBucket(10, 10, 10, 10, 0)
		require.NoError(t, err)
		defer tb.Close()
		g, err := b.NewRateLimitGroup(tb)
		require.NoError(t, err)
		foreign, err := other.NewBufferEvent(-1, 0)
		require.NoError(t, err)
		assert.ErrorIs(t, g.Add(foreign), ErrInvalid)
		assert.ErrorIs(t, foreign.DecrementReadLimit(1), ErrInvalid)
		assert.ErrorIs(t, foreign.SetRateLimit(&TokenBucket{}), ErrInvalid)
		_, err = b.NewRateLimitGroup(nil)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorIs(t, g.SetConfig(nil), ErrInvalid)
		assert.ErrorIs(t, g.SetMinShare(-1), ErrInvalid)
		var zero RateLimitGroup
		assert.ErrorIs(t, zero.ResetTotals(), ErrInvalid)
		assert.NoError(t, zero.Close())
	})
}
