// Command echo-pkg is the package's server in the echo benchmarks. It
// listens on 127.0.0.1 only:
//
//	echo-pkg [-mode bufferevent|bufferevent-copy|event|c-in-go] [-writethrough] [-backend epoll|poll|select] [-nolock] PORT
//
// PORT 0 lets the kernel choose a free port. Once the server listens it
// prints "listening 127.0.0.1:PORT", and it runs until it is killed.
//
// -mode bufferevent (the default) serves each connection with a
// BufferEvent. Its read callback moves the input buffer to the output buffer
// without copying (BufferEvent.MoveInputTo, which moves evbuffer chains in
// one call into C), as the C server's bufferevent mode does. The callbacks are method values created
// once, so a connection costs no closure. -mode bufferevent-copy copies
// through Go instead: one BufferEvent.Read into a buffer that all
// connections share and one BufferEvent.Write of what it read.
//
// -writethrough turns on BufferEvent.SetWriteThrough for each connection of
// the bufferevent modes: the echo is written to the socket within
// MoveInputTo or Write, as the C server's bufferevent-direct mode writes it
// from its read callback.
//
// -mode event serves each connection with one persistent EvRead Event whose
// callback calls read and write on the socket itself (golang.org/x/sys/unix,
// no cgo). It switches to an EvWrite event only when write could not take
// everything. This is the C server's event mode, and the fastest echo the
// package allows: one C-to-Go callback and two system calls per request.
//
// -mode c-in-go runs the C server's bufferevent echo (C callbacks, no Go
// code per request) inside this Go program, with -backend ignored. It
// separates what running in a Go process costs (the runtime's threads, a
// locked base) from what the package's callbacks cost.
//
// The loop runs with Base.Dispatch, which returns to Go between loop
// iterations; see "Where the time goes" in BENCHMARKS.md.
//
// All modes close the connection at EOF or on an error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/golibevent/libevent"
	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "echo-pkg"

// readSize is the size of the buffer that all connections share. A
// bufferevent reads at most 16 KiB from its socket at a time by default.
const readSize = 16 << 10

func main() {
	mode := flag.String("mode", "bufferevent", "how to serve a connection: bufferevent, bufferevent-copy, event or c-in-go")
	backend := flag.String("backend", "", "libevent backend: epoll, poll or select (default: libevent's choice)")
	writeThrough := flag.Bool("writethrough", false, "turn on write-through (BufferEvent.SetWriteThrough) for each connection in the bufferevent modes")
	noLock := flag.Bool("nolock", false, "create the base with NoLock, without the lock that lets other goroutines use it, like the C server's base")
	flag.Parse()
	port, err := echoutil.ServerPort(flag.Args())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		flag.Usage()
		os.Exit(2)
	}
	if _, err := echoutil.RaiseFileLimit(); err != nil {
		echoutil.Fail(program, err)
	}

	cfg := &libevent.Config{}
	if *backend != "" {
		cfg.Method = *backend
		cfg.Flags |= libevent.IgnoreEnv
	}
	if *noLock {
		cfg.Flags |= libevent.NoLock
	}
	base, err := libevent.NewBase(cfg)
	if err != nil {
		echoutil.Fail(program, err)
	}

	if *mode == "c-in-go" {
		echoutil.Fail(program, runCEcho(port))
	}
	var accept libevent.AcceptFunc
	switch *mode {
	case "bufferevent":
		accept = newBufferEventServer(base, false, *writeThrough).accept
	case "bufferevent-copy":
		accept = newBufferEventServer(base, true, *writeThrough).accept
	case "event":
		accept = newEventServer(base).accept
	default:
		echoutil.Fail(program, fmt.Errorf("unknown mode %q: use bufferevent, bufferevent-copy, event or c-in-go", *mode))
	}

	listener, err := base.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port), libevent.LEVOptReusable, 1024, accept)
	if err != nil {
		echoutil.Fail(program, err)
	}
	addr, err := listener.Addr()
	if err != nil {
		echoutil.Fail(program, err)
	}
	echoutil.PrintListening(addr.(*net.TCPAddr).Port)

	if err := base.Dispatch(); err != nil {
		echoutil.Fail(program, err)
	}
}

// bufferEventServer serves connections with bufferevents. Its callbacks run
// on the loop's goroutine, one at a time, so they share buf.
type bufferEventServer struct {
	base    *libevent.Base
	buf     []byte
	onRead  libevent.BufferEventFunc
	onEvent libevent.BufferEventEventFunc
	// writeThrough turns on BufferEvent.SetWriteThrough for each
	// connection.
	writeThrough bool
}

