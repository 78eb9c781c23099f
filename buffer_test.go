//go:build cgo

package libevent

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newBuffer creates a Buffer that is closed when the test ends.
func newBuffer(t testing.TB) *Buffer {
	t.Helper()
	b, err := NewBuffer()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// contents returns a copy of the buffer's data, read with CopyOut.
func contents(t testing.TB, b *Buffer) []byte {
	t.Helper()
	out := make([]byte, b.Len())
	n, err := b.CopyOut(out)
	require.NoError(t, err)
	require.Equal(t, len(out), n)
	return out
}

// chainCount returns the number of memory chains that hold the buffer's
// data, as Peek reports them.
func chainCount(t testing.TB, b *Buffer) int {
	t.Helper()
	extents, err := b.Peek(-1)
	require.NoError(t, err)
	return len(extents)
}

func TestBufferAddAndRemove(t *testing.T) {
	b := newBuffer(t)
	assert.Equal(t, 0, b.Len())

	require.NoError(t, b.Add([]byte("hello, ")))
	require.NoError(t, b.AddString("world"))
	n, err := b.Write([]byte("!"))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = b.WriteString("?")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, b.Add(nil))
	require.NoError(t, b.AddString(""))
	assert.Equal(t, 14, b.Len())
	assert.Equal(t, "hello, world!?", string(contents(t, b)))

	p := make([]byte, 5)
	n, err = b.Remove(p)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, "hello", string(p))
	assert.Equal(t, 9, b.Len())

	c, err := b.ReadByte()
	require.NoError(t, err)
	assert.Equal(t, byte(','), c)

	rest, err := io.ReadAll(b)
	require.NoError(t, err)
	assert.Equal(t, " world!?", string(rest))
	assert.Equal(t, 0, b.Len())
}

func TestBufferReadAtEnd(t *testing.T) {
	b := newBuffer(t)
	n, err := b.Read(make([]byte, 4))
	assert.Equal(t, 0, n)
	assert.Same(t, io.EOF, err, "Read must return io.EOF itself, as bytes.Buffer does")

	n, err = b.Read(nil)
	assert.Equal(t, 0, n)
	assert.NoError(t, err, "a zero-length Read on an empty buffer")

	n, err = b.Remove(make([]byte, 4))
	assert.Equal(t, 0, n)
	assert.NoError(t, err, "Remove on an empty buffer")

	_, err = b.ReadByte()
	assert.Same(t, io.EOF, err)
}

func TestBufferDrain(t *testing.T) {
	b := newBuffer(t)
	require.NoError(t, b.AddString("0123456789"))
	require.NoError(t, b.Drain(0))
	assert.Equal(t, 10, b.Len())
	require.NoError(t, b.Drain(3))
	assert.Equal(t, "3456789", string(contents(t, b)))
	require.NoError(t, b.Drain(100))
	assert.Equal(t, 0, b.Len())
	require.NoError(t, b.Drain(1), "draining an empty buffer")
}

func TestBufferCopyOutLeavesData(t *testing.T) {
	b := newBuffer(t)
	require.NoError(t, b.AddString("abcdef"))
	p := make([]byte, 4)
	n, err := b.CopyOut(p)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, "abcd", string(p))
	assert.Equal(t, 6, b.Len())

	big := make([]byte, 10)
	n, err = b.CopyOut(big)
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	assert.Equal(t, "abcdef", string(big[:n]))

	n, err = b.CopyOut(nil)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}

func TestBufferPrepend(t *testing.T) {
	b := newBuffer(t)
	require.NoError(t, b.Prepend([]byte("world")))
	require.NoError(t, b.Prepend([]byte("hello ")))
	require.NoError(t, b.Prepend(nil))
	require.NoError(t, b.AddString("!"))
	assert.Equal(t, "hello world!", string(contents(t, b)))

	// Prepending more than a chain's free space in front of the data
	// adds a chain at the front.
	long := bytes.Repeat([]byte("x"), 5000)
	require.NoError(t, b.Prepend(long))
	assert.Equal(t, append(long, "hello world!"...), contents(t, b))
}

