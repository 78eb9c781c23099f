// Command echoload is the load generator of the echo benchmarks. It opens
// -conns connections to an echo server on the loopback interface, and each
// connection runs a closed loop: send one request of -size bytes, wait until
// the whole reply is back, check it, send the next. After -warmup it counts
// the replies for -duration, then prints one line such as
//
//	conns=100 size=64 seconds=5.000 requests=500000 requests_per_second=100000 p50_us=990 p99_us=1310 total_requests=550000 cpu_percent=85 cpu_seconds=6.1
//
// and exits. The latency of a request is the time from its send to the end
// of its reply, measured in whole microseconds. total_requests also counts
// the warm-up. cpu_percent is this program's own CPU time (user and system)
// during the measured time: near 100 means that the load generator, not the
// server, may have set the pace. cpu_seconds is its CPU time since it
// started.
//
//	echoload -addr 127.0.0.1:7000 [-conns 100] [-size 64] [-duration 5s] [-warmup 500ms]
//
// To spend as little CPU as possible per request, so that the server is the
// bottleneck, one goroutine on one OS thread drives every connection through
// epoll and plain system calls, without Go's netpoller. It refuses any
// address outside the loopback range.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "echoload"

// maxSize is the largest request: 16 KiB, the default initial size of a TCP
// send buffer on Linux (tcp_wmem), so that a request fits in one write.
const maxSize = 16 << 10

// histogramLimit is the number of one-microsecond latency buckets. Slower
// replies go to the last bucket.
const histogramLimit = 1_000_000

type client struct {
	fd       int
	received int   // bytes of the current reply received so far
	sentAt   int64 // nanoseconds since start when the request was sent
}

type load struct {
	request []byte
	buf     []byte
	start   time.Time
	// measuring is set after the warm-up. Only then do replies count in
	// requests and latency.
	measuring bool
	requests  int64
	latency   []uint32 // counts per microsecond of latency
	total     int64    // replies, including the warm-up
	// cpuAtStart is the process's CPU time when measuring started.
	cpuAtStart time.Duration
	cpuPercent float64
}

func main() {
	address := flag.String("addr", "", "the server's loopback address, such as 127.0.0.1:7000")
	conns := flag.Int("conns", 100, "number of connections, each with one request in flight")
	size := flag.Int("size", 64, "bytes per request and per reply")
	duration := flag.Duration("duration", 5*time.Second, "how long to count replies, after the warm-up")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "how long to run before counting")
	flag.Parse()
	ap, err := echoutil.LoopbackAddr(*address)
	if err == nil && (*conns < 1 || *size < 1 || *size > maxSize || *duration <= 0 || *warmup < 0) {
		err = fmt.Errorf("-conns must be at least 1, -size from 1 to %d, -duration positive and -warmup not negative", maxSize)
	}
	if err == nil && flag.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		flag.Usage()
		os.Exit(2)
	}
	if _, err := echoutil.RaiseFileLimit(); err != nil {
		echoutil.Fail(program, err)
	}

	// The epoll loop runs on this thread alone.
	runtime.LockOSThread()
	clients, err := connectAll(ap.Addr().As4(), int(ap.Port()), *conns)
	if err != nil {
		echoutil.Fail(program, err)
	}
	l := &load{request: make([]byte, *size), buf: make([]byte, 64<<10), latency: make([]uint32, histogramLimit)}
	for i := range l.request {
		l.request[i] = byte('a' + i%26)
	}
	seconds, err := l.run(clients, *warmup, *duration)
	if err != nil {
		echoutil.Fail(program, err)
	}
	fmt.Printf("conns=%d size=%d seconds=%.3f requests=%d requests_per_second=%.0f p50_us=%d p99_us=%d "+
		"total_requests=%d cpu_percent=%.0f cpu_seconds=%.3f\n",
		*conns, *size, seconds, l.requests, float64(l.requests)/seconds, l.percentile(0.50), l.percentile(0.99),
		l.total, l.cpuPercent, processCPUTime().Seconds())
}

