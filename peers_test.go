//go:build cgo

package libevent

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// serveEcho serves each accepted connection with a bufferevent that moves
// its input to its output without copying. At the end of the client's
// stream it stops reading, sends what is left and then closes, so a client
// that half-closes gets everything back.
//
// On the select backend, connections whose descriptor select cannot watch
// are closed at once and counted in rejected.
func serveEcho(t testing.TB, rejected *atomic.Int64) AcceptFunc {
	return func(l *Listener, fd int, _ net.Addr) {
		bev, err := l.Base().NewBufferEvent(fd, BEVOptCloseOnFree)
		if err != nil {
			unix.Close(fd)
			if l.Base().backend() == "select" && fd >= selectSetSize && errors.Is(err, ErrInvalid) {
				rejected.Add(1)
				return
			}
			t.Errorf("NewBufferEvent: %v", err)
			return
		}
		closeWhenSent := func(bev *BufferEvent) {
			if bev.Output().Len() == 0 {
				bev.Close()
			}
		}
		err = bev.SetCallbacks(func(bev *BufferEvent) {
			if err := bev.Output().AddBuffer(bev.Input()); err != nil {
				t.Errorf("AddBuffer: %v", err)
			}
		}, nil, func(bev *BufferEvent, what BEVEvents, err error) {
			switch {
			case what&BEVEventEOF != 0:
				bev.Disable(EvRead)
				bev.SetCallbacks(nil, closeWhenSent, nil)
				closeWhenSent(bev)
			case what&BEVEventError != 0:
				bev.Close()
			}
		})
		if err == nil {
			err = bev.Enable(EvRead | EvWrite)
		}
		if err != nil {
			t.Errorf("echo setup: %v", err)
		}
	}
}

// startEchoServer runs an echo listener on 127.0.0.1 on its own base and
// goroutine until the test ends, and returns its address and the counter of
// connections that the select backend rejected.
func startEchoServer(t *testing.T, bk backend) (string, *atomic.Int64) {
	t.Helper()
	b := newBase(t, bk)
	rejected := new(atomic.Int64)
	l, err := b.Listen("tcp4", "127.0.0.1:0", LEVOptReusable, -1, serveEcho(t, rejected))
	require.NoError(t, err)
	addr, err := l.Addr()
	require.NoError(t, err)
	stop := runInBackground(t, b)
	t.Cleanup(func() { assert.ErrorIs(t, stop(), context.Canceled) })
	return addr.String(), rejected
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	_, err := rand.Read(data)
	require.NoError(t, err)
	return data
}

// runPeer runs a peer program with input on its standard input and returns
// its standard output, for at most a minute.
func runPeer(t *testing.T, input []byte, name string, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath(name)
	require.NoError(t, err, "%s is missing; make test installs it (setup.sh --test-tools)", name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s: %s", name, stderr.String())
	return out
}

func TestEchoWithRealPeers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		addr, _ := startEchoServer(t, bk)
		host, port, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		input := randomBytes(t, 256<<10)

		// netcat shuts its write side down at the end of its input (-N)
		// and prints what comes back until the server closes.
		out := runPeer(t, input, "nc", "-N", host, port)
		assert.True(t, bytes.Equal(input, out), "nc got %d bytes back of %d", len(out), len(input))

		out = runPeer(t, input, "socat", "-t", "30", "-", "TCP:"+addr)
		assert.True(t, bytes.Equal(input, out), "socat got %d bytes back of %d", len(out), len(input))

		script := `
import socket, sys
data = sys.stdin.buffer.read()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
chunks = []
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    chunks.append(chunk)
sys.stdout.buffer.write(b"".join(chunks))
`
		out = runPeer(t, input, "python3", "-c", script, host, port)
		assert.True(t, bytes.Equal(input, out), "python got %d bytes back of %d", len(out), len(input))
	})
}

func TestHalfCloseFromGoClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		addr, _ := startEchoServer(t, bk)
		conn, err := net.Dial("tcp4", addr)
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
		input := randomBytes(t, 1<<20)
		go func() {
			_, err := conn.Write(input)
			assert.NoError(t, err)
			assert.NoError(t, conn.(*net.TCPConn).CloseWrite())
		}()
		out, err := io.ReadAll(conn)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(input, out), "got %d bytes back of %d", len(out), len(input))
	})
}

// TestResetByPeer resets a connection from the client (SO_LINGER 0): the
// server's event callback reports an error while reading, with ECONNRESET,
// whether the reset arrives before or after the server read the data.
func TestResetByPeer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		events := make(chan eventRecord, 4)
		l, err := b.Listen("tcp4", "127.0.0.1:0", 0, -1, func(l *Listener, fd int, _ net.Addr) {
			bev, err := b.NewBufferEvent(fd, BEVOptCloseOnFree)
			if !assert.NoError(t, err) {
				return
			}
			bev.SetCallbacks(func(bev *BufferEvent) {
				bev.Input().Drain(bev.Input().Len())
			}, nil, func(bev *BufferEvent, what BEVEvents, err error) {
				events <- eventRecord{what, err}
				bev.Close()
			})
			bev.Enable(EvRead)
		})
		require.NoError(t, err)
		addr, err := l.Addr()
		require.NoError(t, err)
		stop := runInBackground(t, b)
		defer stop()

		conn, err := net.Dial("tcp4", addr.String())
		require.NoError(t, err)
		_, err = conn.Write([]byte("unread data"))
		require.NoError(t, err)
		require.NoError(t, conn.(*net.TCPConn).SetLinger(0))
		require.NoError(t, conn.Close())

		select {
		case ev := <-events:
			assert.Equal(t, BEVEventError|BEVEventReading, ev.what)
			assert.ErrorIs(t, ev.err, syscall.ECONNRESET)
		case <-time.After(time.Minute):
			t.Fatal("no event after the reset")
		}
	})
}

// TestWriteTimeout writes to a client that never reads: once the socket
// buffers are full, the write timeout fires.
func TestWriteTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		local, _ := newSocketPair(t)
		require.NoError(t, unix.SetsockoptInt(local, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))
		bev, err := b.NewBufferEvent(local, 0)
		require.NoError(t, err)
		var events []BEVEvents
		require.NoError(t, bev.SetCallbacks(nil, nil, func(_ *BufferEvent, what BEVEvents, err error) {
			assert.NoError(t, err)
			events = append(events, what)
		}))
		require.NoError(t, bev.SetTimeouts(0, 20*time.Millisecond))
		_, err = bev.Write(make([]byte, 4<<20))
		require.NoError(t, err)
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Equal(t, []BEVEvents{BEVEventTimeout | BEVEventWriting}, events)
		assert.Zero(t, bev.Enabled()&EvWrite, "writing stayed enabled after the timeout")
	})
}

// TestSlowReaderKeepsMemoryBounded sends 32 MiB to a client that reads
// slowly. The server produces only from its write callback, which runs when
// the output drops to the low write watermark, so the output never holds
// much more than that.
func TestSlowReaderKeepsMemoryBounded(t *testing.T) {
	const total, chunk, low = 32 << 20, 64 << 10, 256 << 10
	forEachBackend(t, func(t *testing.T, bk backend) {
		b := newBase(t, bk)
		var maxOutput atomic.Int64
		sent := 0
		l, err := b.Listen("tcp4", "127.0.0.1:0", 0, -1, func(l *Listener, fd int, _ net.Addr) {
			bev, err := b.NewBufferEvent(fd, BEVOptCloseOnFree)
			if !assert.NoError(t, err) {
				return
			}
			data := make([]byte, chunk)
			produce := func(bev *BufferEvent) {
				for sent < total && bev.Output().Len() < low {
					_, err := bev.Write(data)
					assert.NoError(t, err)
					sent += chunk
				}
				if n := int64(bev.Output().Len()); n > maxOutput.Load() {
					maxOutput.Store(n)
				}
				if sent == total && bev.Output().Len() == 0 {
					bev.Close()
				}
			}
			require.NoError(t, bev.SetWatermark(EvWrite, low, 0))
			require.NoError(t, bev.SetCallbacks(nil, produce, func(bev *BufferEvent, what BEVEvents, err error) {
				bev.Close()
			}))
			produce(bev)
		})
		require.NoError(t, err)
		addr, err := l.Addr()
		require.NoError(t, err)
		stop := runInBackground(t, b)
		defer stop()

		conn, err := net.Dial("tcp4", addr.String())
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(2*time.Minute)))
		received := 0
		buf := make([]byte, 256<<10)
		for reads := 0; ; reads++ {
			n, err := conn.Read(buf)
			received += n
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			if reads%16 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		assert.Equal(t, total, received)
		assert.LessOrEqual(t, maxOutput.Load(), int64(low+chunk), "the output grew past the flow control")
	})
}

