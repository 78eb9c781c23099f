// Command linecount counts the lines and bytes of its input through libevent
// read events and prints a progress report from a persistent timer event.
//
// It reads standard input, or the file named as its only argument, until the
// end of input:
//
//	seq 1 100000 | go run ./examples/linecount
//	go run ./examples/linecount -interval 500ms /usr/include/event2/event.h
//	go run ./examples/linecount -backend select < /usr/include/event2/event.h
//
// Every interval it prints a line such as
//
//	lines=123 bytes=4567 elapsed=1.002s backend=epoll
//
// and at the end of input a line that starts with "total ". Lines are counted
// as newline characters, as wc -l counts them. Errors go to standard error and
// make the exit status 1. A command line that the flag package rejects, or one
// with more than one file, makes it 2.
//
// epoll_ctl rejects regular files with EPERM, so by default linecount uses
// libevent's default backend (epoll on Linux) only for pipes and sockets. For
// other input it avoids epoll, so libevent picks poll, which reports a regular
// file as always readable. -backend forces a backend. Input that epoll
// rejects, such as a regular file, is an error on a forced epoll backend.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golibevent/libevent"
)

const (
	readBufferSize = 64 << 10
	// maxReadsPerCallback limits the reads in one callback, so that the
	// report timer still runs while a large file or a fast writer keeps the
	// input readable.
	maxReadsPerCallback = 16
)

func main() {
	interval := flag.Duration("interval", time.Second, "time between progress reports, such as 500ms or 2s")
	backend := flag.String("backend", "",
		"libevent backend to use: epoll, epoll-changelist, poll or select\n"+
			"(default: libevent's default backend for a pipe or socket, poll for other input)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"usage: linecount [-interval duration] [-backend name] [file]\n"+
				"Counts the lines and bytes of file, or of standard input if no file is given.\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 1 {
		fmt.Fprintf(os.Stderr, "linecount: expected at most one file, got %d arguments\n", flag.NArg())
		flag.Usage()
		os.Exit(2)
	}

	if err := countInput(flag.Arg(0), *backend, *interval); err != nil {
		fmt.Fprintf(os.Stderr, "linecount: %v\n", err)
		os.Exit(1)
	}
}

// countInput counts the file at path, or standard input if path is empty,
// and writes the reports to standard output.
func countInput(path, backend string, interval time.Duration) error {
	if path == "" {
		return run(os.Stdin, backend, interval, os.Stdout)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return run(f, backend, interval, os.Stdout)
}

// run counts the lines and bytes of in until the end of input. It writes a
// progress report to out every interval and a total at the end. backend is a
// value of the -backend flag, and an empty one chooses from the type of in.
func run(in *os.File, backend string, interval time.Duration, out io.Writer) error {
	if interval <= 0 {
		return fmt.Errorf("invalid interval %v: it must be positive", interval)
	}
	// Fd puts a pipe that Go made non-blocking back into blocking mode.
	// setNonblock below sets O_NONBLOCK again for the duration of the count.
	fd := int(in.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", in.Name(), err)
	}

	base, err := libevent.NewBase(baseConfig(st.Mode, backend))
	if err != nil {
		return fmt.Errorf("create event base: %w", err)
	}
	defer base.Close()

	// A read of a regular file never waits for a writer, and Linux ignores
	// O_NONBLOCK there. Other input needs it so that the read loop ends with
	// EAGAIN once the input is drained.
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		restore, err := setNonblock(fd)
		if err != nil {
			return fmt.Errorf("set %s non-blocking: %w", in.Name(), err)
		}
		defer restore()
	}

	c := &counter{fd: fd, out: out, backend: base.Method(), buf: make([]byte, readBufferSize)}
	c.readEvent, err = base.NewEvent(fd, libevent.EvRead|libevent.EvPersist, c.onReadable)
	if err != nil {
		return fmt.Errorf("watch %s: %w", in.Name(), err)
	}
	// NewTimer cannot set EvPersist, so the persistent timer comes from
	// NewEvent with descriptor -1.
	c.timer, err = base.NewEvent(-1, libevent.EvPersist, c.onTimer)
	if err != nil {
		return fmt.Errorf("create report timer: %w", err)
	}

	c.start = time.Now()
	if err := c.readEvent.Add(); err != nil {
		return fmt.Errorf("watch %s: %w", in.Name(), err)
	}
	if err := c.timer.AddTimeout(interval); err != nil {
		return fmt.Errorf("start report timer: %w", err)
	}

	// The loop ends with ErrNoEvents once stop has closed both events.
	err = base.Dispatch()
	// in must stay reachable while the loop reads its descriptor, because
	// the finalizer of an unreachable os.File closes the descriptor.
	runtime.KeepAlive(in)
	if err != nil && !errors.Is(err, libevent.ErrNoEvents) {
		return fmt.Errorf("event loop: %w", err)
	}
	if c.err != nil {
		return fmt.Errorf("%s: %w", in.Name(), c.err)
	}
	if !c.eof {
		return fmt.Errorf("event loop ended before the end of %s", in.Name())
	}
	return c.report("total ")
}

