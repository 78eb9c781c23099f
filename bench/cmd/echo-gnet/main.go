// Command echo-gnet is the gnet server in the echo benchmarks
// (github.com/panjf2000/gnet/v2, an event-loop networking library in pure
// Go over epoll). It listens on 127.0.0.1 only:
//
//	echo-gnet PORT
//
// PORT 0 lets the kernel choose a free port. Once the server listens it
// prints "listening 127.0.0.1:PORT", and it runs until it is killed.
//
// It runs one event loop (gnet's multicore option off, since the benchmark
// pins the server to one core). OnTraffic takes everything that gnet has
// read for the connection and writes it back; gnet closes the connection at
// EOF or on an error.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"

	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "echo-gnet"

type echoServer struct {
	gnet.BuiltinEventEngine
}

// OnBoot prints the port that the listener got, read from a duplicate of its
// descriptor.
func (s *echoServer) OnBoot(eng gnet.Engine) gnet.Action {
	fd, err := eng.Dup()
	if err != nil {
		echoutil.Fail(program, fmt.Errorf("duplicate the listener's descriptor: %w", err))
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		echoutil.Fail(program, fmt.Errorf("getsockname: %w", err))
	}
	inet4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		echoutil.Fail(program, fmt.Errorf("the listener has a %T address, expected IPv4", sa))
	}
	echoutil.PrintListening(inet4.Port)
	return gnet.None
}

func (s *echoServer) OnTraffic(c gnet.Conn) gnet.Action {
	data, err := c.Next(-1)
	if err != nil {
		return gnet.Close
	}
	if _, err := c.Write(data); err != nil {
		return gnet.Close
	}
	return gnet.None
}

func main() {
	flag.Parse()
	port, err := echoutil.ServerPort(flag.Args())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		fmt.Fprintf(os.Stderr, "usage: %s PORT\n", program)
		os.Exit(2)
	}
	if _, err := echoutil.RaiseFileLimit(); err != nil {
		echoutil.Fail(program, err)
	}
	err = gnet.Run(&echoServer{}, fmt.Sprintf("tcp4://127.0.0.1:%d", port),
		gnet.WithMulticore(false), gnet.WithReuseAddr(true), gnet.WithLogLevel(logging.ErrorLevel))
	if err != nil {
		echoutil.Fail(program, err)
	}
}
