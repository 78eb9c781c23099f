//go:build cgo

package libevent

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestBufferReferenceReleased checks that the memory added with
// AddReference is released exactly once on each path: drained, freed with
// its buffer, and moved to another buffer and freed there. The registry
// count shows that the key lives exactly as long as the reference.
func TestBufferReferenceReleased(t *testing.T) {
	paths := []struct {
		name    string
		release func(t *testing.T, b *Buffer)
	}{
		{"drained", func(t *testing.T, b *Buffer) {
			require.NoError(t, b.Drain(b.Len()))
		}},
		{"removed", func(t *testing.T, b *Buffer) {
			p := make([]byte, 100)
			_, err := b.Remove(p)
			require.NoError(t, err)
		}},
		{"buffer closed", func(t *testing.T, b *Buffer) {
			require.NoError(t, b.Close())
		}},
		{"moved and freed there", func(t *testing.T, b *Buffer) {
			dst, err := NewBuffer()
			require.NoError(t, err)
			require.NoError(t, dst.AddBuffer(b))
			assert.Equal(t, 0, b.Len())
			require.NoError(t, b.Close())
			assert.Equal(t, "by reference", string(contents(t, dst)[4:]))
			require.NoError(t, dst.Close())
		}},
	}
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			before := handles.count.Load()
			b, err := NewBuffer()
			require.NoError(t, err)
			defer b.Close()
			require.NoError(t, b.AddString("head"))
			data := []byte("by reference")
			released, err := b.AddReference(data)
			require.NoError(t, err)
			assert.Equal(t, before+1, handles.count.Load())
			assert.False(t, isClosed(released))

			// The buffer reads the Go memory in place.
			extents, err := b.Peek(-1)
			require.NoError(t, err)
			require.Len(t, extents, 2)
			assert.Same(t, &data[0], &extents[1][0])
			runtime.GC()
			assert.Equal(t, "headby reference", string(contents(t, b)))

			path.release(t, b)
			assert.True(t, isClosed(released), "the reference was not released")
			assert.Equal(t, before, handles.count.Load(), "the reference's key was not released")
		})
	}
}

// TestBufferReferencePartlyDrained keeps the reference while any of its
// bytes is left.
func TestBufferReferencePartlyDrained(t *testing.T) {
	b := newBuffer(t)
	released, err := b.AddReference([]byte("0123456789"))
	require.NoError(t, err)
	require.NoError(t, b.Drain(9))
	assert.False(t, isClosed(released))
	require.NoError(t, b.Drain(1))
	assert.True(t, isClosed(released))

	empty, err := b.AddReference(nil)
	require.NoError(t, err)
	assert.True(t, isClosed(empty), "an empty reference is released at once")
}

// writeFile creates a file with data in the test's temporary folder and
// returns a descriptor open for reading.
func writeFile(t *testing.T, data []byte) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	return fd
}

func fileData() []byte {
	return bytes.Repeat([]byte("file data 0123456789\n"), 1000)
}

// isOpen reports whether fd is an open descriptor.
func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

func TestBufferAddFile(t *testing.T) {
	data := fileData()
	b := newBuffer(t)
	fd := writeFile(t, data)
	require.NoError(t, b.AddFile(fd, 100, 500))
	assert.Equal(t, data[100:600], contents(t, b))
	assert.True(t, isOpen(fd), "the buffer closed the file while holding its data")
	require.NoError(t, b.Drain(500))
	assert.False(t, isOpen(fd), "the buffer did not close the file")

	// Length -1 reads up to the end of the file, from the offset.
	fd = writeFile(t, data)
	require.NoError(t, b.AddFile(fd, 20000, -1))
	assert.Equal(t, data[20000:], contents(t, b))
	require.NoError(t, b.Drain(b.Len()))

	// An empty range adds nothing, and the descriptor, which AddFile owns
	// on success, is closed.
	fd = writeFile(t, data)
	require.NoError(t, b.AddFile(fd, int64(len(data)), -1))
	assert.Equal(t, 0, b.Len())
	assert.False(t, isOpen(fd))

	// A failure leaves the descriptor open.
	fd = writeFile(t, data)
	defer unix.Close(fd)
	assert.ErrorIs(t, b.AddFile(fd, 0, int64(len(data)+1)), ErrInvalid)
	assert.ErrorIs(t, b.AddFile(fd, int64(len(data)+1), -1), ErrInvalid)
	assert.ErrorIs(t, b.AddFile(fd, -1, 10), ErrInvalid)
	assert.ErrorIs(t, b.AddFile(fd, 0, -2), ErrInvalid)
	require.NoError(t, b.Freeze(BufferBack))
	assert.ErrorIs(t, b.AddFile(fd, 0, 10), ErrFrozen)
	require.NoError(t, b.Unfreeze(BufferBack))
	assert.True(t, isOpen(fd))

	r, _ := newPipe(t)
	assert.ErrorIs(t, b.AddFile(r, 0, 1), ErrInvalid, "a pipe is not a regular file")
	assert.ErrorIs(t, b.AddFile(1<<20, 0, 1), syscall.EBADF)
}

