//go:build cgo

package libevent

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// addChains adds each part with its own chain: a part added by reference
// always gets a new chain.
func addChains(t *testing.T, b *Buffer, parts ...string) {
	t.Helper()
	for _, part := range parts {
		_, err := b.AddReference([]byte(part))
		require.NoError(t, err)
	}
}

func joined(extents [][]byte) string {
	return string(bytes.Join(extents, nil))
}

func TestBufferPeek(t *testing.T) {
	b := newBuffer(t)
	extents, err := b.Peek(-1)
	require.NoError(t, err)
	assert.Empty(t, extents, "Peek of an empty buffer")

	addChains(t, b, "alpha", "beta", "gamma")
	extents, err = b.Peek(-1)
	require.NoError(t, err)
	require.Len(t, extents, 3)
	assert.Equal(t, "alpha", string(extents[0]))
	assert.Equal(t, "beta", string(extents[1]))
	assert.Equal(t, "gamma", string(extents[2]))

	extents, err = b.Peek(7)
	require.NoError(t, err)
	assert.Equal(t, []string{"alpha", "be"}, toStrings(extents), "the last extent is cut at n")
	extents, err = b.Peek(0)
	require.NoError(t, err)
	assert.Empty(t, extents)
	extents, err = b.Peek(100)
	require.NoError(t, err)
	assert.Equal(t, "alphabetagamma", joined(extents))
	assert.Equal(t, 14, b.Len(), "Peek removed data")

	// More chains than the first call's array holds.
	many := newBuffer(t)
	for i := range 20 {
		addChains(t, many, string(rune('a'+i)))
	}
	extents, err = many.Peek(-1)
	require.NoError(t, err)
	assert.Len(t, extents, 20)
	assert.Equal(t, "abcdefghijklmnopqrst", joined(extents))
}

func toStrings(extents [][]byte) []string {
	out := make([]string, len(extents))
	for i, e := range extents {
		out[i] = string(e)
	}
	return out
}

func TestBufferPeekAt(t *testing.T) {
	b := newBuffer(t)
	addChains(t, b, "alpha", "beta", "gamma")
	pos, err := b.Pos(3)
	require.NoError(t, err)
	extents, err := b.PeekAt(pos, -1)
	require.NoError(t, err)
	assert.Equal(t, []string{"ha", "beta", "gamma"}, toStrings(extents))
	extents, err = b.PeekAt(pos, 4)
	require.NoError(t, err)
	assert.Equal(t, []string{"ha", "be"}, toStrings(extents))
	extents, err = b.PeekAt(pos, 0)
	require.NoError(t, err)
	assert.Empty(t, extents)

	end, err := b.Pos(b.Len())
	require.NoError(t, err)
	extents, err = b.PeekAt(end, -1)
	require.NoError(t, err)
	assert.Empty(t, extents, "PeekAt from the end")
}

func TestBufferPullup(t *testing.T) {
	b := newBuffer(t)
	data, err := b.Pullup(-1)
	require.NoError(t, err)
	assert.Empty(t, data, "Pullup of an empty buffer")

	addChains(t, b, "alpha", "beta", "gamma")
	assert.Equal(t, 5, b.ContiguousSpace())
	data, err = b.Pullup(3)
	require.NoError(t, err)
	assert.Equal(t, "alp", string(data))
	assert.Equal(t, 3, chainCount(t, b), "Pullup within the first chain must not copy")

	data, err = b.Pullup(7)
	require.NoError(t, err)
	assert.Equal(t, "alphabe", string(data))
	assert.GreaterOrEqual(t, b.ContiguousSpace(), 7)

	data, err = b.Pullup(-1)
	require.NoError(t, err)
	assert.Equal(t, "alphabetagamma", string(data))
	assert.Equal(t, 1, chainCount(t, b))
	assert.Equal(t, "alphabetagamma", string(contents(t, b)))
}

