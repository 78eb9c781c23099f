//go:build cgo

package libevent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// echoAccept returns an accept callback that serves each connection with a
// bufferevent that echoes what it reads and closes at EOF or on an error.
func echoAccept(t *testing.T) AcceptFunc {
	return func(l *Listener, fd int, addr net.Addr) {
		bev, err := l.Base().NewBufferEvent(fd, BEVOptCloseOnFree)
		if !assert.NoError(t, err) {
			unix.Close(fd)
			return
		}
		err = bev.SetCallbacks(func(bev *BufferEvent) {
			buf := make([]byte, 4096)
			for {
				n, err := bev.Read(buf)
				if n > 0 {
					_, werr := bev.Write(buf[:n])
					assert.NoError(t, werr)
				}
				if err != nil {
					return
				}
			}
		}, nil, func(bev *BufferEvent, what BEVEvents, err error) {
			if what&(BEVEventEOF|BEVEventError) != 0 {
				bev.Close()
			}
		})
		assert.NoError(t, err)
		assert.NoError(t, bev.Enable(EvRead|EvWrite))
	}
}

// exchange sends message over conn and checks that it comes back.
func exchange(t *testing.T, conn net.Conn, message string) {
	t.Helper()
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
	_, err := io.WriteString(conn, message)
	require.NoError(t, err)
	reply := make([]byte, len(message))
	_, err = io.ReadFull(conn, reply)
	require.NoError(t, err)
	assert.Equal(t, message, string(reply))
}

func TestListenerEchoWithGoClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		l, err := b.Listen("tcp4", "127.0.0.1:0", LEVOptReusable, -1, echoAccept(t))
		require.NoError(t, err)
		addr, err := l.Addr()
		require.NoError(t, err)
		tcp, ok := addr.(*net.TCPAddr)
		require.True(t, ok, "Addr returned %T", addr)
		assert.Equal(t, "127.0.0.1", tcp.IP.String())
		assert.NotZero(t, tcp.Port)
		stop := runInBackground(t, b)

		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp4", addr.String())
				if !assert.NoError(t, err) {
					return
				}
				defer conn.Close()
				for j := 0; j < 10; j++ {
					exchange(t, conn, fmt.Sprintf("client %d message %d", i, j))
				}
			}()
		}
		wg.Wait()
		assert.ErrorIs(t, stop(), context.Canceled)
	})
}

func TestListenerNetworks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		path := filepath.Join(t.TempDir(), "listener.sock")
		targets := map[string]string{"tcp": "127.0.0.1:0", "unix": path}
		if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
			ln.Close()
			targets["tcp6"] = "[::1]:0"
		}
		var listeners []*Listener
		for network, address := range targets {
			l, err := b.Listen(network, address, 0, -1, echoAccept(t))
			require.NoError(t, err, network)
			listeners = append(listeners, l)
		}
		stop := runInBackground(t, b)
		for _, l := range listeners {
			addr, err := l.Addr()
			require.NoError(t, err)
			conn, err := net.Dial(addr.Network(), addr.String())
			require.NoError(t, err, addr.String())
			exchange(t, conn, "over "+addr.Network())
			conn.Close()
		}
		assert.ErrorIs(t, stop(), context.Canceled)

		for _, l := range listeners {
			require.NoError(t, l.Close())
		}
		_, err := os.Stat(path)
		assert.ErrorIs(t, err, os.ErrNotExist, "Close left the unix socket file")
	})
}

func TestListenerFromDescriptorAndNet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)

		goListener, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		taken, err := b.NewListenerFromNet(goListener, 0, echoAccept(t))
		require.NoError(t, err)
		takenAddr, err := taken.Addr()
		require.NoError(t, err)
		assert.Equal(t, goListener.Addr().String(), takenAddr.String())

		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		require.NoError(t, unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
		wrapped, err := b.NewListener(fd, LEVOptCloseOnFree, 16, echoAccept(t))
		require.NoError(t, err)
		assert.Equal(t, fd, wrapped.Fd())
		wrappedAddr, err := wrapped.Addr()
		require.NoError(t, err)

		stop := runInBackground(t, b)
		for _, addr := range []net.Addr{takenAddr, wrappedAddr} {
			conn, err := net.Dial("tcp4", addr.String())
			require.NoError(t, err)
			exchange(t, conn, "hello "+addr.String())
			conn.Close()
		}
		assert.ErrorIs(t, stop(), context.Canceled)
	})
}