func TestBufferFileSegment(t *testing.T) {
	data := fileData()
	flagSets := []FileSegmentFlags{0, FileSegmentDisableMmap, FileSegmentDisableSendfile | FileSegmentDisableLocking}
	for _, flags := range flagSets {
		before := handles.count.Load()
		fd := writeFile(t, data)
		seg, err := NewFileSegment(fd, 1000, 2000, flags)
		require.NoError(t, err, "flags 0x%x", flags)
		assert.Equal(t, int64(2000), seg.Len())

		a := newBuffer(t)
		b := newBuffer(t)
		require.NoError(t, a.AddFileSegment(seg, 0, -1))
		require.NoError(t, b.AddFileSegment(seg, 10, 20))
		require.NoError(t, b.AddFileSegment(seg, 1990, -1))
		require.NoError(t, b.AddFileSegment(seg, 2000, -1), "an empty range")
		assert.Equal(t, data[1000:3000], contents(t, a))
		assert.Equal(t, append(append([]byte{}, data[1010:1030]...), data[2990:3000]...), contents(t, b))

		assert.ErrorIs(t, b.AddFileSegment(seg, 2001, -1), ErrInvalid)
		assert.ErrorIs(t, b.AddFileSegment(seg, 1000, 1001), ErrInvalid)
		assert.ErrorIs(t, b.AddFileSegment(seg, -1, 1), ErrInvalid)
		assert.ErrorIs(t, b.AddFileSegment(seg, 0, -2), ErrInvalid)

		require.NoError(t, seg.Close())
		require.NoError(t, seg.Close())
		assert.ErrorIs(t, b.AddFileSegment(seg, 0, 1), ErrClosed)
		assert.False(t, isClosed(seg.Released()), "the segment was freed while buffers held it")
		require.NoError(t, a.Drain(a.Len()))
		assert.False(t, isClosed(seg.Released()))
		require.NoError(t, b.Close())
		assert.True(t, isClosed(seg.Released()), "the segment was not freed")
		assert.Equal(t, before, handles.count.Load())
		assert.True(t, isOpen(fd), "the segment closed a descriptor it did not own")
		require.NoError(t, unix.Close(fd))
	}
}

func TestBufferFileSegmentCloseOnFree(t *testing.T) {
	fd := writeFile(t, fileData())
	seg, err := NewFileSegment(fd, 0, -1, FileSegmentCloseOnFree)
	require.NoError(t, err)
	require.NoError(t, seg.Close())
	<-seg.Released()
	assert.False(t, isOpen(fd))

	_, err = NewFileSegment(fd, 0, -1, 0)
	assert.ErrorIs(t, err, syscall.EBADF)
	_, err = NewFileSegment(0, 0, -1, 0x100)
	assert.ErrorIs(t, err, ErrInvalid)
	var zero *FileSegment
	assert.NoError(t, zero.Close())
	assert.ErrorIs(t, newBuffer(t).AddFileSegment(zero, 0, 1), ErrInvalid)
}

// TestBufferSendfile adds file data to a buffer with BufferDrainsToFd: the
// data goes out with sendfile, and the calls that would read it fail.
func TestBufferSendfile(t *testing.T) {
	data := fileData()
	b := newBuffer(t)
	require.NoError(t, b.SetFlags(BufferDrainsToFd))
	require.NoError(t, b.AddString("head:"))
	fd := writeFile(t, data)
	require.NoError(t, b.AddFile(fd, 0, 4096))
	assert.Equal(t, 4101, b.Len())

	readers := map[string]func() error{
		"CopyOut":  func() error { _, err := b.CopyOut(make([]byte, 1)); return err },
		"Remove":   func() error { _, err := b.Remove(make([]byte, 1)); return err },
		"Peek":     func() error { _, err := b.Peek(-1); return err },
		"Pullup":   func() error { _, err := b.Pullup(-1); return err },
		"Search":   func() error { _, err := b.Search([]byte("x")); return err },
		"ReadLine": func() error { _, err := b.ReadLine(EOLLF); return err },
		"WriteTo":  func() error { _, err := b.WriteTo(io.Discard); return err },
		"RemoveBuffer part": func() error {
			_, err := b.RemoveBuffer(newBuffer(t), 1)
			return err
		},
	}
	for name, call := range readers {
		assert.ErrorIs(t, call(), ErrInvalid, name)
	}

	// A whole move carries the data and the mark along.
	moved := newBuffer(t)
	n, err := b.RemoveBuffer(moved, b.Len())
	require.NoError(t, err)
	assert.Equal(t, 4101, n)
	_, err = moved.Peek(-1)
	assert.ErrorIs(t, err, ErrInvalid)

	r, w := newPipe(t)
	var got []byte
	for moved.Len() > 0 {
		n, err := moved.WriteFd(w)
		require.NoError(t, err)
		require.Positive(t, n)
		p := make([]byte, 8192)
		m, err := unix.Read(r, p)
		require.NoError(t, err)
		got = append(got, p[:m]...)
	}
	assert.Equal(t, append([]byte("head:"), data[:4096]...), got)
	assert.False(t, isOpen(fd), "the file was not closed after sendfile sent it")

	// Once empty, the buffer can be read again.
	require.NoError(t, moved.AddString("plain"))
	assert.Equal(t, "plain", string(contents(t, moved)))

	// A segment that disables sendfile stays readable.
	fd = writeFile(t, data)
	defer unix.Close(fd)
	seg, err := NewFileSegment(fd, 0, 10, FileSegmentDisableSendfile)
	require.NoError(t, err)
	defer seg.Close()
	require.NoError(t, b.AddFileSegment(seg, 0, -1))
	assert.Equal(t, data[:10], contents(t, b))
}

