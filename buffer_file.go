//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"io"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bufferReference is the registry entry of data added with AddReference.
type bufferReference struct {
	pinner   runtime.Pinner
	released chan struct{}
}

// release unpins the data and releases the registry key. It runs once:
// from libevent's cleanup callback, or after a failed
// evbuffer_add_reference, which does not call it.
func (r *bufferReference) release(key unsafe.Pointer) {
	r.pinner.Unpin()
	close(r.released)
	handles.release(key)
}

// AddReference appends data to the buffer without copying it
// (evbuffer_add_reference). The buffer, and any buffer the bytes move to,
// reads data in place, so data must not change until the returned channel is
// closed. libevent closes it, through its cleanup callback, when the last of
// these bytes has left every buffer: when they are removed, drained or
// written, or when the buffer that holds them is closed. Until then the
// memory is pinned (runtime.Pinner), so the garbage collector neither moves
// nor frees it. Empty data adds nothing and returns a closed channel.
func (b *Buffer) AddReference(data []byte) (released <-chan struct{}, err error) {
	const op = "evbuffer_add_reference"
	c, err := b.enter(op)
	if err != nil {
		return nil, err
	}
	defer c.leave()
	if err := b.checkBack(op); err != nil {
		return nil, err
	}
	ref := &bufferReference{released: make(chan struct{})}
	if len(data) == 0 {
		close(ref.released)
		return ref.released, nil
	}
	ref.pinner.Pin(&data[0])
	key := handles.register(ref)
	r, errno := C.golibevent_buffer_add_reference(b.ptr, unsafe.Pointer(&data[0]), C.size_t(len(data)), key)
	if r != 0 {
		ref.release(key)
	}
	b.changed()
	rethrowSyncPanic()
	if r != 0 {
		return nil, opError(op, errno)
	}
	return ref.released, nil
}

