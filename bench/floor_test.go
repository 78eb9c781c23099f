package bench

import "testing"

// BenchmarkCgoFloor measures one C-to-Go callback that looks its closure up
// in a slice and calls it; see floor.go for why this is the floor.
func BenchmarkCgoFloor(b *testing.B) {
	count := 0
	increment := func() { count++ }

	callSlot(increment, b.N)

	if count != b.N {
		b.Fatalf("the closure ran %d times, expected %d", count, b.N)
	}
}

// BenchmarkCgoLookup measures the same callback as BenchmarkCgoFloor with
// other ways to find the closure: a runtime/cgo.Handle, a go-pointer key
// (the package's registry), and a go-pointer key followed by the rest of the
// package's trampoline steps.
func BenchmarkCgoLookup(b *testing.B) {
	b.Run("lookup=cgohandle", func(b *testing.B) {
		count := 0
		callHandle(func() { count++ }, b.N)
		if count != b.N {
			b.Fatalf("the closure ran %d times, expected %d", count, b.N)
		}
	})
	b.Run("lookup=gopointer", func(b *testing.B) {
		count := 0
		callKey(func() { count++ }, b.N)
		if count != b.N {
			b.Fatalf("the closure ran %d times, expected %d", count, b.N)
		}
	})
	b.Run("lookup=trampoline", func(b *testing.B) {
		count := 0
		callTrampoline(func(*trampolineTarget, int16) { count++ }, b.N)
		if count != b.N {
			b.Fatalf("the closure ran %d times, expected %d", count, b.N)
		}
	})
}
