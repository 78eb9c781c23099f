//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"io"
)

// AddBuffer moves all the data of src to the back of b without copying it
// (evbuffer_add_buffer). src is left empty.
func (b *Buffer) AddBuffer(src *Buffer) error {
	const op = "evbuffer_add_buffer"
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	sc, err := b.enterOther(op, src, "source")
	if err != nil {
		return err
	}
	defer sc.leave()

	if err := b.checkBack(op); err != nil {
		return err
	}
	if err := src.checkFront(op); err != nil {
		return err
	}
	if C.evbuffer_get_length(src.ptr) == 0 {
		return nil
	}
	if src.sendfileData.Load() {
		b.sendfileData.Store(true)
	}

	r, errno := C.evbuffer_add_buffer(b.ptr, src.ptr)
	b.changed()
	src.changed()
	src.forgetSendfileIfEmpty()
	rethrowSyncPanic()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// PrependBuffer moves all the data of src to the front of b without copying
// it (evbuffer_prepend_buffer). src is left empty.
func (b *Buffer) PrependBuffer(src *Buffer) error {
	const op = "evbuffer_prepend_buffer"
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	sc, err := b.enterOther(op, src, "source")
	if err != nil {
		return err
	}
	defer sc.leave()

	if err := b.checkFront(op); err != nil {
		return err
	}
	if err := src.checkFront(op); err != nil {
		return err
	}
	if C.evbuffer_get_length(src.ptr) == 0 {
		return nil
	}
	if src.sendfileData.Load() {
		b.sendfileData.Store(true)
	}

	r, errno := C.evbuffer_prepend_buffer(b.ptr, src.ptr)
	b.changed()
	src.changed()
	src.forgetSendfileIfEmpty()
	rethrowSyncPanic()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// RemoveBuffer moves up to n bytes from the front of b to the back of dst
// and returns how many it moved (evbuffer_remove_buffer). Whole chains of C
// memory move without a copy; only a chain that is split is copied.
func (b *Buffer) RemoveBuffer(dst *Buffer, n int) (int, error) {
	const op = "evbuffer_remove_buffer"
	if n < 0 {
		return 0, invalidError(op, "negative size %d", n)
	}
	c, err := b.enter(op)
	if err != nil {
		return 0, err
	}
	defer c.leave()
	dc, err := b.enterOther(op, dst, "destination")
	if err != nil {
		return 0, err
	}
	defer dc.leave()

	if err := b.checkFront(op); err != nil {
		return 0, err
	}
	if err := dst.checkBack(op); err != nil {
		return 0, err
	}
	if b.sendfileData.Load() {
		// Moving everything moves whole chains; a split chain would be
		// copied from memory that sendfile chains do not have.
		if n < int(C.evbuffer_get_length(b.ptr)) {
			if err := b.checkReadable(op); err != nil {
				return 0, err
			}
		}
		dst.sendfileData.Store(true)
	}
	if n == 0 {
		return 0, nil
	}

	r, errno := C.evbuffer_remove_buffer(b.ptr, dst.ptr, C.size_t(min(n, maxChunk)))
	if r > 0 {
		b.changed()
		dst.changed()
	}
	b.forgetSendfileIfEmpty()
	rethrowSyncPanic()
	if r < 0 {
		return 0, opError(op, errno)
	}
	return int(r), nil
}

// ReadFrom appends the data that r returns until io.EOF. It implements
// [io.ReaderFrom]. A *Buffer source is moved with AddBuffer, without a copy.
func (b *Buffer) ReadFrom(r io.Reader) (int64, error) {
	if r == nil {
		return 0, invalidError("evbuffer_add", "nil reader")
	}
	if src, ok := r.(*Buffer); ok {
		n := src.Len()
		if err := b.AddBuffer(src); err != nil {
			return 0, err
		}
		return int64(n), nil
	}
	// The data goes through Go memory: a reader that changed this buffer
	// while writing into reserved C memory could free that memory.
	scratch := make([]byte, copyChunk)
	var total int64
	for {
		n, err := r.Read(scratch)
		if n < 0 || n > len(scratch) {
			return total, invalidError("evbuffer_add", "reader returned invalid count %d", n)
		}
		if n > 0 {
			if addErr := b.Add(scratch[:n]); addErr != nil {
				return total, addErr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// WriteTo writes the buffer's data to w and removes what w accepted, until
// the buffer is empty or w fails. It implements [io.WriterTo]. A *Buffer
// destination gets the data with AddBuffer, without a copy.
func (b *Buffer) WriteTo(w io.Writer) (int64, error) {
	if w == nil {
		return 0, invalidError("evbuffer_copyout", "nil writer")
	}
	if dst, ok := w.(*Buffer); ok {
		n := b.Len()
		if err := dst.AddBuffer(b); err != nil {
			return 0, err
		}
		return int64(n), nil
	}
	// Each chunk is copied out first, because w may change this buffer
	// (directly or through a callback), which would free C memory that
	// a slice from Peek pointed to.
	scratch := make([]byte, copyChunk)
	var total int64
	for {
		n, err := b.CopyOut(scratch)
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, nil
		}
		m, werr := w.Write(scratch[:n])
		if m < 0 || m > n {
			return total, invalidError("evbuffer_drain", "writer returned invalid count %d for %d bytes", m, n)
		}
		if m > 0 {
			if err := b.Drain(m); err != nil {
				return total, err
			}
			total += int64(m)
		}
		if werr != nil {
			return total, werr
		}
		if m < n {
			return total, io.ErrShortWrite
		}
	}
}