func TestBufferExpandAndContiguousSpace(t *testing.T) {
	b := newBuffer(t)
	assert.Equal(t, 0, b.ContiguousSpace())
	require.NoError(t, b.Expand(10000))
	require.NoError(t, b.Add(bytes.Repeat([]byte("a"), 10000)))
	assert.Equal(t, 10000, b.ContiguousSpace(), "Expand should have made room for all the data in one chain")
	assert.Equal(t, 1, chainCount(t, b))
	require.NoError(t, b.Expand(0))
}

// TestBufferMovesWithoutCopy checks that AddBuffer, PrependBuffer and
// RemoveBuffer move chains: the data keeps its address.
func TestBufferMovesWithoutCopy(t *testing.T) {
	src := newBuffer(t)
	dst := newBuffer(t)
	require.NoError(t, src.Add(bytes.Repeat([]byte("s"), 3000)))
	before, err := src.Peek(-1)
	require.NoError(t, err)
	require.NoError(t, dst.AddString("head:"))

	require.NoError(t, dst.AddBuffer(src))
	assert.Equal(t, 0, src.Len())
	assert.Equal(t, 3005, dst.Len())
	after, err := dst.Peek(-1)
	require.NoError(t, err)
	require.Len(t, after, 2)
	assert.Same(t, &before[0][0], &after[1][0], "AddBuffer copied the data")

	other := newBuffer(t)
	require.NoError(t, other.AddString("front:"))
	otherChains, err := other.Peek(-1)
	require.NoError(t, err)
	require.NoError(t, dst.PrependBuffer(other))
	assert.Equal(t, 0, other.Len())
	merged, err := dst.Peek(-1)
	require.NoError(t, err)
	assert.Same(t, &otherChains[0][0], &merged[0][0], "PrependBuffer copied the data")
	assert.Equal(t, "front:head:sss", string(contents(t, dst)[:14]))

	// RemoveBuffer moves whole chains and copies only the split one.
	moved, err := dst.RemoveBuffer(other, 8)
	require.NoError(t, err)
	assert.Equal(t, 8, moved)
	assert.Equal(t, "front:he", string(contents(t, other)))
	moved, err = dst.RemoveBuffer(other, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, 3003, moved)
	assert.Equal(t, 0, dst.Len())
	moved, err = dst.RemoveBuffer(other, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, moved)
}

func TestBufferIOInterfaces(t *testing.T) {
	var _ io.Reader = (*Buffer)(nil)
	var _ io.Writer = (*Buffer)(nil)
	var _ io.WriterTo = (*Buffer)(nil)
	var _ io.ReaderFrom = (*Buffer)(nil)
	var _ io.ByteReader = (*Buffer)(nil)
	var _ io.StringWriter = (*Buffer)(nil)

	b := newBuffer(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	n, err := b.ReadFrom(iotest.OneByteReader(bytes.NewReader(data[:1000])))
	require.NoError(t, err)
	assert.Equal(t, int64(1000), n)
	n, err = b.ReadFrom(bytes.NewReader(data[1000:]))
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)-1000), n)

	var out bytes.Buffer
	n, err = b.WriteTo(&out)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)
	assert.Equal(t, data, out.Bytes())
	assert.Equal(t, 0, b.Len())

	// io.Copy between two Buffers moves the data with AddBuffer.
	other := newBuffer(t)
	require.NoError(t, b.Add(data))
	copied, err := io.Copy(other, b)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), copied)
	assert.Equal(t, data, contents(t, other))

	// The data survives a reader that returns an error.
	failing := iotest.TimeoutReader(bytes.NewReader(data[:10]))
	target := newBuffer(t)
	_, err = target.ReadFrom(iotest.OneByteReader(failing))
	assert.ErrorIs(t, err, iotest.ErrTimeout)
	assert.Equal(t, data[:1], contents(t, target))
}