func newBufferEventServer(base *libevent.Base, copyThroughGo, writeThrough bool) *bufferEventServer {
	s := &bufferEventServer{base: base, buf: make([]byte, readSize), writeThrough: writeThrough}
	s.onRead = s.echo
	if copyThroughGo {
		s.onRead = s.echoCopy
	}
	s.onEvent = s.closeAtEOF
	return s
}

func (s *bufferEventServer) accept(_ *libevent.Listener, fd int, _ net.Addr) {
	bev, err := s.base.NewBufferEvent(fd, libevent.BEVOptCloseOnFree)
	if err != nil {
		unix.Close(fd)
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		return
	}
	if s.writeThrough {
		if err := bev.SetWriteThrough(true); err != nil {
			bev.Close()
			fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
			return
		}
	}
	if err := bev.SetCallbacks(s.onRead, nil, s.onEvent); err != nil {
		bev.Close()
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		return
	}
	if err := bev.Enable(libevent.EvRead); err != nil {
		bev.Close()
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
	}
}

// echo moves the input to the output without copying, in one call into C
// (evbuffer_add_buffer), as the C server does.
func (s *bufferEventServer) echo(bev *libevent.BufferEvent) {
	if _, err := bev.MoveInputTo(bev); err != nil {
		bev.Close()
	}
}

// echoCopy moves the input buffer to the output buffer through s.buf.
func (s *bufferEventServer) echoCopy(bev *libevent.BufferEvent) {
	for {
		n, _ := bev.Read(s.buf)
		if n == 0 {
			return
		}
		if _, err := bev.Write(s.buf[:n]); err != nil {
			bev.Close()
			return
		}
		if n < len(s.buf) {
			return
		}
	}
}

func (s *bufferEventServer) closeAtEOF(bev *libevent.BufferEvent, what libevent.BEVEvents, _ error) {
	if what&(libevent.BEVEventEOF|libevent.BEVEventError) != 0 {
		bev.Close()
	}
}

// eventServer serves connections with events and system calls from Go.
type eventServer struct {
	base *libevent.Base
	buf  []byte
}

func newEventServer(base *libevent.Base) *eventServer {
	return &eventServer{base: base, buf: make([]byte, readSize)}
}

// rawConn is one connection of an eventServer.
type rawConn struct {
	s       *eventServer
	fd      int
	read    *libevent.Event
	write   *libevent.Event // created at the first short write
	pending []byte          // bytes that write has not taken yet
}

func (s *eventServer) accept(_ *libevent.Listener, fd int, _ net.Addr) {
	c := &rawConn{s: s, fd: fd}
	ev, err := s.base.NewEvent(fd, libevent.EvRead|libevent.EvPersist, c.onReadable)
	if err == nil {
		c.read = ev
		err = ev.Add()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		c.close()
	}
}

func (c *rawConn) onReadable(*libevent.Event, libevent.EventFlags) {
	n, err := unix.Read(c.fd, c.s.buf)
	switch {
	case n > 0:
		if err := c.send(c.s.buf[:n]); err != nil {
			c.close()
		}
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
	default: // EOF or an error
		c.close()
	}
}

// send writes data, and keeps what write did not take for the EvWrite
// event, with reading stopped until it is written.
func (c *rawConn) send(data []byte) error {
	n, err := unix.Write(c.fd, data)
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return err
		}
		n = 0
	}
	if n == len(data) {
		return nil
	}
	c.pending = append(c.pending[:0], data[n:]...)
	if c.write == nil {
		if c.write, err = c.s.base.NewEvent(c.fd, libevent.EvWrite|libevent.EvPersist, c.onWritable); err != nil {
			return err
		}
	}
	if err := c.read.Del(); err != nil {
		return err
	}
	return c.write.Add()
}

func (c *rawConn) onWritable(*libevent.Event, libevent.EventFlags) {
	data := c.pending
	c.pending = nil
	if err := c.send(data); err != nil {
		c.close()
		return
	}
	if len(c.pending) == 0 {
		c.pending = data[:0]
		if c.write.Del() != nil || c.read.Add() != nil {
			c.close()
		}
	}
}

func (c *rawConn) close() {
	if c.read != nil {
		c.read.Close()
	}
	if c.write != nil {
		c.write.Close()
	}
	unix.Close(c.fd)
}