// connectAll opens n non-blocking TCP connections with TCP_NODELAY to the
// IPv4 loopback address ip:port.
func connectAll(ip [4]byte, port, n int) ([]*client, error) {
	clients := make([]*client, 0, n)
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("socket: %w", err)
		}
		// On Linux, SO_SNDTIMEO also bounds a blocking connect.
		timeout := unix.Timeval{Sec: 10}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &timeout); err != nil {
			return nil, fmt.Errorf("set SO_SNDTIMEO: %w", err)
		}
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: ip}); err != nil {
			return nil, fmt.Errorf("connection %d: connect to %d.%d.%d.%d:%d: %w", i, ip[0], ip[1], ip[2], ip[3], port, err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return nil, fmt.Errorf("set TCP_NODELAY: %w", err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("set O_NONBLOCK: %w", err)
		}
		clients = append(clients, &client{fd: fd})
	}
	return clients, nil
}

// run sends the first request on every connection and then serves replies
// until the warm-up and the measured duration have passed. It returns the
// measured time in seconds.
func (l *load) run(clients []*client, warmup, duration time.Duration) (float64, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return 0, fmt.Errorf("epoll_create1: %w", err)
	}
	byFd := make(map[int32]*client, len(clients))
	l.start = time.Now()
	for _, c := range clients {
		byFd[int32(c.fd)] = c
		event := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, c.fd, &event); err != nil {
			return 0, fmt.Errorf("epoll_ctl: %w", err)
		}
		if err := l.send(c); err != nil {
			return 0, err
		}
	}

	measureFrom := l.start.Add(warmup)
	measureUntil := measureFrom.Add(duration)
	events := make([]unix.EpollEvent, len(clients))
	for {
		now := time.Now()
		if !l.measuring && !now.Before(measureFrom) {
			l.measuring = true
			l.cpuAtStart = processCPUTime()
			measureFrom = now
			measureUntil = now.Add(duration)
		}
		if !now.Before(measureUntil) {
			wall := now.Sub(measureFrom)
			l.cpuPercent = 100 * float64(processCPUTime()-l.cpuAtStart) / float64(wall)
			return wall.Seconds(), nil
		}
		n, err := unix.EpollWait(epfd, events, 100)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return 0, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, event := range events[:n] {
			if err := l.receive(byFd[event.Fd]); err != nil {
				return 0, err
			}
		}
	}
}

// receive reads what is there of c's reply, and when the reply is complete,
// records it and sends the next request.
func (l *load) receive(c *client) error {
	want := len(l.request) - c.received
	n, err := unix.Read(c.fd, l.buf[:min(want, len(l.buf))])
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return nil
	case err != nil:
		return fmt.Errorf("read: %w", err)
	case n == 0:
		return errors.New("the server closed a connection")
	}
	for i := 0; i < n; i++ {
		if l.buf[i] != l.request[c.received+i] {
			return fmt.Errorf("the reply differs from the request at byte %d", c.received+i)
		}
	}
	c.received += n
	if c.received < len(l.request) {
		return nil
	}

	elapsed := int64(time.Since(l.start))
	l.total++
	if l.measuring {
		l.requests++
		micros := min((elapsed-c.sentAt)/1000, histogramLimit-1)
		l.latency[micros]++
	}
	c.received = 0
	return l.send(c)
}

// send writes the request on c. The socket's send buffer is empty when a
// request is sent, because its reply has come back, and it has room for
// maxSize bytes.
func (l *load) send(c *client) error {
	c.sentAt = int64(time.Since(l.start))
	n, err := unix.Write(c.fd, l.request)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if n != len(l.request) {
		return fmt.Errorf("short write of %d bytes out of %d", n, len(l.request))
	}
	return nil
}

// percentile returns the latency in microseconds below which the fraction
// p of the measured requests fall.
func (l *load) percentile(p float64) int {
	target := int64(p * float64(l.requests))
	var seen int64
	for micros, count := range l.latency {
		seen += int64(count)
		if seen > target {
			return micros
		}
	}
	return len(l.latency) - 1
}

// processCPUTime returns the user and system CPU time that this process has
// used, or 0 if getrusage fails.
func processCPUTime() time.Duration {
	var usage unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}