func TestListenerEnableDisable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		accepted := make(chan struct{}, 10)
		l, err := b.Listen("tcp4", "127.0.0.1:0", LEVOptDisabled|LEVOptThreadSafe, -1, func(l *Listener, fd int, _ net.Addr) {
			unix.Close(fd)
			accepted <- struct{}{}
		})
		require.NoError(t, err)
		addr, err := l.Addr()
		require.NoError(t, err)
		stop := runInBackground(t, b)

		conn, err := net.Dial("tcp4", addr.String())
		require.NoError(t, err)
		defer conn.Close()
		select {
		case <-accepted:
			t.Fatal("a disabled listener accepted")
		case <-time.After(50 * time.Millisecond):
		}
		require.NoError(t, l.Enable())
		<-accepted

		require.NoError(t, l.Disable())
		conn2, err := net.Dial("tcp4", addr.String())
		require.NoError(t, err)
		defer conn2.Close()
		select {
		case <-accepted:
			t.Fatal("a disabled listener accepted")
		case <-time.After(50 * time.Millisecond):
		}

		// Without a callback the listener does not accept either, and the
		// connections wait until one is set.
		require.NoError(t, l.SetCallback(nil))
		require.NoError(t, l.Enable())
		select {
		case <-accepted:
			t.Fatal("a listener without a callback accepted")
		case <-time.After(50 * time.Millisecond):
		}
		require.NoError(t, l.SetCallback(func(l *Listener, fd int, _ net.Addr) {
			unix.Close(fd)
			accepted <- struct{}{}
		}))
		<-accepted
		assert.ErrorIs(t, stop(), context.Canceled)
	})
}

func TestListenerReusePort(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		first, err := b.Listen("tcp4", "127.0.0.1:0", LEVOptReusablePort, -1, echoAccept(t))
		require.NoError(t, err)
		addr, err := first.Addr()
		require.NoError(t, err)
		second, err := b.Listen("tcp4", addr.String(), LEVOptReusablePort, -1, echoAccept(t))
		require.NoError(t, err, "a second listener on %v", addr)
		require.NoError(t, second.Close())

		_, err = b.Listen("tcp4", addr.String(), 0, -1, echoAccept(t))
		assert.ErrorIs(t, err, unix.EADDRINUSE)
	})
}

func TestListenerCloseAndThreads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		before := handles.count.Load()
		b, err := NewBase(&bk.config)
		require.NoError(t, err)
		plain, err := b.Listen("tcp4", "127.0.0.1:0", 0, -1, echoAccept(t))
		require.NoError(t, err)
		safe, err := b.Listen("tcp4", "127.0.0.1:0", LEVOptThreadSafe, -1, echoAccept(t))
		require.NoError(t, err)
		stop := runInBackground(t, b)
		assert.ErrorIs(t, plain.Close(), ErrNotThreadSafe)
		assert.ErrorIs(t, plain.Disable(), ErrNotThreadSafe)
		assert.NoError(t, safe.Disable())
		assert.NoError(t, safe.Close())
		assert.NoError(t, safe.Close())
		assert.ErrorIs(t, safe.Enable(), ErrClosed)
		assert.ErrorIs(t, stop(), context.Canceled)
		require.NoError(t, b.Close())
		assert.Equal(t, -1, plain.Fd())
		assert.Equal(t, before, handles.count.Load(), "handles left: %v", handles.owners())
	})
}

func TestListenerBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		cases := map[string][2]string{
			"unknown network": {"udp", "127.0.0.1:0"},
			"host name":       {"tcp", "localhost:0"},
			"missing port":    {"tcp", "127.0.0.1"},
			"bad port":        {"tcp", "127.0.0.1:99999"},
			"IPv6 on tcp4":    {"tcp4", "[::1]:0"},
			"IPv4 on tcp6":    {"tcp6", "127.0.0.1:0"},
			"empty path":      {"unix", ""},
		}
		for name, c := range cases {
			_, err := b.Listen(c[0], c[1], 0, -1, echoAccept(t))
			assert.ErrorIs(t, err, ErrInvalid, name)
		}
		_, err := b.Listen("tcp", "127.0.0.1:0", 0x1000, -1, echoAccept(t))
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = b.NewListener(-1, 0, 0, echoAccept(t))
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = b.NewListener(1<<20, 0, 0, echoAccept(t))
		assert.ErrorIs(t, err, unix.EBADF)
		_, err = b.NewListenerFromNet(nil, 0, echoAccept(t))
		assert.ErrorIs(t, err, ErrInvalid)
		var zero Listener
		assert.ErrorIs(t, zero.Enable(), ErrInvalid)
		assert.NoError(t, zero.Close())
	})
}

