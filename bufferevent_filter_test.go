//go:build cgo

package libevent

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upper copies src to dst in upper case.
func upper(src, dst *Buffer, limit int, mode FlushMode) FilterResult {
	data := make([]byte, src.Len())
	n, err := src.Read(data)
	if err != nil && n == 0 {
		return FilterNeedMore
	}
	if err := dst.Add(bytes.ToUpper(data[:n])); err != nil {
		return FilterError
	}
	return FilterOK
}

// wholeLines passes only complete lines, so that a partial line waits.
func wholeLines(src, dst *Buffer, limit int, mode FlushMode) FilterResult {
	moved := false
	for {
		line, err := src.ReadLine(EOLLF)
		if err != nil {
			break
		}
		if err := dst.Add(append(line, '\n')); err != nil {
			return FilterError
		}
		moved = true
	}
	if mode == FlushFinished && src.Len() > 0 {
		// The end of the stream ends the last line too.
		rest := make([]byte, src.Len())
		n, _ := src.Read(rest)
		dst.Add(rest[:n])
		moved = true
	}
	if !moved {
		return FilterNeedMore
	}
	return FilterOK
}

func TestFilterOutputAndInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		// Writes to f reach c in upper case; what c sends arrives at f
		// line by line.
		f, err := b.NewBufferEventFilter(a, wholeLines, upper, BEVOptCloseOnFree)
		require.NoError(t, err)
		require.NoError(t, c.Enable(EvRead))
		require.NoError(t, f.Enable(EvRead))
		var lines []string
		require.NoError(t, f.SetCallbacks(func(bev *BufferEvent) { lines = append(lines, readAll(t, bev)) }, nil, nil))

		_, err = f.WriteString("hello, filter")
		require.NoError(t, err)
		runPending(t, b)
		assert.Equal(t, "HELLO, FILTER", readAll(t, c))

		_, err = c.WriteString("first\nsec")
		require.NoError(t, err)
		runPending(t, b)
		assert.Equal(t, []string{"first\n"}, lines)
		_, err = c.WriteString("ond\n")
		require.NoError(t, err)
		runPending(t, b)
		assert.Equal(t, []string{"first\n", "second\n"}, lines)

		// A finishing flush ends a partial line. libevent 2.1 moves the data
		// without running the read callback.
		_, err = c.WriteString("tail")
		require.NoError(t, err)
		runPending(t, b)
		assert.Equal(t, 0, f.Input().Len())
		flushed, err := f.Flush(EvRead, FlushFinished)
		require.NoError(t, err)
		assert.True(t, flushed)
		assert.Equal(t, "tail", readAll(t, f))
	})
}

func TestFilterPanicAndClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := handles.count.Load()
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		a, c, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		f, err := b.NewBufferEventFilter(a, nil, func(src, dst *Buffer, limit int, mode FlushMode) FilterResult {
			panic("filter")
		}, BEVOptCloseOnFree)
		require.NoError(t, err)
		// The output filter runs inside Write, so Write panics.
		assert.Equal(t, "filter", recoverFrom(func() { _, _ = f.WriteString("x") }))

		// With BEVOptCloseOnFree the filter closes the underlying
		// bufferevent, whose own Close does nothing.
		require.NoError(t, a.Close())
		_, err = a.WriteString("still open")
		assert.NoError(t, err)
		require.NoError(t, f.Close())
		_, err = a.WriteString("x")
		assert.ErrorIs(t, err, ErrClosed)
		require.NoError(t, c.Close())

		// Without it, the underlying bufferevent stays the caller's.
		d, e, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		g, err := b.NewBufferEventFilter(d, upper, upper, 0)
		require.NoError(t, err)
		require.NoError(t, g.Close())
		_, err = d.WriteString("mine")
		assert.NoError(t, err)
		require.NoError(t, e.Enable(EvRead))
		runPending(t, b)
		assert.Equal(t, "mine", readAll(t, e))

		// Base.Close frees a filter and what it owns in any order.
		h, k, err := b.NewBufferEventPair(0)
		require.NoError(t, err)
		_, err = b.NewBufferEventFilter(h, upper, nil, BEVOptCloseOnFree)
		require.NoError(t, err)
		_ = k
		require.NoError(t, b.Close())
		assert.Equal(t, before, handles.count.Load(), "handles left: %v", handles.owners())
	})
}

func TestFilterBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		other := newBase(t, bk)
		a, _, err := other.NewBufferEventPair(0)
		require.NoError(t, err)
		_, err = b.NewBufferEventFilter(a, nil, nil, 0)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = b.NewBufferEventFilter(nil, nil, nil, 0)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = other.NewBufferEventFilter(a, nil, nil, 0x100)
		assert.ErrorIs(t, err, ErrInvalid)
		require.NoError(t, a.Close())
		_, err = other.NewBufferEventFilter(a, nil, nil, 0)
		assert.ErrorIs(t, err, ErrClosed)
	})
}
