//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"fmt"
	"io"
	"unsafe"
)

// BufferPos is a position in a Buffer (struct evbuffer_ptr): an offset from
// the front together with libevent's reference to the chain of memory that
// contains it, so that searches can continue from it without walking the
// chains again. Positions come from [Buffer.Pos], [Buffer.AdvancePos] and
// the search methods. A position can be the end of the buffer.
//
// A position is valid only until the buffer next changes, because the
// change can free the chain it refers to. The methods that take a position
// check this and fail with an error that matches ErrInvalid for a stale one,
// or for a position of another buffer.
type BufferPos struct {
	ptr C.struct_evbuffer_ptr
	buf *Buffer
	// changes is the buffer's change count when the position was made.
	changes uint64
}

// Offset returns the position's offset from the front of the buffer, or -1
// for the zero BufferPos and for the result of a search that found nothing.
func (p BufferPos) Offset() int {
	if p.buf == nil {
		return -1
	}
	return int(p.ptr.pos)
}

// Found reports whether the position is a real one, not the zero BufferPos
// or the result of a search that found nothing.
func (p BufferPos) Found() bool {
	return p.Offset() >= 0
}

// checkPos fails unless pos is a current position of b. The caller holds b.
func (b *Buffer) checkPos(op string, pos BufferPos) error {
	switch {
	case pos.buf == nil || pos.ptr.pos < 0:
		return invalidError(op, "the position was not found or not made by this package")
	case pos.buf != b:
		return invalidError(op, "the position belongs to another Buffer")
	case pos.changes != b.changeCount():
		return invalidError(op, "the position at offset %d is stale: the buffer changed after it was made", int(pos.ptr.pos))
	}
	return nil
}

// Pos returns the position offset bytes from the front of the buffer
// (evbuffer_ptr_set with EVBUFFER_PTR_SET). offset may be Len(), the end.
func (b *Buffer) Pos(offset int) (BufferPos, error) {
	const op = "evbuffer_ptr_set"
	if offset < 0 {
		return BufferPos{}, invalidError(op, "negative offset %d", offset)
	}
	c, err := b.enter(op)
	if err != nil {
		return BufferPos{}, err
	}
	defer c.leave()
	pos := BufferPos{buf: b, changes: b.changeCount()}
	if C.evbuffer_ptr_set(b.ptr, &pos.ptr, C.size_t(offset), C.EVBUFFER_PTR_SET) != 0 {
		return BufferPos{}, invalidError(op, "offset %d is past the end of the buffer (length %d)", offset, int(C.evbuffer_get_length(b.ptr)))
	}
	return pos, nil
}

// AdvancePos returns the position n bytes after pos (evbuffer_ptr_set with
// EVBUFFER_PTR_ADD). The result may be the end of the buffer but not past
// it.
func (b *Buffer) AdvancePos(pos BufferPos, n int) (BufferPos, error) {
	const op = "evbuffer_ptr_set"
	if n < 0 {
		return BufferPos{}, invalidError(op, "negative distance %d", n)
	}
	c, err := b.enter(op)
	if err != nil {
		return BufferPos{}, err
	}
	defer c.leave()
	if err := b.checkPos(op, pos); err != nil {
		return BufferPos{}, err
	}
	next := pos
	if C.evbuffer_ptr_set(b.ptr, &next.ptr, C.size_t(n), C.EVBUFFER_PTR_ADD) != 0 {
		return BufferPos{}, invalidError(op, "offset %d + %d is past the end of the buffer (length %d)",
			int(pos.ptr.pos), n, int(C.evbuffer_get_length(b.ptr)))
	}
	return next, nil
}

// CopyOutFrom copies up to len(p) bytes starting at pos into p and returns
// how many it copied, leaving the buffer unchanged (evbuffer_copyout_from).
// libevent rejects it while the front is frozen.
func (b *Buffer) CopyOutFrom(pos BufferPos, p []byte) (int, error) {
	const op = "evbuffer_copyout_from"
	c, err := b.enter(op)
	if err != nil {
		return 0, err
	}
	defer c.leave()
	if err := b.checkPos(op, pos); err != nil {
		return 0, err
	}
	if err := b.checkFront(op); err != nil {
		return 0, err
	}
	if err := b.checkReadable(op); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	start := pos.ptr
	r, errno := C.evbuffer_copyout_from(b.ptr, &start, unsafe.Pointer(&p[0]), C.size_t(len(p)))
	if r < 0 {
		return 0, opError(op, errno)
	}
	return int(r), nil
}

// Search returns the position of the first occurrence of needle in the
// buffer (evbuffer_search). If needle does not occur, the position's Found
// is false and its Offset -1. An empty needle is found at the front.
func (b *Buffer) Search(needle []byte) (BufferPos, error) {
	return b.search("evbuffer_search", needle, nil, nil)
}

// SearchFrom is Search that starts at start (evbuffer_search with a start
// position).
func (b *Buffer) SearchFrom(needle []byte, start BufferPos) (BufferPos, error) {
	return b.search("evbuffer_search", needle, &start, nil)
}

// SearchRange returns the position of the first occurrence of needle that
// starts at or after start and ends at or before end
// (evbuffer_search_range).
func (b *Buffer) SearchRange(needle []byte, start, end BufferPos) (BufferPos, error) {
	return b.search("evbuffer_search_range", needle, &start, &end)
}

