// Command echoidle is the client of the idle-memory runs of the echo
// benchmarks. It opens -conns connections to an echo server on the loopback
// interface, one after the other. On each it sends one 64-byte message and
// waits for its echo, so that the server has accepted the connection and
// set up its state for it. Then it prints
//
//	ready conns=10000
//
// and holds every connection open, idle, until SIGINT or SIGTERM or until
// -hold has passed. scripts/bench-echo.sh reads the server's memory while
// the connections are held.
//
//	echoidle -addr 127.0.0.1:7000 [-conns 10000] [-hold 2m]
//
// The descriptor limit (ulimit -n) is per process, and the server needs one
// descriptor per connection too, so the client ends live in this separate
// process. The program raises its soft descriptor limit to the hard
// limit and stops with an error when -conns does not fit. It refuses any
// address outside the loopback range.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "echoidle"

// messageSize is the size of the one message sent on each connection.
const messageSize = 64

// spareDescriptors is a margin for the descriptors that the Go runtime and
// standard streams use.
const spareDescriptors = 64

func main() {
	address := flag.String("addr", "", "the server's loopback address, such as 127.0.0.1:7000")
	conns := flag.Int("conns", 10000, "number of connections to open and hold")
	hold := flag.Duration("hold", 2*time.Minute, "how long to hold the connections at most")
	flag.Parse()
	ap, err := echoutil.LoopbackAddr(*address)
	if err == nil && (*conns < 1 || *hold <= 0) {
		err = errors.New("-conns must be at least 1 and -hold positive")
	}
	if err == nil && flag.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		flag.Usage()
		os.Exit(2)
	}
	limit, err := echoutil.RaiseFileLimit()
	if err != nil {
		echoutil.Fail(program, err)
	}
	if uint64(*conns)+spareDescriptors > limit {
		echoutil.Fail(program, fmt.Errorf("-conns %d does not fit the descriptor limit %d (ulimit -n) with %d to spare",
			*conns, limit, spareDescriptors))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *hold)
	defer cancel()

	message := make([]byte, messageSize)
	for i := range message {
		message[i] = byte('A' + i%26)
	}
	reply := make([]byte, messageSize)
	fds := make([]int, 0, *conns)
	for i := 0; i < *conns; i++ {
		if ctx.Err() != nil {
			echoutil.Fail(program, fmt.Errorf("stopped after %d connections: %w", i, context.Cause(ctx)))
		}
		fd, err := connectAndPing(ap.Addr().As4(), int(ap.Port()), message, reply)
		if err != nil {
			echoutil.Fail(program, fmt.Errorf("connection %d: %w", i, err))
		}
		fds = append(fds, fd)
	}
	fmt.Printf("ready conns=%d\n", len(fds))

	<-ctx.Done()
	// Exiting closes every descriptor.
}

// connectAndPing opens a blocking connection, sends message and reads its
// echo into reply. Every step gives up after 10 seconds.
func connectAndPing(ip [4]byte, port int, message, reply []byte) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	timeout := unix.Timeval{Sec: 10}
	// On Linux, SO_SNDTIMEO also bounds a blocking connect.
	for _, option := range []int{unix.SO_SNDTIMEO, unix.SO_RCVTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, option, &timeout); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("set socket timeout: %w", err)
		}
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: ip}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	if n, err := unix.Write(fd, message); err != nil || n != len(message) {
		unix.Close(fd)
		return -1, fmt.Errorf("write returned %d, %v", n, err)
	}
	for received := 0; received < len(reply); {
		n, err := unix.Read(fd, reply[received:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			unix.Close(fd)
			return -1, fmt.Errorf("read of the echo returned %d, %v", n, err)
		}
		received += n
	}
	if string(reply) != string(message) {
		unix.Close(fd)
		return -1, errors.New("the echo differs from the message")
	}
	return fd, nil
}