func TestBufferReserveAndCommit(t *testing.T) {
	b := newBuffer(t)
	require.NoError(t, b.AddString("head:"))
	space, err := b.Reserve(3000)
	require.NoError(t, err)
	require.NotEmpty(t, space)
	require.LessOrEqual(t, len(space), 2)
	total := 0
	for _, s := range space {
		total += len(s)
	}
	require.GreaterOrEqual(t, total, 3000)
	assert.Equal(t, 5, b.Len(), "reserved space is not data yet")

	// Fill 3000 bytes across the extents and commit them.
	payload := bytes.Repeat([]byte("0123456789"), 300)
	left := payload
	for _, s := range space {
		left = left[copy(s, left):]
	}
	require.NoError(t, b.Commit(3000))
	assert.Equal(t, append([]byte("head:"), payload...), contents(t, b))

	assert.ErrorIs(t, b.Commit(0), ErrInvalid, "a reservation commits once")
}

func TestBufferCommitPartOfReservation(t *testing.T) {
	b := newBuffer(t)
	space, err := b.Reserve(100)
	require.NoError(t, err)
	copy(space[0], "partial")
	require.NoError(t, b.Commit(7))
	assert.Equal(t, "partial", string(contents(t, b)))

	space, err = b.Reserve(10)
	require.NoError(t, err)
	reserved := 0
	for _, s := range space {
		reserved += len(s)
	}
	assert.ErrorIs(t, b.Commit(reserved+1), ErrInvalid, "commit of more than was reserved")
	require.NoError(t, b.Commit(0), "the reservation survives a rejected Commit")
	assert.Equal(t, "partial", string(contents(t, b)))
}

// TestBufferZeroReserve covers the case that makes libevent 2.1.12 assert
// with two extents: a zero-size reservation when the last chain is full.
func TestBufferZeroReserve(t *testing.T) {
	b := newBuffer(t)
	space, err := b.Reserve(0)
	require.NoError(t, err)
	require.NoError(t, b.Commit(0))
	assert.Equal(t, 0, b.Len())

	// Fill the last chain exactly.
	space, err = b.Reserve(1)
	require.NoError(t, err)
	n := 0
	for _, s := range space {
		for i := range s {
			s[i] = 'f'
		}
		n += len(s)
	}
	require.NoError(t, b.Commit(n))
	_, err = b.Reserve(0)
	require.NoError(t, err)
	require.NoError(t, b.Commit(0))

	// And after data added by reference, which is never writable.
	addChains(t, b, "ref")
	space, err = b.Reserve(0)
	require.NoError(t, err)
	if len(space) > 0 && len(space[0]) > 0 {
		space[0][0] = '!'
		require.NoError(t, b.Commit(1))
		n++
	} else {
		require.NoError(t, b.Commit(0))
	}
	assert.Equal(t, n+3, b.Len())
}

func TestBufferReservationCancelledByChange(t *testing.T) {
	b := newBuffer(t)
	_, err := b.Reserve(10)
	require.NoError(t, err)
	require.NoError(t, b.AddString("x"))
	assert.ErrorIs(t, b.Commit(1), ErrInvalid)
	assert.Equal(t, "x", string(contents(t, b)))

	other := newBuffer(t)
	require.NoError(t, other.AddString("y"))
	_, err = b.Reserve(10)
	require.NoError(t, err)
	require.NoError(t, b.AddBuffer(other))
	assert.ErrorIs(t, b.Commit(1), ErrInvalid, "AddBuffer cancels the destination's reservation")
	// Moving the source's chains moves its reserved space too.
	require.NoError(t, other.AddString("z"))
	_, err = other.Reserve(10)
	require.NoError(t, err)
	require.NoError(t, b.AddBuffer(other))
	assert.ErrorIs(t, other.Commit(0), ErrInvalid, "AddBuffer cancels the source's reservation")

	// Calls that change nothing leave the reservation alone.
	space, err := b.Reserve(1)
	require.NoError(t, err)
	space[0][0] = '!'
	require.NoError(t, b.AddBuffer(other), "moving an empty buffer")
	require.NoError(t, b.Add(nil))
	n, err := other.RemoveBuffer(b, 5)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	require.NoError(t, other.Drain(3))
	require.NoError(t, b.Commit(1))
	assert.Equal(t, "xyz!", string(contents(t, b)))
}

