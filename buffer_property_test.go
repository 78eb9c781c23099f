//go:build cgo

package libevent

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The property test runs sequences of operations on two Buffers and checks
// every result against a model that keeps each buffer's data in a Go byte
// slice. A sequence is a byte string: each operation reads an opcode and its
// arguments from it, so that the fuzzer can produce sequences too.

// propertySeeds are the seeds of the random sequences that
// TestBufferMatchesModel runs and that seed FuzzBuffer.
var propertySeeds = []uint64{1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597}

// propertyOps is the number of operations in a generated sequence.
const propertyOps = 400

// opStream hands out the bytes of a sequence; past its end it returns
// zeros.
type opStream struct {
	data []byte
	next int
}

func (s *opStream) more() bool { return s.next < len(s.data) }

func (s *opStream) byte() byte {
	if s.next >= len(s.data) {
		return 0
	}
	b := s.data[s.next]
	s.next++
	return b
}

// size returns a length that is usually small and sometimes a few thousand
// bytes, so that data spans several chains.
func (s *opStream) size() int {
	b := s.byte()
	if b >= 248 {
		return int(b-247) * 700
	}
	return int(b % 40)
}

// alphabet contains the bytes that generated data is made of: few enough
// for searches to match, and every end-of-line character.
const alphabet = "ab\r\n\x00c"

// text returns n bytes of generated data.
func (s *opStream) text(n int) []byte {
	seed := s.byte()
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[(int(seed)+i*int(seed|1)+i/3)%len(alphabet)]
	}
	return out
}

// generateOps returns a random sequence for seed.
func generateOps(seed uint64, ops int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]byte, 0, ops*4)
	for range ops {
		out = append(out, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)))
	}
	return out
}

// modelBuffer is one Buffer under test and the data the model expects in
// it.
type modelBuffer struct {
	buf  *Buffer
	data []byte
	// reserved is the data written into space that Reserve returned,
	// waiting for Commit. untouched means no call has used the buffer
	// since then; changed means a call changed its data since then.
	reserved  []byte
	pending   bool
	untouched bool
	changed   bool
}

// touch records a call that changed the buffer or could have moved its
// memory. changed reports whether the call changed the data. Calls that do
// nothing must not touch the buffer: they leave a reservation valid.
func (m *modelBuffer) touch(changed bool) {
	m.untouched = false
	if changed {
		m.changed = true
	}
}

// modelLine returns where the first line of data ends in style: the line's
// length and the length of its end-of-line sequence, as evbuffer_readln
// finds them.
func modelLine(data []byte, style EOLStyle) (lineLen, eolLen int, ok bool) {
	switch style {
	case EOLAny:
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			return 0, 0, false
		}
		n := 0
		for i+n < len(data) && (data[i+n] == '\r' || data[i+n] == '\n') {
			n++
		}
		return i, n, true
	case EOLCRLF:
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return 0, 0, false
		}
		if i > 0 && data[i-1] == '\r' {
			return i - 1, 2, true
		}
		return i, 1, true
	case EOLCRLFStrict:
		i := bytes.Index(data, []byte("\r\n"))
		return i, 2, i >= 0
	case EOLLF:
		i := bytes.IndexByte(data, '\n')
		return i, 1, i >= 0
	default:
		i := bytes.IndexByte(data, 0)
		return i, 1, i >= 0
	}
}