// fileRange checks that fd is an open regular file and that offset and
// length select a range inside it. length -1 means up to the end of the
// file. It returns the length.
//
// libevent maps the file or reads it into memory, unless the data goes out
// with sendfile. A mapped range past the end of the file would raise SIGBUS
// when read, and for length -1 libevent takes the whole file size even when
// offset is not 0, so the range is computed and checked here.
func fileRange(op string, fd int, offset, length int64) (int64, error) {
	if fd < 0 {
		return 0, invalidError(op, "invalid descriptor %d", fd)
	}
	if offset < 0 {
		return 0, invalidError(op, "negative offset %d", offset)
	}
	if length < -1 {
		return 0, invalidError(op, "negative length %d; use -1 for up to the end of the file", length)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, &Error{Op: op, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, invalidError(op, "descriptor %d is not a regular file", fd)
	}
	if offset > st.Size {
		return 0, invalidError(op, "offset %d is past the end of the file (size %d)", offset, st.Size)
	}
	if length == -1 {
		length = st.Size - offset
	}
	if length > st.Size-offset {
		return 0, invalidError(op, "range of %d bytes at offset %d is past the end of the file (size %d)", length, offset, st.Size)
	}
	return length, nil
}

// AddFile appends length bytes of the regular file fd, starting at offset,
// to the buffer (evbuffer_add_file). Length -1 means up to the end of the
// file. With BufferDrainsToFd set, the data is later sent with sendfile and
// is never in memory. Otherwise the file is mapped, or read if it cannot be.
//
// On success the buffer owns fd and closes it once the data has left every
// buffer; the caller must not close it or use its file offset. On failure fd
// stays open and the caller's.
func (b *Buffer) AddFile(fd int, offset, length int64) error {
	const op = "evbuffer_add_file"
	length, err := fileRange(op, fd, offset, length)
	if err != nil {
		return err
	}
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if err := b.checkBack(op); err != nil {
		return err
	}

	if length == 0 {
		// A zero-length sendfile chain at the front would make every
		// later write send nothing.
		return closeAsOwner(op, fd)
	}
	sendfile := C.int(0)
	if BufferFlags(b.flags.Load())&BufferDrainsToFd != 0 {
		sendfile = 1
		// Set first: the callbacks that the C call runs must not read
		// the new data.
		b.sendfileData.Store(true)
	}

	r, errno := C.golibevent_buffer_add_file(b.ptr, C.int(fd), C.int64_t(offset), C.int64_t(length), sendfile)
	b.changed()
	rethrowSyncPanic()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// closeAsOwner closes a descriptor that a successful AddFile took over.
func closeAsOwner(op string, fd int) error {
	if err := unix.Close(fd); err != nil {
		return &Error{Op: op, Err: err}
	}
	return nil
}

// FileSegmentFlags change how a [FileSegment] reads its file
// (EVBUF_FS_*).
type FileSegmentFlags uint32

const (
	// FileSegmentCloseOnFree closes the descriptor when the segment is
	// freed, after Close and after every buffer has let go of it.
	FileSegmentCloseOnFree FileSegmentFlags = 0x01
	// FileSegmentDisableMmap reads the file into memory instead of
	// mapping it.
	FileSegmentDisableMmap FileSegmentFlags = 0x02
	// FileSegmentDisableSendfile keeps the segment's data in memory even
	// in a buffer with BufferDrainsToFd, so that it can be read, copied
	// and searched there.
	FileSegmentDisableSendfile FileSegmentFlags = 0x04
	// FileSegmentDisableLocking gives the segment no lock. The segment,
	// and every buffer it is added to, must then be used by one goroutine
	// at a time.
	FileSegmentDisableLocking FileSegmentFlags = 0x08

	allFileSegmentFlags = FileSegmentCloseOnFree | FileSegmentDisableMmap |
		FileSegmentDisableSendfile | FileSegmentDisableLocking
)

// FileSegment is a range of a file that can be added to buffers, once or
// many times, with [Buffer.AddFileSegment] (struct evbuffer_file_segment).
// libevent counts references to it: Close drops the creator's reference,
// and each buffer chain that holds part of it holds another.
type FileSegment struct {
	ptr    *C.struct_evbuffer_file_segment
	key    unsafe.Pointer
	life   lifetime
	flags  FileSegmentFlags
	length int64
	// released is closed by libevent's cleanup callback, after which
	// ptr is freed.
	released   chan struct{}
	cFreed     atomic.Bool
	sendfileOK bool
}

// NewFileSegment creates a segment for length bytes of the regular file fd,
// starting at offset (evbuffer_file_segment_new). Length -1 means up to the
// end of the file. The range is mapped or read now if flags disable
// sendfile, and otherwise when it is added to a buffer without
// BufferDrainsToFd. fd must
// stay open until [FileSegment.Released] is closed; with
// FileSegmentCloseOnFree the segment closes it then. On failure fd stays
// open.
func NewFileSegment(fd int, offset, length int64, flags FileSegmentFlags) (*FileSegment, error) {
	const op = "evbuffer_file_segment_new"
	if flags&^allFileSegmentFlags != 0 {
		return nil, invalidError(op, "unknown file segment flags 0x%x", uint32(flags&^allFileSegmentFlags))
	}
	length, err := fileRange(op, fd, offset, length)
	if err != nil {
		return nil, err
	}
	s := &FileSegment{
		flags:      flags,
		length:     length,
		released:   make(chan struct{}),
		sendfileOK: flags&FileSegmentDisableSendfile == 0,
	}
	s.key = handles.register(s)
	ptr, errno := C.golibevent_file_segment_new(C.int(fd), C.int64_t(offset), C.int64_t(length), C.uint(flags), s.key)
	if ptr == nil {
		handles.release(s.key)
		return nil, opError(op, errno)
	}
	s.ptr = ptr
	return s, nil
}

// Len returns the number of bytes in the segment.
func (s *FileSegment) Len() int64 {
	if s == nil {
		return 0
	}
	return s.length
}

// Released returns a channel that is closed when libevent frees the segment
// (its cleanup callback, set with evbuffer_file_segment_add_cleanup_cb):
// after Close, once no buffer contains any of its data.
func (s *FileSegment) Released() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.released
}

// Close drops the creator's reference to the segment
// (evbuffer_file_segment_free). Data already added to buffers stays valid;
// the segment is freed when the last buffer lets go of it. Closing twice is
// harmless, and AddFileSegment fails afterwards with an error that matches
// ErrClosed.
func (s *FileSegment) Close() error {
	if s == nil || s.ptr == nil {
		return nil
	}
	if first, idle := s.life.close(); first && idle {
		s.drop()
	}
	return nil
}

// drop releases the creator's reference. It runs once, when the segment is
// closed and no AddFileSegment is in flight.
func (s *FileSegment) drop() {
	// NOTE: evbuffer_add_file_segment in libevent 2.1.12 drops a
	// reference it never took when it fails after its checks (out of
	// memory). AddFileSegment checks the range and the frozen back
	// first, so only that case remains. If it freed the segment, the
	// reference is gone and must not be dropped again.
	if s.cFreed.Load() {
		return
	}
	C.evbuffer_file_segment_free(s.ptr)
}

// freed runs from libevent's cleanup callback, after which the segment's
// memory is gone.
func (s *FileSegment) freed(key unsafe.Pointer) {
	s.cFreed.Store(true)
	close(s.released)
	handles.release(key)
}

// AddFileSegment appends length bytes of seg, starting offset bytes into the
// segment, to the buffer (evbuffer_add_file_segment). Length -1 means up to
// the end of the segment. The offset is relative to the segment, not to the
// file.
func (b *Buffer) AddFileSegment(seg *FileSegment, offset, length int64) error {
	const op = "evbuffer_add_file_segment"
	if seg == nil || seg.ptr == nil {
		return invalidError(op, "the FileSegment was not created by NewFileSegment")
	}
	if offset < 0 || offset > seg.length {
		return invalidError(op, "offset %d outside the segment of %d bytes", offset, seg.length)
	}
	if length < -1 {
		return invalidError(op, "negative length %d; use -1 for up to the end of the segment", length)
	}
	if length == -1 {
		length = seg.length - offset
	}
	if length > seg.length-offset {
		return invalidError(op, "range of %d bytes at offset %d is past the end of the segment of %d bytes", length, offset, seg.length)
	}

	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if !seg.life.acquire() {
		return wrapError(op, ErrClosed)
	}
	defer func() {
		if seg.life.release() {
			seg.drop()
		}
	}()
	if err := b.checkBack(op); err != nil {
		return err
	}
	if length == 0 {
		return nil
	}

	if seg.sendfileOK && BufferFlags(b.flags.Load())&BufferDrainsToFd != 0 {
		b.sendfileData.Store(true)
	}
	r, errno := C.evbuffer_add_file_segment(b.ptr, seg.ptr, C.ev_off_t(offset), C.ev_off_t(length))
	b.changed()
	rethrowSyncPanic()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// ReadFd reads from fd into the back of the buffer (evbuffer_read): at most
// max bytes, or as many as are ready for max = -1. libevent 2.1.12 reads at
// most 4096 bytes per call. ReadFd returns io.EOF when fd is at the end of
// its data, and an error that wraps the errno when the read fails
// (syscall.EAGAIN when a non-blocking fd has nothing ready).
func (b *Buffer) ReadFd(fd int, max int) (int, error) {
	const op = "evbuffer_read"
	if fd < 0 {
		return 0, invalidError(op, "invalid descriptor %d", fd)
	}
	if max < -1 {
		return 0, invalidError(op, "negative size %d; use -1 for as much as is ready", max)
	}
	c, err := b.enter(op)
	if err != nil {
		return 0, err
	}
	defer c.leave()
	if err := b.checkBack(op); err != nil {
		return 0, err
	}
	if max == 0 {
		// evbuffer_read would return 0, which means end of file.
		return 0, nil
	}

	r, errno := C.evbuffer_read(b.ptr, C.evutil_socket_t(fd), C.int(min(max, maxChunk)))
	b.changed()
	rethrowSyncPanic()
	switch {
	case r < 0:
		return 0, opError(op, errno)
	case r == 0:
		return 0, io.EOF
	}
	return int(r), nil
}

// WriteFd writes the buffer's data to fd and removes what was written
// (evbuffer_write). It returns the number of bytes written, which can be
// fewer than Len(), and an error that wraps the errno when the write fails.
// On a non-blocking fd that has no room it returns syscall.EAGAIN, except
// for sendfile data, for which it returns 0 and no error.
func (b *Buffer) WriteFd(fd int) (int, error) {
	return b.writeFd("evbuffer_write", fd, -1)
}

// WriteFdAtMost is WriteFd that writes at most max bytes, or as many as it
// can for max = -1 (evbuffer_write_atmost).
//
// NOTE: libevent 2.1.12 sends a sendfile chain at the front whole, so with
// such data more than max bytes can be written.
func (b *Buffer) WriteFdAtMost(fd int, max int) (int, error) {
	return b.writeFd("evbuffer_write_atmost", fd, max)
}

func (b *Buffer) writeFd(op string, fd int, max int) (int, error) {
	if fd < 0 {
		return 0, invalidError(op, "invalid descriptor %d", fd)
	}
	if max < -1 {
		return 0, invalidError(op, "negative size %d; use -1 for all the data", max)
	}
	c, err := b.enter(op)
	if err != nil {
		return 0, err
	}
	defer c.leave()
	if err := b.checkFront(op); err != nil {
		return 0, err
	}
	// evbuffer_write_atmost returns -1 without an errno when there is
	// nothing to write.
	if max == 0 || C.evbuffer_get_length(b.ptr) == 0 {
		return 0, nil
	}
	r, errno := C.evbuffer_write_atmost(b.ptr, C.evutil_socket_t(fd), C.ev_ssize_t(max))
	b.changed()
	b.forgetSendfileIfEmpty()
	rethrowSyncPanic()
	if r < 0 {
		return 0, opError(op, errno)
	}
	return int(r), nil
}