// shortWriter accepts at most limit bytes per Write.
type shortWriter struct {
	limit int
	got   bytes.Buffer
}

func (w *shortWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.limit)
	w.got.Write(p[:n])
	return n, nil
}

func TestBufferWriteToShortWrite(t *testing.T) {
	b := newBuffer(t)
	require.NoError(t, b.AddString("abcdef"))
	w := &shortWriter{limit: 4}
	n, err := b.WriteTo(w)
	assert.ErrorIs(t, err, io.ErrShortWrite)
	assert.Equal(t, int64(4), n)
	assert.Equal(t, "abcd", w.got.String())
	assert.Equal(t, "ef", string(contents(t, b)), "WriteTo must keep what the writer refused")

	failing := errors.New("write failed")
	n, err = b.WriteTo(writerFunc(func(p []byte) (int, error) { return 1, failing }))
	assert.ErrorIs(t, err, failing)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, "f", string(contents(t, b)))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestBufferFreeze(t *testing.T) {
	b := newBuffer(t)
	other := newBuffer(t)
	require.NoError(t, b.AddString("data"))
	require.NoError(t, other.AddString("more"))

	require.NoError(t, b.Freeze(BufferFront))
	frontCalls := map[string]func() error{
		"Remove":  func() error { _, err := b.Remove(make([]byte, 1)); return err },
		"Drain":   func() error { return b.Drain(1) },
		"CopyOut": func() error { _, err := b.CopyOut(make([]byte, 1)); return err },
		"ReadLine": func() error {
			_, err := b.ReadLine(EOLLF)
			return err
		},
		"Prepend":        func() error { return b.Prepend([]byte("x")) },
		"PrependBuffer":  func() error { return b.PrependBuffer(other) },
		"source of move": func() error { return other.AddBuffer(b) },
		"RemoveBuffer":   func() error { _, err := b.RemoveBuffer(other, 1); return err },
		"WriteFd":        func() error { _, err := b.WriteFd(1); return err },
	}
	for name, call := range frontCalls {
		assert.ErrorIs(t, call(), ErrFrozen, name)
	}
	require.NoError(t, b.AddString("!"), "the back is not frozen")
	require.NoError(t, b.Unfreeze(BufferFront))
	require.NoError(t, b.Drain(1))

	require.NoError(t, b.Freeze(BufferBack))
	backCalls := map[string]func() error{
		"Add":       func() error { return b.AddString("x") },
		"AddBuffer": func() error { return b.AddBuffer(other) },
		"Reserve":   func() error { _, err := b.Reserve(1); return err },
		"Commit":    func() error { return b.Commit(0) },
		"ReadFd":    func() error { _, err := b.ReadFd(0, 1); return err },
		"AddReference": func() error {
			_, err := b.AddReference([]byte("x"))
			return err
		},
		"destination of RemoveBuffer": func() error { _, err := other.RemoveBuffer(b, 1); return err },
	}
	for name, call := range backCalls {
		assert.ErrorIs(t, call(), ErrFrozen, name)
	}
	require.NoError(t, b.Drain(1), "the front is not frozen")
	require.NoError(t, b.Unfreeze(BufferBack))
	require.NoError(t, b.AddString("x"))
	assert.Equal(t, "ta!x", string(contents(t, b)))
}

func TestBufferFlags(t *testing.T) {
	b := newBuffer(t)
	assert.Equal(t, BufferFlags(0), b.Flags())
	require.NoError(t, b.SetFlags(BufferDrainsToFd))
	assert.Equal(t, BufferDrainsToFd, b.Flags())
	require.NoError(t, b.ClearFlags(BufferDrainsToFd))
	assert.Equal(t, BufferFlags(0), b.Flags())
}