func TestBufferReadFdAndWriteFd(t *testing.T) {
	b := newBuffer(t)
	r, w := newPipe(t)

	_, err := b.ReadFd(r, -1)
	assert.ErrorIs(t, err, syscall.EAGAIN, "ReadFd of an empty non-blocking pipe")

	n, err := b.WriteFd(w)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "WriteFd of an empty buffer")

	require.NoError(t, b.AddString("0123456789"))
	n, err = b.WriteFdAtMost(w, 4)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, "456789", string(contents(t, b)))
	n, err = b.WriteFdAtMost(w, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	n, err = b.WriteFd(w)
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	assert.Equal(t, 0, b.Len())

	in := newBuffer(t)
	n, err = in.ReadFd(r, 3)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	n, err = in.ReadFd(r, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	n, err = in.ReadFd(r, -1)
	require.NoError(t, err)
	assert.Equal(t, 7, n)
	assert.Equal(t, "0123456789", string(contents(t, in)))

	require.NoError(t, unix.Close(w))
	_, err = in.ReadFd(r, -1)
	assert.Same(t, io.EOF, err, "ReadFd at the end of the pipe")
}

func TestBufferDescriptorErrors(t *testing.T) {
	b := newBuffer(t)
	require.NoError(t, b.AddString("data"))
	f := newFixture(t, backends[0])

	_, err := b.WriteFd(f.closedFd)
	assert.ErrorIs(t, err, syscall.EBADF)
	var le *Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "evbuffer_write", le.Op)
	_, err = b.ReadFd(f.closedFd, -1)
	assert.ErrorIs(t, err, syscall.EBADF)
	assert.Equal(t, "data", string(contents(t, b)), "a failed write removed data")

	// A write to a pipe without a reader fails with EPIPE; the process
	// survives the SIGPIPE.
	r, w := newPipe(t)
	require.NoError(t, unix.Close(r))
	_, err = b.WriteFd(w)
	assert.ErrorIs(t, err, syscall.EPIPE)

	// A full pipe makes a non-blocking write fail with EAGAIN.
	_, full := newPipe(t)
	for {
		if _, err := unix.Write(full, make([]byte, 65536)); err != nil {
			require.ErrorIs(t, err, syscall.EAGAIN)
			break
		}
	}
	_, err = b.WriteFd(full)
	assert.ErrorIs(t, err, syscall.EAGAIN)
}

// TestBufferPipeRelay moves data through a pipe with the loop: a write event
// writes a buffer with WriteFd, and a read event reads it into another
// buffer with ReadFd.
func TestBufferPipeRelay(t *testing.T) {
	data := bytes.Repeat([]byte("relay through the pipe\n"), 20000)
	forEachBackend(t, func(t *testing.T, bk backend) {
		base := newBase(t, bk)
		r, w := newPipe(t)
		out := newBuffer(t)
		in := newBuffer(t)
		require.NoError(t, out.Add(data))

		var writer, reader *Event
		var err error
		writer, err = base.NewEvent(w, EvWrite|EvPersist, func(*Event, EventFlags) {
			_, err := out.WriteFd(w)
			if err != nil && !assert.ErrorIs(t, err, syscall.EAGAIN) {
				_ = base.LoopBreak()
			}
			if out.Len() == 0 {
				assert.NoError(t, writer.Del())
				assert.NoError(t, unix.Close(w))
			}
		})
		require.NoError(t, err)
		reader, err = base.NewEvent(r, EvRead|EvPersist, func(*Event, EventFlags) {
			_, err := in.ReadFd(r, -1)
			if err == io.EOF {
				assert.NoError(t, reader.Del())
				return
			}
			if err != nil && !assert.ErrorIs(t, err, syscall.EAGAIN) {
				_ = base.LoopBreak()
			}
		})
		require.NoError(t, err)
		require.NoError(t, writer.Add())
		require.NoError(t, reader.Add())

		assert.ErrorIs(t, base.Dispatch(), ErrNoEvents)
		assert.Equal(t, len(data), in.Len())
		assert.True(t, bytes.Equal(data, contents(t, in)), "the data changed on the way")
	})
}
