//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"unsafe"
)

// Peek returns slices over the buffer's C memory that hold its first n
// bytes, or all of them for n = -1, without copying or removing anything
// (evbuffer_peek). The slices together contain min(n, Len()) bytes, one
// slice for each chain of memory they span.
//
// The slices are valid only until the buffer next changes: any call that
// adds, removes, moves or reorganizes data (including Pullup, Reserve and
// Expand), and a Close, can free the memory under them. They must not be
// written to, because they can point to read-only memory such as a mapped
// file, or to Go memory added with AddReference.
func (b *Buffer) Peek(n int) ([][]byte, error) {
	return b.peek("evbuffer_peek", nil, n)
}

// PeekAt is Peek from position pos instead of the front.
func (b *Buffer) PeekAt(pos BufferPos, n int) ([][]byte, error) {
	return b.peek("evbuffer_peek", &pos, n)
}

func (b *Buffer) peek(op string, pos *BufferPos, n int) ([][]byte, error) {
	if n < -1 {
		return nil, invalidError(op, "negative size %d; use -1 for all the data", n)
	}
	c, err := b.enter(op)
	if err != nil {
		return nil, err
	}
	defer c.leave()
	if err := b.checkReadable(op); err != nil {
		return nil, err
	}
	var start *C.struct_evbuffer_ptr
	startOffset := 0
	if pos != nil {
		if err := b.checkPos(op, *pos); err != nil {
			return nil, err
		}
		p := pos.ptr
		start = &p
		startOffset = int(p.pos)
	}
	available := int(C.evbuffer_get_length(b.ptr)) - startOffset
	if n == -1 || n > available {
		n = available
	}
	if n <= 0 {
		return nil, nil
	}

	// With a length, evbuffer_peek returns how many extents the data
	// needs even when vecs is too short, so a second call gets them all.
	var small [8]C.struct_iovec
	vecs := small[:]
	count := int(C.evbuffer_peek(b.ptr, C.ev_ssize_t(n), start, &vecs[0], C.int(len(vecs))))
	if count > len(vecs) {
		vecs = make([]C.struct_iovec, count)
		count = int(C.evbuffer_peek(b.ptr, C.ev_ssize_t(n), start, &vecs[0], C.int(len(vecs))))
	}
	// The last extent can reach past n, and the first one of a peek
	// from a position is returned even when n is zero.
	out := make([][]byte, 0, count)
	left := n
	for _, v := range vecs[:min(count, len(vecs))] {
		size := min(int(v.iov_len), left)
		if size == 0 {
			continue
		}
		out = append(out, unsafe.Slice((*byte)(v.iov_base), size))
		left -= size
		if left == 0 {
			break
		}
	}
	return out, nil
}

// Pullup makes the first n bytes of the buffer contiguous, or all of them
// for n = -1, and returns a slice over them (evbuffer_pullup). Data that is
// already contiguous is not copied; see ContiguousSpace. It fails if the
// buffer contains fewer than n bytes.
//
// The slice is valid only until the buffer next changes, as for Peek, and
// must not be written to.
func (b *Buffer) Pullup(n int) ([]byte, error) {
	const op = "evbuffer_pullup"
	if n < -1 {
		return nil, invalidError(op, "negative size %d; use -1 for all the data", n)
	}
	c, err := b.enter(op)
	if err != nil {
		return nil, err
	}
	defer c.leave()
	if err := b.checkReadable(op); err != nil {
		return nil, err
	}
	length := int(C.evbuffer_get_length(b.ptr))
	if n == -1 {
		n = length
	}
	if n > length {
		return nil, invalidError(op, "cannot pull up %d bytes: the buffer contains %d", n, length)
	}
	if n == 0 {
		return nil, nil
	}
	p, errno := C.evbuffer_pullup(b.ptr, C.ev_ssize_t(n))
	b.changed()
	if p == nil {
		return nil, opError(op, errno)
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), n), nil
}

