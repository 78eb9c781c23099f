//go:build cgo

package libevent_test

import (
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/golibevent/libevent"
)

// A Buffer queues bytes: lines go in at the back and come out at the front.
func ExampleBuffer() {
	buf, err := libevent.NewBuffer()
	if err != nil {
		log.Fatal(err)
	}
	defer buf.Close()

	fmt.Fprintf(buf, "HELO example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT")
	for {
		line, err := buf.ReadLine(libevent.EOLCRLF)
		if errors.Is(err, io.EOF) {
			break // no complete line yet
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q\n", line)
	}
	fmt.Println(buf.Len(), "bytes wait for the rest of their line")
	// Output:
	// "HELO example.org"
	// "MAIL FROM:<a@example.org>"
	// 4 bytes wait for the rest of their line
}

// Reserve and Commit write into the buffer's own memory without a copy.
func ExampleBuffer_Reserve() {
	buf, err := libevent.NewBuffer()
	if err != nil {
		log.Fatal(err)
	}
	defer buf.Close()

	space, err := buf.Reserve(5)
	if err != nil {
		log.Fatal(err)
	}
	n := copy(space[0], "hello")
	if err := buf.Commit(n); err != nil {
		log.Fatal(err)
	}
	extents, err := buf.Peek(-1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d extent: %q\n", len(extents), extents[0])
	// Output: 1 extent: "hello"
}

// A callback receives each change. After DeferCallbacks it runs from the
// loop.
func ExampleBuffer_AddCallback() {
	base, err := libevent.NewBase(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer base.Close()
	buf, err := libevent.NewBuffer()
	if err != nil {
		log.Fatal(err)
	}
	defer buf.Close()

	if _, err := buf.AddCallback(func(b *libevent.Buffer, info libevent.BufferCallbackInfo) {
		fmt.Printf("from %d bytes: %d added, %d removed\n", info.OrigSize, info.Added, info.Deleted)
	}); err != nil {
		log.Fatal(err)
	}
	buf.AddString("abc")
	if err := buf.DeferCallbacks(base); err != nil {
		log.Fatal(err)
	}
	buf.AddString("defg")
	buf.Drain(2)
	fmt.Println("before the loop")
	if err := base.Dispatch(); !errors.Is(err, libevent.ErrNoEvents) {
		log.Fatal(err)
	}
	// Output:
	// from 0 bytes: 3 added, 0 removed
	// before the loop
	// from 3 bytes: 4 added, 2 removed
}