func TestBufferCloseTwiceAndUseAfterClose(t *testing.T) {
	b, err := NewBuffer()
	require.NoError(t, err)
	require.NoError(t, b.AddString("data"))
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	assert.Equal(t, 0, b.Len())
	assert.Equal(t, 0, b.ContiguousSpace())
	err = b.AddString("x")
	assert.ErrorIs(t, err, ErrClosed)
	var le *Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "evbuffer_add", le.Op)
}

func TestBufferLocking(t *testing.T) {
	b := newBuffer(t)
	assert.ErrorIs(t, b.Lock(), ErrInvalid, "Lock without EnableLocking")
	assert.ErrorIs(t, b.Unlock(), ErrInvalid, "Unlock without Lock")
	require.NoError(t, b.EnableLocking())
	assert.ErrorIs(t, b.EnableLocking(), ErrInvalid, "EnableLocking twice")

	// Each goroutine appends a record in two calls under the lock; the
	// records must not interleave.
	const goroutines, records = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range records {
				if !assert.NoError(t, b.Lock()) {
					return
				}
				assert.NoError(t, b.Lock(), "the lock is recursive")
				assert.NoError(t, b.Add([]byte{'<', byte('a' + g)}))
				assert.NoError(t, b.Add([]byte{byte('a' + g), '>'}))
				assert.NoError(t, b.Unlock())
				assert.NoError(t, b.Unlock())
			}
		}()
	}
	wg.Wait()
	data := contents(t, b)
	require.Len(t, data, goroutines*records*4)
	for i := 0; i < len(data); i += 4 {
		record := data[i : i+4]
		assert.True(t, record[0] == '<' && record[1] == record[2] && record[3] == '>', "interleaved record %q at %d", record, i)
	}

	// Another goroutine cannot release the lock.
	require.NoError(t, b.Lock())
	errs := make(chan error)
	go func() { errs <- b.Unlock() }()
	assert.ErrorIs(t, <-errs, ErrInvalid)
	require.NoError(t, b.Unlock())
}

// TestBufferCloseWhileLocked closes a locked buffer: the memory is freed by
// the Unlock.
func TestBufferCloseWhileLocked(t *testing.T) {
	b, err := NewBuffer()
	require.NoError(t, err)
	require.NoError(t, b.EnableLocking())
	require.NoError(t, b.Lock())
	require.NoError(t, b.Close())
	assert.ErrorIs(t, b.AddString("x"), ErrClosed)
	require.NoError(t, b.Unlock())
	assert.ErrorIs(t, b.Unlock(), ErrInvalid)
}

// stubOwner stands for a bufferevent that owns an evbuffer.
type stubOwner struct {
	life lifetime
}