// TestAcceptWithoutDescriptors is the case of a listener whose process has
// run out of descriptors while a client waits. It runs in a child process,
// which lowers its descriptor limit: the failure is reported once per
// episode, not thousands of times, and the client is served once a
// descriptor is free again.
func TestAcceptWithoutDescriptors(t *testing.T) {
	for _, bk := range backends {
		for _, mode := range []string{"log", "callback"} {
			t.Run(bk.name+"/"+mode, func(t *testing.T) {
				exe, err := os.Executable()
				require.NoError(t, err)
				cmd := exec.Command(exe, "-test.run=^$")
				cmd.Env = append(os.Environ(), childProcessEnv+"=emfile", "GOLIBEVENT_TEST_BACKEND="+bk.name,
					"GOLIBEVENT_TEST_MODE="+mode)
				stdout, err := cmd.StdoutPipe()
				require.NoError(t, err)
				cmd.Stderr = os.Stderr
				require.NoError(t, cmd.Start())
				defer cmd.Wait()
				lines := bufio.NewScanner(stdout)

				require.True(t, lines.Scan(), "the child printed no address")
				addr := strings.TrimPrefix(lines.Text(), "listening ")
				conn, err := net.Dial("tcp4", addr)
				require.NoError(t, err)
				defer conn.Close()
				exchange(t, conn, "served after the descriptor shortage")

				require.True(t, lines.Scan(), "the child printed no report")
				fields := map[string]int{}
				for _, field := range strings.Fields(lines.Text()) {
					k, v, _ := strings.Cut(field, "=")
					fields[k], _ = strconv.Atoi(v)
				}
				assert.Equal(t, 1, fields["reports"], "reports during the shortage: %s", lines.Text())
				require.NoError(t, cmd.Wait())
			})
		}
	}
}

// runEmfileChild is the child side of TestAcceptWithoutDescriptors.
func runEmfileChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "emfile child:", err)
		os.Exit(2)
	}
	var bk backend
	for _, candidate := range backends {
		if candidate.name == os.Getenv("GOLIBEVENT_TEST_BACKEND") {
			bk = candidate
		}
	}
	reports := 0
	var mu sync.Mutex
	h := &recordHandler{level: slog.LevelWarn}
	SetLogger(slog.New(h))
	b, err := NewBase(&bk.config)
	if err != nil {
		fail(err)
	}
	echo := func(l *Listener, fd int, _ net.Addr) {
		bev, err := b.NewBufferEvent(fd, BEVOptCloseOnFree)
		if err != nil {
			fail(err)
		}
		bev.SetCallbacks(func(bev *BufferEvent) {
			buf := make([]byte, 256)
			n, _ := bev.Read(buf)
			bev.Write(buf[:n])
			// The client is served; end the run once the reply is out.
			b.LoopExit(100 * time.Millisecond)
		}, nil, func(bev *BufferEvent, what BEVEvents, err error) { bev.Close() })
		bev.Enable(EvRead)
	}
	l, err := b.Listen("tcp4", "127.0.0.1:0", 0, -1, echo)
	if err != nil {
		fail(err)
	}
	if os.Getenv("GOLIBEVENT_TEST_MODE") == "callback" {
		l.SetErrorCallback(func(_ *Listener, err error) {
			if !errorsIsErrno(err, unix.EMFILE) {
				fail(err)
			}
			mu.Lock()
			reports++
			mu.Unlock()
		})
	}
	addr, err := l.Addr()
	if err != nil {
		fail(err)
	}

	// Use up every descriptor below a limit of 64.
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 64, Max: 64}); err != nil {
		fail(err)
	}
	var spare []int
	for {
		fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		spare = append(spare, fd)
	}
	fmt.Printf("listening %s\n", addr)

	// The client connects now; accept fails for 200 ms.
	b.LoopExit(200 * time.Millisecond)
	b.Dispatch()
	// Free a descriptor: the next retry accepts and serves the client.
	unix.Close(spare[len(spare)-1])
	unix.Close(spare[len(spare)-2])
	b.LoopExit(time.Minute)
	b.Dispatch()

	mu.Lock()
	n := reports
	mu.Unlock()
	if os.Getenv("GOLIBEVENT_TEST_MODE") == "log" {
		for _, r := range h.snapshot() {
			if strings.Contains(r.Message, "accept failed") {
				n++
			}
		}
	}
	fmt.Printf("reports=%d\n", n)
	os.Exit(0)
}