// baseConfig returns the base configuration for input of the given file mode
// and a value of the -backend flag. A nil result means libevent's defaults.
func baseConfig(mode uint32, backend string) *libevent.Config {
	switch backend {
	case "":
		switch mode & unix.S_IFMT {
		case unix.S_IFIFO, unix.S_IFSOCK:
			return nil
		default:
			// epoll_ctl rejects regular files and directories, and
			// character devices without poll support such as /dev/null.
			return &libevent.Config{AvoidMethods: []string{"epoll"}}
		}
	case "epoll-changelist":
		return &libevent.Config{Method: "epoll", Flags: libevent.IgnoreEnv | libevent.EpollUseChangelist}
	default:
		// NewBase rejects a name that is not a backend of this platform.
		return &libevent.Config{Method: backend, Flags: libevent.IgnoreEnv}
	}
}

// setNonblock sets O_NONBLOCK on fd and returns a function that restores the
// previous flags. Standard input can share its open file description with
// other processes, such as the shell on a terminal, so the change must not
// outlive the count.
func setNonblock(fd int) (restore func(), err error) {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return nil, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	return func() { _, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags) }, nil
}

// counter is the state of one count. Its methods run as event callbacks on
// the goroutine that runs the loop, so they need no lock.
type counter struct {
	fd        int
	out       io.Writer
	backend   string
	buf       []byte
	start     time.Time
	lines     int64
	bytes     int64
	eof       bool
	err       error // the read or write error that ended the count
	readEvent *libevent.Event
	timer     *libevent.Event
}

// onReadable reads and counts input until EAGAIN, the end of input or
// maxReadsPerCallback reads. The persistent read event calls it again while input remains.
func (c *counter) onReadable(*libevent.Event, libevent.EventFlags) {
	for range maxReadsPerCallback {
		n, err := unix.Read(c.fd, c.buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return
		case err != nil:
			c.stop(fmt.Errorf("read: %w", err))
			return
		case n == 0:
			c.eof = true
			c.stop(nil)
			return
		}
		c.lines += int64(bytes.Count(c.buf[:n], []byte{'\n'}))
		c.bytes += int64(n)
	}
}

func (c *counter) onTimer(*libevent.Event, libevent.EventFlags) {
	if err := c.report(""); err != nil {
		c.stop(err)
	}
}

// stop records err, if any, and closes both events, which ends the loop.
func (c *counter) stop(err error) {
	if c.err == nil {
		c.err = err
	}
	c.readEvent.Close()
	c.timer.Close()
}

// report writes one line with the counts so far, starting with prefix.
func (c *counter) report(prefix string) error {
	elapsed := time.Since(c.start).Seconds()
	_, err := fmt.Fprintf(c.out, "%slines=%d bytes=%d elapsed=%.3fs backend=%s\n",
		prefix, c.lines, c.bytes, elapsed, c.backend)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