func (o *stubOwner) enter(op string) error {
	if !o.life.acquire() {
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (o *stubOwner) leave() { o.life.release() }

// TestBorrowedBuffer wraps the evbuffer of another Buffer as a bufferevent
// would hand out its input: closing the wrapper leaves the evbuffer alone,
// and the owner's detach makes the wrapper unusable.
func TestBorrowedBuffer(t *testing.T) {
	owned := newBuffer(t)
	owner := &stubOwner{}
	base := newBase(t, backends[0])
	handlesBefore := handles.count.Load()

	wrapper := borrowBuffer(owned.ptr, owner, nil, 0, false, nil)
	require.NoError(t, wrapper.AddString("through the wrapper"))
	calls := 0
	_, err := wrapper.AddCallback(func(*Buffer, BufferCallbackInfo) { calls++ })
	require.NoError(t, err)
	require.NoError(t, owned.AddString("!"))
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, wrapper.DeferCallbacks(base), ErrInvalid)
	assert.ErrorIs(t, wrapper.AddBuffer(owned), ErrInvalid, "the same evbuffer on both sides")

	require.NoError(t, wrapper.Close())
	assert.Equal(t, handlesBefore, handles.count.Load(), "Close kept the callback's key")
	require.NoError(t, owned.AddString("?"))
	assert.Equal(t, 1, calls, "the callback ran after the wrapper was closed")
	assert.Equal(t, "through the wrapper!?", string(contents(t, owned)), "closing the wrapper changed the evbuffer")

	// A change that libevent makes behind the wrapper's back, reported
	// by the owner, makes the wrapper's positions stale.
	pos, err := owned.Pos(0)
	require.NoError(t, err)
	wrapperPos, err := wrapper.Pos(0)
	assert.ErrorIs(t, err, ErrClosed)
	assert.False(t, wrapperPos.Found())
	third := borrowBuffer(owned.ptr, owner, nil, 0, false, nil)
	thirdPos, err := third.Pos(2)
	require.NoError(t, err)
	third.noteChanged()
	_, err = third.AdvancePos(thirdPos, 1)
	assert.ErrorIs(t, err, ErrInvalid, "a position survived noteChanged")
	_, err = owned.AdvancePos(pos, 1)
	require.NoError(t, err, "the owner's own positions do not depend on the wrapper")
	require.NoError(t, third.Close())

	second := borrowBuffer(owned.ptr, owner, nil, 0, false, nil)
	_, err = second.AddCallback(func(*Buffer, BufferCallbackInfo) { calls++ })
	require.NoError(t, err)
	owner.life.close()
	assert.ErrorIs(t, second.AddString("x"), ErrClosed, "use after the owner closed")
	second.detach()
	assert.Equal(t, handlesBefore, handles.count.Load(), "detach kept the callback's key")
	require.NoError(t, owned.AddString("."))
	assert.Equal(t, 1, calls, "a detached callback ran")
	require.NoError(t, second.Close())
}

// TestBufferBadInput feeds invalid input to every Buffer method. Each call
// must return an error that matches want and names the libevent function.
func TestBufferBadInput(t *testing.T) {
	b := newBuffer(t)
	other := newBuffer(t)
	require.NoError(t, b.AddString("line\nmore"))
	closed, err := NewBuffer()
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	zero := new(Buffer)
	var nilBuffer *Buffer
	pos, err := b.Pos(2)
	require.NoError(t, err)
	otherPos, err := other.Pos(0)
	require.NoError(t, err)
	notFound, err := b.Search([]byte("absent"))
	require.NoError(t, err)
	require.False(t, notFound.Found())

	cases := []struct {
		name string
		want error
		op   string
		call func() error
	}{
		{"negative drain", ErrInvalid, "evbuffer_drain", func() error { return b.Drain(-1) }},
		{"negative expand", ErrInvalid, "evbuffer_expand", func() error { return b.Expand(-1) }},
		{"negative reserve", ErrInvalid, "evbuffer_reserve_space", func() error { _, err := b.Reserve(-1); return err }},
		{"negative commit", ErrInvalid, "evbuffer_commit_space", func() error { return b.Commit(-1) }},
		{"commit without reserve", ErrInvalid, "evbuffer_commit_space", func() error { return b.Commit(0) }},
		{"peek below -1", ErrInvalid, "evbuffer_peek", func() error { _, err := b.Peek(-2); return err }},
		{"pullup below -1", ErrInvalid, "evbuffer_pullup", func() error { _, err := b.Pullup(-2); return err }},
		{"pullup past the end", ErrInvalid, "evbuffer_pullup", func() error { _, err := b.Pullup(100); return err }},
		{"negative remove-buffer size", ErrInvalid, "evbuffer_remove_buffer", func() error { _, err := b.RemoveBuffer(other, -1); return err }},
		{"nil source", ErrInvalid, "evbuffer_add_buffer", func() error { return b.AddBuffer(nil) }},
		{"added to itself", ErrInvalid, "evbuffer_add_buffer", func() error { return b.AddBuffer(b) }},
		{"prepended to itself", ErrInvalid, "evbuffer_prepend_buffer", func() error { return b.PrependBuffer(b) }},
		{"removed into itself", ErrInvalid, "evbuffer_remove_buffer", func() error { _, err := b.RemoveBuffer(b, 1); return err }},
		{"nil destination", ErrInvalid, "evbuffer_remove_buffer", func() error { _, err := b.RemoveBuffer(nil, 1); return err }},
		{"closed source", ErrClosed, "evbuffer_add_buffer", func() error { return b.AddBuffer(closed) }},
		{"zero source", ErrInvalid, "evbuffer_prepend_buffer", func() error { return b.PrependBuffer(zero) }},
		{"negative position", ErrInvalid, "evbuffer_ptr_set", func() error { _, err := b.Pos(-1); return err }},
		{"position past the end", ErrInvalid, "evbuffer_ptr_set", func() error { _, err := b.Pos(100); return err }},
		{"advance past the end", ErrInvalid, "evbuffer_ptr_set", func() error { _, err := b.AdvancePos(pos, 100); return err }},
		{"negative advance", ErrInvalid, "evbuffer_ptr_set", func() error { _, err := b.AdvancePos(pos, -1); return err }},
		{"position of another buffer", ErrInvalid, "evbuffer_search", func() error { _, err := b.SearchFrom([]byte("x"), otherPos); return err }},
		{"zero position", ErrInvalid, "evbuffer_peek", func() error { _, err := b.PeekAt(BufferPos{}, 1); return err }},
		{"position not found", ErrInvalid, "evbuffer_copyout_from", func() error { _, err := b.CopyOutFrom(notFound, make([]byte, 1)); return err }},
		{"range end before start", ErrInvalid, "evbuffer_search_range", func() error {
			start, err := b.Pos(3)
			if err != nil {
				return err
			}
			end, err := b.Pos(1)
			if err != nil {
				return err
			}
			_, err = b.SearchRange([]byte("x"), start, end)
			return err
		}},
		{"unknown EOL style in ReadLine", ErrInvalid, "evbuffer_readln", func() error { _, err := b.ReadLine(EOLStyle(9)); return err }},
		{"negative EOL style", ErrInvalid, "evbuffer_search_eol", func() error { _, _, err := b.SearchEOL(EOLStyle(-1)); return err }},
		{"unknown buffer flags", ErrInvalid, "evbuffer_set_flags", func() error { return b.SetFlags(0x10) }},
		{"unknown flags to clear", ErrInvalid, "evbuffer_clear_flags", func() error { return b.ClearFlags(0x2) }},
		{"unknown buffer end", ErrInvalid, "evbuffer_freeze", func() error { return b.Freeze(BufferEnd(2)) }},
		{"nil callback", ErrInvalid, "evbuffer_add_cb", func() error { _, err := b.AddCallback(nil); return err }},
		{"zero callback", ErrInvalid, "evbuffer_remove_cb_entry", func() error { return new(BufferCallback).Remove() }},
		{"zero callback enable", ErrInvalid, "evbuffer_cb_set_flags", func() error { return new(BufferCallback).Enable() }},
		{"defer to nil base", ErrInvalid, "evbuffer_defer_callbacks", func() error { return b.DeferCallbacks(nil) }},
		{"negative read size", ErrInvalid, "evbuffer_read", func() error { _, err := b.ReadFd(0, -2); return err }},
		{"negative read descriptor", ErrInvalid, "evbuffer_read", func() error { _, err := b.ReadFd(-1, 1); return err }},
		{"negative write descriptor", ErrInvalid, "evbuffer_write", func() error { _, err := b.WriteFd(-3); return err }},
		{"negative write size", ErrInvalid, "evbuffer_write_atmost", func() error { _, err := b.WriteFdAtMost(1, -5); return err }},
		{"nil reader", ErrInvalid, "evbuffer_add", func() error { _, err := b.ReadFrom(nil); return err }},
		{"nil writer", ErrInvalid, "evbuffer_copyout", func() error { _, err := b.WriteTo(nil); return err }},

		{"closed add", ErrClosed, "evbuffer_add", func() error { return closed.AddString("x") }},
		{"closed remove", ErrClosed, "evbuffer_remove", func() error { _, err := closed.Remove(make([]byte, 1)); return err }},
		{"closed read", ErrClosed, "evbuffer_remove", func() error { _, err := closed.Read(make([]byte, 1)); return err }},
		{"closed peek", ErrClosed, "evbuffer_peek", func() error { _, err := closed.Peek(-1); return err }},
		{"closed pullup", ErrClosed, "evbuffer_pullup", func() error { _, err := closed.Pullup(-1); return err }},
		{"closed search", ErrClosed, "evbuffer_search", func() error { _, err := closed.Search([]byte("x")); return err }},
		{"closed readln", ErrClosed, "evbuffer_readln", func() error { _, err := closed.ReadLine(EOLAny); return err }},
		{"closed reserve", ErrClosed, "evbuffer_reserve_space", func() error { _, err := closed.Reserve(1); return err }},
		{"closed callback", ErrClosed, "evbuffer_add_cb", func() error {
			_, err := closed.AddCallback(func(*Buffer, BufferCallbackInfo) {})
			return err
		}},
		{"closed reference", ErrClosed, "evbuffer_add_reference", func() error { _, err := closed.AddReference([]byte("x")); return err }},
		{"closed freeze", ErrClosed, "evbuffer_freeze", func() error { return closed.Freeze(BufferFront) }},
		{"closed lock", ErrClosed, "evbuffer_lock", func() error { return closed.Lock() }},
		{"closed write", ErrClosed, "evbuffer_write", func() error { _, err := closed.WriteFd(1); return err }},
		{"closed destination", ErrClosed, "evbuffer_remove_buffer", func() error { _, err := b.RemoveBuffer(closed, 1); return err }},
		{"closed io.Copy", ErrClosed, "evbuffer_add_buffer", func() error { _, err := io.Copy(closed, b); return err }},

		{"zero add", ErrInvalid, "evbuffer_add", func() error { return zero.AddString("x") }},
		{"nil add", ErrInvalid, "evbuffer_add", func() error { return nilBuffer.Add([]byte("x")) }},
		{"zero read", ErrInvalid, "evbuffer_remove", func() error { _, err := zero.Read(make([]byte, 1)); return err }},
		{"zero drain", ErrInvalid, "evbuffer_drain", func() error { return zero.Drain(1) }},
		{"zero position", ErrInvalid, "evbuffer_ptr_set", func() error { _, err := zero.Pos(0); return err }},
		{"zero defer", ErrInvalid, "evbuffer_defer_callbacks", func() error { return zero.DeferCallbacks(newBase(t, backends[0])) }},
		{"zero locking", ErrInvalid, "evbuffer_enable_locking", func() error { return zero.EnableLocking() }},
		{"nil unlock", ErrInvalid, "evbuffer_unlock", func() error { return nilBuffer.Unlock() }},
		{"zero read descriptor", ErrInvalid, "evbuffer_read", func() error { _, err := zero.ReadFd(0, 1); return err }},
	}
	for _, c := range cases {
		err := c.call()
		require.Error(t, err, c.name)
		assert.ErrorIs(t, err, c.want, "%s: %v", c.name, err)
		var le *Error
		if assert.ErrorAs(t, err, &le, c.name) {
			assert.Equal(t, c.op, le.Op, c.name)
		}
		assert.True(t, strings.HasPrefix(err.Error(), "libevent: "+c.op+": "), "%s: %q", c.name, err.Error())
	}
	assert.Equal(t, "line\nmore", string(contents(t, b)), "a failed call changed the buffer")

	// Methods without an error result return zero values.
	assert.Equal(t, 0, zero.Len())
	assert.Equal(t, 0, nilBuffer.Len())
	assert.Equal(t, BufferFlags(0), nilBuffer.Flags())
	assert.NoError(t, zero.Close())
	assert.NoError(t, nilBuffer.Close())
	assert.Equal(t, -1, BufferPos{}.Offset())
	assert.False(t, BufferPos{}.Found())
}