func TestBufferPositions(t *testing.T) {
	b := newBuffer(t)
	addChains(t, b, "alpha", "beta", "gamma")
	start, err := b.Pos(0)
	require.NoError(t, err)
	assert.Equal(t, 0, start.Offset())
	assert.True(t, start.Found())

	next, err := b.AdvancePos(start, 6)
	require.NoError(t, err)
	assert.Equal(t, 6, next.Offset())
	assert.Equal(t, 0, start.Offset(), "AdvancePos changed its argument")
	p := make([]byte, 5)
	n, err := b.CopyOutFrom(next, p)
	require.NoError(t, err)
	assert.Equal(t, "etaga", string(p[:n]))

	end, err := b.AdvancePos(next, 8)
	require.NoError(t, err)
	assert.Equal(t, 14, end.Offset())
	n, err = b.CopyOutFrom(end, p)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "CopyOutFrom at the end")

	// Every change makes the positions stale.
	require.NoError(t, b.AddString("!"))
	_, err = b.CopyOutFrom(next, p)
	assert.ErrorIs(t, err, ErrInvalid, "a position survived Add")
	fresh, err := b.Pos(6)
	require.NoError(t, err)
	_, err = b.Pullup(-1)
	require.NoError(t, err)
	_, err = b.AdvancePos(fresh, 1)
	assert.ErrorIs(t, err, ErrInvalid, "a position survived Pullup")
}

func TestBufferSearch(t *testing.T) {
	b := newBuffer(t)
	// The needle "needle" is split across chains at its first
	// occurrence.
	addChains(t, b, "hay nee", "dle hay ", "needle", " end")

	found, err := b.Search([]byte("needle"))
	require.NoError(t, err)
	assert.True(t, found.Found())
	assert.Equal(t, 4, found.Offset())

	after, err := b.AdvancePos(found, 1)
	require.NoError(t, err)
	second, err := b.SearchFrom([]byte("needle"), after)
	require.NoError(t, err)
	assert.Equal(t, 15, second.Offset())

	again, err := b.SearchFrom([]byte("needle"), second)
	require.NoError(t, err)
	assert.Equal(t, 15, again.Offset(), "a search from a match finds that match")

	missing, err := b.Search([]byte("pin"))
	require.NoError(t, err)
	assert.False(t, missing.Found())
	assert.Equal(t, -1, missing.Offset())

	empty, err := b.Search(nil)
	require.NoError(t, err)
	assert.Equal(t, 0, empty.Offset(), "an empty needle is found at the front")

	end, err := b.Pos(b.Len())
	require.NoError(t, err)
	atEnd, err := b.SearchFrom([]byte("end"), end)
	require.NoError(t, err)
	assert.False(t, atEnd.Found())
}

func TestBufferSearchRange(t *testing.T) {
	b := newBuffer(t)
	addChains(t, b, "abc", "xyzab", "cxyz")
	start, err := b.Pos(1)
	require.NoError(t, err)
	// The data is "abcxyzabcxyz", where "abc" occurs at 0 and 6. A match
	// must start at or after 1 and end at or before the range's end.
	cases := []struct {
		end  int
		want int
	}{
		{1, -1}, // empty range
		{2, -1}, // end inside the first chain
		{4, -1}, // end inside the second chain, before the match
		{8, -1}, // the match at 6 ends at 9, after the range
		{9, 6},  // the match ends exactly at the range's end
		{11, 6}, // end inside the last chain
		{12, 6}, // the end of the buffer
	}
	for _, c := range cases {
		end, err := b.Pos(c.end)
		require.NoError(t, err)
		found, err := b.SearchRange([]byte("abc"), start, end)
		require.NoError(t, err)
		assert.Equal(t, c.want, found.Offset(), "range [1, %d)", c.end)
	}
}

