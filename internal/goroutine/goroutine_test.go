package goroutine

import (
	"runtime"
	"testing"
)

func TestCurrentDiffersPerGoroutine(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		if Current() != 0 {
			t.Fatalf("Current() = %#x on %s, want 0", Current(), runtime.GOARCH)
		}
		return
	}
	mine := Current()
	if mine == 0 {
		t.Fatal("Current() = 0")
	}
	runtime.Gosched()
	if again := Current(); again != mine {
		t.Fatalf("Current() changed within one goroutine: %#x, then %#x", mine, again)
	}

	const others = 8
	seen := make(chan uintptr, others)
	release := make(chan struct{})
	for range others {
		go func() {
			seen <- Current()
			// Stay alive so that no two goroutines share a g.
			<-release
		}()
	}
	ids := map[uintptr]bool{mine: true}
	for range others {
		id := <-seen
		if ids[id] {
			t.Errorf("two live goroutines share Current() = %#x", id)
		}
		ids[id] = true
	}
	close(release)
}