// runBufferOps runs the sequence ops on two new Buffers and compares every
// result with the model.
func runBufferOps(t *testing.T, ops []byte) {
	before := handles.count.Load()
	var releases []<-chan struct{}
	pair := [2]*modelBuffer{}
	for i := range pair {
		b, err := NewBuffer()
		require.NoError(t, err)
		pair[i] = &modelBuffer{buf: b}
	}
	defer func() {
		for _, m := range pair {
			require.NoError(t, m.buf.Close())
		}
		for i, released := range releases {
			select {
			case <-released:
			default:
				t.Fatalf("reference %d was not released after Close", i)
			}
		}
		require.Equal(t, before, handles.count.Load(), "registry keys left after Close")
	}()

	s := &opStream{data: ops}
	for step := 0; s.more(); step++ {
		code := s.byte()
		m, other := pair[code&1], pair[1-code&1]
		b := m.buf
		op := int(code>>1) % 22

		switch op {
		case 0: // Add
			data := s.text(s.size())
			require.NoError(t, b.Add(data), "step %d", step)
			m.data = append(m.data, data...)
			if len(data) > 0 {
				m.touch(true)
			}
		case 1: // AddString, through io.StringWriter
			data := string(s.text(s.size()))
			n, err := b.WriteString(data)
			require.NoError(t, err)
			require.Equal(t, len(data), n)
			m.data = append(m.data, data...)
			if len(data) > 0 {
				m.touch(true)
			}
		case 2: // Prepend, empty included
			data := s.text(s.size())
			require.NoError(t, b.Prepend(data))
			m.data = append(append([]byte{}, data...), m.data...)
			if len(data) > 0 {
				m.touch(true)
			}
		case 3: // Remove
			p := make([]byte, s.size())
			n, err := b.Remove(p)
			require.NoError(t, err)
			want := min(len(p), len(m.data))
			require.Equal(t, want, n, "step %d: Remove count", step)
			require.Equal(t, string(m.data[:want]), string(p[:n]), "step %d: Remove data", step)
			m.data = m.data[want:]
			if want > 0 {
				m.touch(true)
			}
		case 4: // Drain
			n := s.size()
			require.NoError(t, b.Drain(n))
			drained := min(n, len(m.data))
			m.data = m.data[drained:]
			if drained > 0 {
				m.touch(true)
			}
		case 5: // CopyOut
			p := make([]byte, s.size())
			n, err := b.CopyOut(p)
			require.NoError(t, err)
			want := min(len(p), len(m.data))
			require.Equal(t, string(m.data[:want]), string(p[:n]), "step %d: CopyOut", step)
		case 6: // Peek, or PeekAt from a position
			n := s.size()
			if s.byte()&1 == 0 {
				n = -1
			}
			var extents [][]byte
			var err error
			from := 0
			if s.byte()&1 == 0 {
				extents, err = b.Peek(n)
			} else {
				from = int(s.byte()) % (len(m.data) + 1)
				pos, posErr := b.Pos(from)
				require.NoError(t, posErr)
				extents, err = b.PeekAt(pos, n)
			}
			require.NoError(t, err)
			want := m.data[from:]
			if n >= 0 && n < len(want) {
				want = want[:n]
			}
			require.Equal(t, string(want), string(bytes.Join(extents, nil)), "step %d: Peek(%d) from %d", step, n, from)
		case 7: // Pullup
			n := -1
			if s.byte()&1 == 0 && len(m.data) > 0 {
				n = int(s.byte()) % (len(m.data) + 1)
			}
			data, err := b.Pullup(n)
			require.NoError(t, err)
			want := m.data
			if n >= 0 {
				want = want[:n]
			}
			require.Equal(t, string(want), string(data), "step %d: Pullup(%d)", step, n)
			if len(want) > 0 {
				// Pullup can move the data to a new chain.
				m.touch(false)
			}
		case 8: // Reserve, zero-length included, and write into the space
			n := s.size()
			if s.byte()%4 == 0 {
				n = 0
			}
			space, err := b.Reserve(n)
			require.NoError(t, err)
			total := 0
			for _, part := range space {
				total += len(part)
			}
			require.GreaterOrEqual(t, total, n, "step %d: Reserve(%d)", step, n)
			written := s.text(min(total, n+int(s.byte()%8)))
			left := written
			for _, part := range space {
				left = left[copy(part, left):]
			}
			m.reserved, m.pending, m.untouched, m.changed = written, true, true, false
		case 9: // Commit what the last Reserve wrote
			err := b.Commit(len(m.reserved))
			switch {
			case !m.pending:
				require.ErrorIs(t, err, ErrInvalid, "step %d: Commit without a reservation", step)
			case m.untouched:
				require.NoError(t, err, "step %d: Commit right after Reserve", step)
			case m.changed:
				require.ErrorIs(t, err, ErrInvalid, "step %d: Commit after a change", step)
			}
			if err == nil && len(m.reserved) > 0 {
				m.data = append(m.data, m.reserved...)
				m.touch(true)
			}
			m.pending = false
		case 10: // AddReference
			data := s.text(s.size())
			released, err := b.AddReference(data)
			require.NoError(t, err)
			releases = append(releases, released)
			m.data = append(m.data, data...)
			if len(data) > 0 {
				m.touch(true)
			}
		case 11: // AddBuffer from the other buffer
			require.NoError(t, b.AddBuffer(other.buf))
			if len(other.data) > 0 {
				m.touch(true)
				other.touch(true)
			}
			m.data = append(m.data, other.data...)
			other.data = nil
		case 12: // RemoveBuffer into the other buffer
			n := s.size()
			moved, err := b.RemoveBuffer(other.buf, n)
			require.NoError(t, err)
			want := min(n, len(m.data))
			require.Equal(t, want, moved, "step %d: RemoveBuffer count", step)
			other.data = append(other.data, m.data[:want]...)
			m.data = m.data[want:]
			if want > 0 {
				m.touch(true)
				other.touch(true)
			}
		case 13: // PrependBuffer from the other buffer
			require.NoError(t, b.PrependBuffer(other.buf))
			if len(other.data) > 0 {
				m.touch(true)
				other.touch(true)
			}
			m.data = append(append([]byte{}, other.data...), m.data...)
			other.data = nil
		case 14: // ReadLine in every style
			style := EOLStyle(s.byte() % 5)
			line, err := b.ReadLine(style)
			lineLen, eolLen, ok := modelLine(m.data, style)
			if !ok {
				require.Same(t, io.EOF, err, "step %d: ReadLine(%v) of %q", step, style, m.data)
				break
			}
			require.NoError(t, err)
			require.Equal(t, string(m.data[:lineLen]), string(line), "step %d: ReadLine(%v)", step, style)
			m.data = m.data[lineLen+eolLen:]
			m.touch(true)
		case 15: // Search, SearchFrom
			needle := s.text(1 + int(s.byte()%3))
			if s.byte()&1 == 0 && len(m.data) > 0 {
				start := int(s.byte()) % len(m.data)
				needle = m.data[start:min(len(m.data), start+1+int(s.byte()%4))]
			}
			from := int(s.byte()) % (len(m.data) + 1)
			pos, err := b.Pos(from)
			require.NoError(t, err)
			found, err := b.SearchFrom(needle, pos)
			require.NoError(t, err)
			want := bytes.Index(m.data[from:], needle)
			if want >= 0 {
				want += from
			}
			require.Equal(t, want, found.Offset(), "step %d: search for %q from %d", step, needle, from)
		case 16: // ReadByte
			c, err := b.ReadByte()
			if len(m.data) == 0 {
				require.Same(t, io.EOF, err)
				break
			}
			require.NoError(t, err)
			require.Equal(t, m.data[0], c, "step %d: ReadByte", step)
			m.data = m.data[1:]
			m.touch(true)
		case 17: // WriteTo and ReadFrom through a bytes.Buffer
			var through bytes.Buffer
			n, err := b.WriteTo(&through)
			require.NoError(t, err)
			require.Equal(t, int64(len(m.data)), n)
			require.Equal(t, string(m.data), through.String(), "step %d: WriteTo", step)
			got, err := other.buf.ReadFrom(&through)
			require.NoError(t, err)
			require.Equal(t, n, got)
			other.data = append(other.data, m.data...)
			if n > 0 {
				other.touch(true)
				m.touch(true)
			}
			m.data = nil
		case 18: // io.Copy between the buffers, which moves the chains
			n, err := io.Copy(other.buf, b)
			require.NoError(t, err)
			require.Equal(t, int64(len(m.data)), n)
			if n > 0 {
				other.touch(true)
				m.touch(true)
			}
			other.data = append(other.data, m.data...)
			m.data = nil
		case 19: // SearchEOL
			style := EOLStyle(s.byte() % 5)
			pos, eolLen, err := b.SearchEOL(style)
			require.NoError(t, err)
			lineLen, wantEOL, ok := modelLine(m.data, style)
			if !ok {
				require.False(t, pos.Found(), "step %d: SearchEOL(%v) of %q", step, style, m.data)
				break
			}
			require.Equal(t, lineLen, pos.Offset(), "step %d: SearchEOL(%v) of %q", step, style, m.data)
			require.Equal(t, wantEOL, eolLen, "step %d: SearchEOL(%v)", step, style)
		case 20: // Expand
			require.NoError(t, b.Expand(s.size()))
			m.touch(false)
		case 21: // Read through io.Reader, up to io.EOF
			p := make([]byte, s.size())
			n, err := b.Read(p)
			if len(m.data) == 0 && len(p) > 0 {
				require.Same(t, io.EOF, err)
				break
			}
			require.NoError(t, err)
			want := min(len(p), len(m.data))
			require.Equal(t, string(m.data[:want]), string(p[:n]), "step %d: Read", step)
			m.data = m.data[want:]
			if want > 0 {
				m.touch(true)
			}
		}

		for i, check := range pair {
			require.Equal(t, len(check.data), check.buf.Len(), "step %d (op %d): length of buffer %d", step, op, i)
		}
	}
	for i, m := range pair {
		got := make([]byte, m.buf.Len())
		n, err := m.buf.CopyOut(got)
		require.NoError(t, err)
		require.Equal(t, string(m.data), string(got[:n]), "final data of buffer %d", i)
	}
}