// TestTenThousandConnections serves 10,000 concurrent connections from a
// client in a second process; both processes stay under the descriptor
// limit of 20,000. The select backend serves those whose descriptor is below
// FD_SETSIZE and closes the others at once, without ending the process.
func TestTenThousandConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	const connections = 10000
	var limit unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &limit))
	if limit.Cur < connections+1000 && limit.Max >= connections+1000 {
		previous := limit
		limit.Cur = limit.Max
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &limit))
		t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &previous) })
	}
	require.GreaterOrEqual(t, limit.Cur, uint64(connections+1000), "the descriptor limit is too low for this test")

	forEachBackend(t, func(t *testing.T, bk backend) {
		addr, rejected := startEchoServer(t, bk)
		exe, err := os.Executable()
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childProcessEnv+"=clients", "GOLIBEVENT_TEST_ADDR="+addr,
			"GOLIBEVENT_TEST_CONNECTIONS="+strconv.Itoa(connections))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "client process: %s", stderr.String())
		echoed := connections
		if bk.name == "select" {
			assert.Positive(t, rejected.Load(), "select served descriptors above FD_SETSIZE")
			echoed = connections - int(rejected.Load())
			assert.Greater(t, echoed, selectSetSize/2)
		}
		assert.Equal(t, fmt.Sprintf("echoed %d of %d", echoed, connections), strings.TrimSpace(string(out)))
	})
}

// runClientsChild is the client side of TestTenThousandConnections: it opens
// every connection first, then sends one message on each and checks the
// echo, so that all of them are open at once on the server.
func runClientsChild() {
	addr := os.Getenv("GOLIBEVENT_TEST_ADDR")
	count, _ := strconv.Atoi(os.Getenv("GOLIBEVENT_TEST_CONNECTIONS"))
	var limit unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &limit) == nil {
		limit.Cur = limit.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &limit)
	}
	conns := make([]net.Conn, count)
	var wg sync.WaitGroup
	var dialErrors atomic.Int64
	sem := make(chan struct{}, 128)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := net.DialTimeout("tcp4", addr, time.Minute)
			if err != nil {
				dialErrors.Add(1)
				return
			}
			conns[i] = conn
		}()
	}
	wg.Wait()
	if n := dialErrors.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "%d connections failed\n", n)
	}
	var echoed atomic.Int64
	for i, conn := range conns {
		if conn == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn.SetDeadline(time.Now().Add(time.Minute))
			message := fmt.Sprintf("connection %05d", i)
			if _, err := io.WriteString(conn, message); err != nil {
				return
			}
			reply := make([]byte, len(message))
			if _, err := io.ReadFull(conn, reply); err == nil && string(reply) == message {
				echoed.Add(1)
			}
		}()
	}
	wg.Wait()
	for _, conn := range conns {
		if conn != nil {
			conn.Close()
		}
	}
	fmt.Printf("echoed %d of %d\n", echoed.Load(), count)
	os.Exit(0)
}
