// Command echo-gonet is the Go net server in the echo benchmarks: the
// standard library's goroutine per connection, as most Go servers are
// written. It listens on 127.0.0.1 only:
//
//	echo-gonet [-buffer BYTES] PORT
//
// PORT 0 lets the kernel choose a free port. Once the server listens it
// prints "listening 127.0.0.1:PORT", and it runs until it is killed.
//
// Each connection's goroutine reads into its own buffer (512 bytes by
// default, room for eight 64-byte requests) and writes back what it read,
// until EOF or an error. io.Copy is not used: on Linux it would splice
// through a pipe, which costs two more descriptors per connection while the
// connection waits for data.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "echo-gonet"

func main() {
	bufferSize := flag.Int("buffer", 512, "size in bytes of each connection's read buffer")
	flag.Parse()
	port, err := echoutil.ServerPort(flag.Args())
	if err != nil || *bufferSize < 1 {
		if err == nil {
			err = fmt.Errorf("invalid -buffer %d: it must be at least 1", *bufferSize)
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		flag.Usage()
		os.Exit(2)
	}
	if _, err := echoutil.RaiseFileLimit(); err != nil {
		echoutil.Fail(program, err)
	}

	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		echoutil.Fail(program, err)
	}
	echoutil.PrintListening(ln.Addr().(*net.TCPAddr).Port)
	for {
		conn, err := ln.Accept()
		if err != nil {
			// Accept fails for good only when the listener is closed,
			// which this program never does. Out of descriptors, it
			// reports the error and the next call retries.
			fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
			continue
		}
		go echo(conn, *bufferSize)
	}
}

func echo(conn net.Conn, bufferSize int) {
	defer conn.Close()
	buf := make([]byte, bufferSize)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