// reservation is the space that Reserve handed out, kept for Commit. It
// contains only C pointers.
type reservation struct {
	active bool
	vecs   [2]C.struct_iovec
	count  int
	total  int
	// changes is the buffer's change count after Reserve; any later
	// change makes the reservation stale.
	changes uint64
}

// Reserve makes at least n bytes of space writable at the back of the buffer
// and returns it as slices over C memory (evbuffer_reserve_space). The space
// can be larger than n and is split over at most two slices. Write into
// them in order, then call Commit with the number of bytes written; until
// then the bytes are not part of the buffer.
//
// The slices are valid until Commit or until the buffer changes in any other
// way, which also cancels the reservation. Reserve(0) reserves the free
// space of one chain, possibly none.
func (b *Buffer) Reserve(n int) ([][]byte, error) {
	const op = "evbuffer_reserve_space"
	if n < 0 {
		return nil, invalidError(op, "negative size %d", n)
	}
	c, err := b.enter(op)
	if err != nil {
		return nil, err
	}
	defer c.leave()
	if err := b.checkBack(op); err != nil {
		return nil, err
	}

	// Two extents are more efficient, but libevent 2.1.12 asserts in
	// evbuffer_read_setup_vecs_ on a zero-size reservation with two
	// extents when the last chain is full, so n = 0 requests one.
	res := reservation{active: true}
	nvecs := 2
	if n == 0 {
		nvecs = 1
	}
	r, errno := C.evbuffer_reserve_space(b.ptr, C.ev_ssize_t(n), &res.vecs[0], C.int(nvecs))
	res.changes = b.changed()
	if r < 0 {
		return nil, opError(op, errno)
	}
	res.count = int(r)
	out := make([][]byte, 0, res.count)
	for _, v := range res.vecs[:res.count] {
		res.total += int(v.iov_len)
		if v.iov_len > 0 {
			out = append(out, unsafe.Slice((*byte)(v.iov_base), int(v.iov_len)))
		}
	}
	b.mu.Lock()
	b.reservation = res
	b.mu.Unlock()
	return out, nil
}

// Commit adds the first n bytes of the space that Reserve returned to the
// buffer (evbuffer_commit_space) and ends the reservation. n may be less
// than the space reserved, and 0 ends the reservation without adding
// anything. Commit fails if nothing is reserved, if n exceeds the
// reservation, or if the buffer changed since Reserve.
func (b *Buffer) Commit(n int) error {
	const op = "evbuffer_commit_space"
	if n < 0 {
		return invalidError(op, "negative size %d", n)
	}
	c, err := b.enter(op)
	if err != nil {
		return err
	}
	defer c.leave()
	if err := b.checkBack(op); err != nil {
		return err
	}

	b.mu.Lock()
	res := b.reservation
	switch {
	case !res.active:
		b.mu.Unlock()
		return invalidError(op, "no space is reserved; call Reserve first")
	case res.changes != b.changeCount():
		b.reservation = reservation{}
		b.mu.Unlock()
		return invalidError(op, "the buffer changed after Reserve, which cancelled the reservation; reserve again")
	case n > res.total:
		b.mu.Unlock()
		return invalidError(op, "%d bytes committed but only %d were reserved", n, res.total)
	}
	b.reservation = reservation{}
	b.mu.Unlock()
	if n == 0 {
		return nil
	}

	// Each extent is committed in full until the last one needed, which
	// gets the rest; libevent checks the pointers against its chains.
	left := n
	used := 0
	for i := range res.vecs[:res.count] {
		size := min(int(res.vecs[i].iov_len), left)
		res.vecs[i].iov_len = C.size_t(size)
		left -= size
		used = i + 1
		if left == 0 {
			break
		}
	}
	r, errno := C.evbuffer_commit_space(b.ptr, &res.vecs[0], C.int(used))
	b.changed()
	rethrowSyncPanic()
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}