func (b *Buffer) search(op string, needle []byte, start, end *BufferPos) (BufferPos, error) {
	c, err := b.enter(op)
	if err != nil {
		return BufferPos{}, err
	}
	defer c.leave()
	if err := b.checkReadable(op); err != nil {
		return BufferPos{}, err
	}

	var startPtr, endPtr *C.struct_evbuffer_ptr
	if start != nil {
		if err := b.checkPos(op, *start); err != nil {
			return BufferPos{}, err
		}
		p := start.ptr
		startPtr = &p
	}
	if end != nil {
		if err := b.checkPos(op, *end); err != nil {
			return BufferPos{}, err
		}
		if end.ptr.pos < start.ptr.pos {
			return BufferPos{}, invalidError(op, "end offset %d is before start offset %d", int(end.ptr.pos), int(start.ptr.pos))
		}
		p := end.ptr
		endPtr = &p
	}
	var needlePtr *C.char
	if len(needle) > 0 {
		needlePtr = (*C.char)(unsafe.Pointer(&needle[0]))
	}

	changes := b.changeCount()
	found := C.evbuffer_search_range(b.ptr, needlePtr, C.size_t(len(needle)), startPtr, endPtr)
	return BufferPos{ptr: found, buf: b, changes: changes}, nil
}

// EOLStyle selects what ends a line for [Buffer.ReadLine] and
// [Buffer.SearchEOL] (enum evbuffer_eol_style).
type EOLStyle int

const (
	// EOLAny ends a line at any run of CR and LF characters. A CR LF
	// that arrives in two parts, with a read in between, ends two lines.
	EOLAny EOLStyle = 0
	// EOLCRLF ends a line at an LF, optionally preceded by a CR, as most
	// text-based Internet protocols do.
	EOLCRLF EOLStyle = 1
	// EOLCRLFStrict ends a line at a CR followed by an LF.
	EOLCRLFStrict EOLStyle = 2
	// EOLLF ends a line at an LF.
	EOLLF EOLStyle = 3
	// EOLNUL ends a line at a NUL byte.
	EOLNUL EOLStyle = 4
)

func (s EOLStyle) String() string {
	switch s {
	case EOLAny:
		return "EOLAny"
	case EOLCRLF:
		return "EOLCRLF"
	case EOLCRLFStrict:
		return "EOLCRLFStrict"
	case EOLLF:
		return "EOLLF"
	case EOLNUL:
		return "EOLNUL"
	}
	return fmt.Sprintf("EOLStyle(%d)", int(s))
}

func checkEOLStyle(op string, style EOLStyle) error {
	if style < EOLAny || style > EOLNUL {
		return invalidError(op, "unknown end-of-line style %v", style)
	}
	return nil
}

// SearchEOL returns the position of the first end of line in the buffer and
// the length of the end-of-line sequence (evbuffer_search_eol). If there is
// none, the position's Found is false.
func (b *Buffer) SearchEOL(style EOLStyle) (BufferPos, int, error) {
	return b.searchEOL(nil, style)
}

// SearchEOLFrom is SearchEOL that starts at start.
func (b *Buffer) SearchEOLFrom(start BufferPos, style EOLStyle) (BufferPos, int, error) {
	return b.searchEOL(&start, style)
}

func (b *Buffer) searchEOL(start *BufferPos, style EOLStyle) (BufferPos, int, error) {
	const op = "evbuffer_search_eol"
	if err := checkEOLStyle(op, style); err != nil {
		return BufferPos{}, 0, err
	}
	c, err := b.enter(op)
	if err != nil {
		return BufferPos{}, 0, err
	}
	defer c.leave()
	if err := b.checkReadable(op); err != nil {
		return BufferPos{}, 0, err
	}
	var startPtr *C.struct_evbuffer_ptr
	if start != nil {
		if err := b.checkPos(op, *start); err != nil {
			return BufferPos{}, 0, err
		}
		p := start.ptr
		startPtr = &p
	}
	var eolLen C.size_t
	changes := b.changeCount()
	found := C.evbuffer_search_eol(b.ptr, startPtr, &eolLen, C.enum_evbuffer_eol_style(style))
	if found.pos < 0 {
		eolLen = 0
	}
	return BufferPos{ptr: found, buf: b, changes: changes}, int(eolLen), nil
}

// ReadLine removes the first line from the buffer and returns it without its
// end-of-line sequence (evbuffer_readln). If the buffer contains no complete
// line, ReadLine returns io.EOF and leaves the buffer unchanged. An empty
// line is an empty, non-nil slice.
func (b *Buffer) ReadLine(style EOLStyle) ([]byte, error) {
	const op = "evbuffer_readln"
	if err := checkEOLStyle(op, style); err != nil {
		return nil, err
	}
	c, err := b.enter(op)
	if err != nil {
		return nil, err
	}
	defer c.leave()
	if err := b.checkFront(op); err != nil {
		return nil, err
	}
	if err := b.checkReadable(op); err != nil {
		return nil, err
	}

	var n C.size_t
	text := C.evbuffer_readln(b.ptr, &n, C.enum_evbuffer_eol_style(style))
	var line []byte
	if text != nil {
		line = make([]byte, int(n))
		copy(line, unsafe.Slice((*byte)(unsafe.Pointer(text)), int(n)))
		C.free(unsafe.Pointer(text))
		b.changed()
	}
	rethrowSyncPanic()
	if text == nil {
		return nil, io.EOF
	}
	return line, nil
}