func TestBufferSearchEOL(t *testing.T) {
	b := newBuffer(t)
	addChains(t, b, "one\r", "\ntwo\n", "three\r\n\r\nfour\x00")
	cases := []struct {
		style  EOLStyle
		offset int
		length int
	}{
		{EOLAny, 3, 2},
		{EOLCRLF, 3, 2},
		{EOLCRLFStrict, 3, 2},
		{EOLLF, 4, 1},
		{EOLNUL, 22, 1},
	}
	for _, c := range cases {
		pos, eolLen, err := b.SearchEOL(c.style)
		require.NoError(t, err, c.style)
		assert.Equal(t, c.offset, pos.Offset(), c.style)
		assert.Equal(t, c.length, eolLen, c.style)
	}

	from, err := b.Pos(5)
	require.NoError(t, err)
	pos, eolLen, err := b.SearchEOLFrom(from, EOLAny)
	require.NoError(t, err)
	assert.Equal(t, 8, pos.Offset())
	assert.Equal(t, 1, eolLen)
	pos, eolLen, err = b.SearchEOLFrom(pos, EOLCRLFStrict)
	require.NoError(t, err)
	assert.Equal(t, 14, pos.Offset())
	assert.Equal(t, 2, eolLen)

	plain := newBuffer(t)
	require.NoError(t, plain.AddString("no end of line"))
	pos, eolLen, err = plain.SearchEOL(EOLAny)
	require.NoError(t, err)
	assert.False(t, pos.Found())
	assert.Equal(t, 0, eolLen)
}

func TestBufferReadLine(t *testing.T) {
	input := "a\r\nb\nc\rd\n\re\r\r\nf\x00g\n"
	cases := []struct {
		style EOLStyle
		lines []string
		rest  string
	}{
		{EOLAny, []string{"a", "b", "c", "d", "e", "f\x00g"}, ""},
		{EOLCRLF, []string{"a", "b", "c\rd", "\re\r", "f\x00g"}, ""},
		{EOLCRLFStrict, []string{"a", "b\nc\rd\n\re\r"}, "f\x00g\n"},
		{EOLLF, []string{"a\r", "b", "c\rd", "\re\r\r", "f\x00g"}, ""},
		{EOLNUL, []string{"a\r\nb\nc\rd\n\re\r\r\nf"}, "g\n"},
	}
	for _, c := range cases {
		t.Run(c.style.String(), func(t *testing.T) {
			b := newBuffer(t)
			// One byte per chain puts every end of line across chains.
			for i := range len(input) {
				addChains(t, b, input[i:i+1])
			}
			var lines []string
			for {
				line, err := b.ReadLine(c.style)
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				require.NotNil(t, line)
				lines = append(lines, string(line))
			}
			assert.Equal(t, c.lines, lines)
			assert.Equal(t, c.rest, string(contents(t, b)))
		})
	}

	b := newBuffer(t)
	require.NoError(t, b.AddString("\nx"))
	line, err := b.ReadLine(EOLLF)
	require.NoError(t, err)
	assert.NotNil(t, line, "an empty line is a non-nil slice")
	assert.Empty(t, line)
	line, err = b.ReadLine(EOLLF)
	assert.Same(t, io.EOF, err)
	assert.Nil(t, line)
	assert.Equal(t, "x", string(contents(t, b)), "ReadLine without a line changed the buffer")
}

func TestEOLStyleString(t *testing.T) {
	assert.Equal(t, "EOLCRLFStrict", EOLCRLFStrict.String())
	assert.Equal(t, "EOLStyle(7)", EOLStyle(7).String())
}