func errorsIsErrno(err error, errno unix.Errno) bool {
	var le *Error
	if e, ok := err.(*Error); ok {
		le = e
	}
	return le != nil && le.Err == errno
}

func TestNewBufferEventFromConn(t *testing.T) {
	addr := listenTCP(t, "tcp4", "127.0.0.1:0")
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		conn, err := net.Dial("tcp4", addr.String())
		require.NoError(t, err)
		bev, err := b.NewBufferEventFromConn(conn, 0)
		require.NoError(t, err)
		assert.Equal(t, BEVOptCloseOnFree, bev.Options())
		_, err = conn.Write([]byte("x"))
		assert.Error(t, err, "the Go connection still works after the takeover")

		var reply string
		require.NoError(t, bev.SetCallbacks(func(bev *BufferEvent) {
			reply += readAll(t, bev)
			if reply == "adopted" {
				assert.NoError(t, b.LoopBreak())
			}
		}, nil, nil))
		require.NoError(t, bev.Enable(EvRead))
		_, err = bev.WriteString("adopted")
		require.NoError(t, err)
		require.NoError(t, b.Dispatch())
		assert.Equal(t, "adopted", reply)
	})
}

func TestEvutilHelpers(t *testing.T) {
	a, c, err := SocketPair()
	require.NoError(t, err)
	defer unix.Close(a)
	defer unix.Close(c)
	for _, fd := range []int{a, c} {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		require.NoError(t, err)
		assert.NotZero(t, flags&unix.O_NONBLOCK)
	}
	_, err = unix.Write(a, []byte("pair"))
	require.NoError(t, err)
	buf := make([]byte, 8)
	n, err := unix.Read(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "pair", string(buf[:n]))

	fds := make([]int, 2)
	require.NoError(t, unix.Pipe(fds))
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	require.NoError(t, SetNonblocking(fds[0]))
	flags, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.NotZero(t, flags&unix.O_NONBLOCK)
	assert.ErrorIs(t, SetNonblocking(-1), ErrInvalid)

	for text, want := range map[string]string{
		"1.2.3.4":        "1.2.3.4:0",
		"1.2.3.4:80":     "1.2.3.4:80",
		"[::1]:8080":     "[::1]:8080",
		"::1":            "[::1]:0",
		"[fe80::1]":      "[fe80::1]:0",
		"127.0.0.1:1234": "127.0.0.1:1234",
	} {
		addr, err := ParseAddrPort(text)
		require.NoError(t, err, text)
		assert.Equal(t, want, addr.String(), text)
	}
	for _, bad := range []string{"", "localhost:80", "1.2.3.4:99999", "[::1", "1.2.3"} {
		_, err := ParseAddrPort(bad)
		assert.ErrorIs(t, err, ErrInvalid, bad)
	}
}

// TestListenerDisableWhileAccepting disables and enables a thread-safe
// listener from another goroutine while clients connect. In libevent 2.1
// evconnlistener_disable from another thread can deadlock with a running
// accept, so the package runs it on the loop's goroutine.
func TestListenerDisableWhileAccepting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var accepted atomic.Int64
		l, err := b.Listen("tcp4", "127.0.0.1:0", LEVOptThreadSafe, -1, func(l *Listener, fd int, _ net.Addr) {
			accepted.Add(1)
			unix.Close(fd)
		})
		require.NoError(t, err)
		addr, err := l.Addr()
		require.NoError(t, err)
		stop := runInBackground(t, b)

		done := make(chan struct{})
		var clients sync.WaitGroup
		clients.Add(1)
		go func() {
			defer clients.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				conn, err := net.DialTimeout("tcp4", addr.String(), time.Second)
				if err == nil {
					conn.Close()
				}
			}
		}()
		for accepted.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			for i := 0; i < 300; i++ {
				assert.NoError(t, l.Disable())
				assert.NoError(t, l.Enable())
			}
			assert.NoError(t, l.Close())
		}()
		select {
		case <-finished:
		case <-time.After(2 * time.Minute):
			t.Fatal("Disable or Close deadlocked with an accept")
		}
		close(done)
		clients.Wait()
		assert.ErrorIs(t, stop(), context.Canceled)
	})
}