func TestBufferMatchesModel(t *testing.T) {
	for _, seed := range propertySeeds {
		ops := generateOps(seed, propertyOps)
		ok := t.Run("", func(t *testing.T) { runBufferOps(t, ops) })
		if !ok {
			t.Logf("seed %d failed", seed)
		}
	}
}

// FuzzBuffer runs the property test on sequences from the fuzzer, starting
// from the sequences of propertySeeds.
func FuzzBuffer(f *testing.F) {
	for _, seed := range propertySeeds {
		f.Add(generateOps(seed, propertyOps/4))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ops []byte) {
		runBufferOps(t, ops)
	})
}

// TestModelLine checks the model's line rules on fixed cases, so that a
// wrong model cannot pass with a wrong Buffer.
func TestModelLine(t *testing.T) {
	cases := []struct {
		data        string
		style       EOLStyle
		line, eol   int
		found       bool
		description string
	}{
		{"ab\r\n\r\nc", EOLAny, 2, 4, true, "a run of CR and LF"},
		{"\nab", EOLCRLF, 0, 1, true, "LF first"},
		{"a\r\nb", EOLCRLF, 1, 2, true, "CR LF"},
		{"a\rb", EOLCRLF, 0, 0, false, "CR alone"},
		{"a\n\r\nb", EOLCRLFStrict, 2, 2, true, "LF before CR LF"},
		{"a\r\n", EOLLF, 2, 1, true, "LF after CR"},
		{"a\x00b", EOLNUL, 1, 1, true, "NUL"},
	}
	for _, c := range cases {
		line, eol, found := modelLine([]byte(c.data), c.style)
		require.Equal(t, c.found, found, c.description)
		if found {
			require.Equal(t, c.line, line, c.description)
			require.Equal(t, c.eol, eol, c.description)
		}
	}
	require.False(t, errors.Is(nil, io.EOF))
}
