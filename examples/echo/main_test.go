package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// runMainEnv makes the test binary run main instead of the tests, so that
// a test can run the command in a child process and send it signals.
const runMainEnv = "ECHO_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// backends are the values of -backend that every test runs on. The empty
// value is libevent's default.
var backends = []string{"", "epoll", "epoll-changelist", "poll", "select"}

// waitLimit bounds every wait of these tests, so that a lost reply fails
// the test instead of hanging it.
const waitLimit = time.Minute

func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, backend := range backends {
		name := backend
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) { fn(t, backend) })
	}
}

// runningServer is a server that a test started on 127.0.0.1:0.
type runningServer struct {
	*server
	cancel context.CancelFunc
	result chan error
}

// startServer creates a server with cfg on an ephemeral loopback port and
// runs it on a new goroutine. If the test does not stop it, it is stopped
// when the test ends.
func startServer(t *testing.T, cfg config) *runningServer {
	t.Helper()
	cfg.listen = "127.0.0.1:0"
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	srv, err := newServer(cfg, logger)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningServer{server: srv, cancel: cancel, result: make(chan error, 1)}
	go func() { rs.result <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rs.result:
		case <-time.After(waitLimit):
			t.Errorf("server did not stop within %v", waitLimit)
		}
	})
	return rs
}

// stop cancels the server's context and returns what Run returned.
func (rs *runningServer) stop(t *testing.T) error {
	t.Helper()
	rs.cancel()
	select {
	case err := <-rs.result:
		rs.result <- err // for the cleanup
		return err
	case <-time.After(waitLimit):
		t.Fatalf("server did not stop within %v", waitLimit)
		return nil
	}
}

func dial(t *testing.T, addr net.Addr) *net.TCPConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp4", addr.String(), waitLimit)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(waitLimit)))
	return conn.(*net.TCPConn)
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	return out
}

// roundTrip writes message on conn from a second goroutine while it reads
// the reply, so that a large message cannot block both peers, and returns
// the reply.
func roundTrip(conn net.Conn, message []byte) ([]byte, error) {
	writeErr := make(chan error, 1)
	go func() {
		_, err := conn.Write(message)
		writeErr <- err
	}()
	reply := make([]byte, len(message))
	_, readErr := io.ReadFull(conn, reply)
	return reply, errors.Join(<-writeErr, readErr)
}

// messageSizes are the sizes that each client of TestEchoMessages sends,
// from 1 byte to 1 MiB.
var messageSizes = []int{1, 2, 64, 1000, 4096, 16<<10 + 1, 64<<10 + 3, 256 << 10, 1 << 20}

func TestEchoMessages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		for _, writeThrough := range []bool{false, true} {
			t.Run(fmt.Sprintf("writethrough=%v", writeThrough), func(t *testing.T) {
				testEchoMessages(t, config{backend: backend, workers: 1, maxQueued: 1 << 20, writeThrough: writeThrough})
			})
		}
	})
}

func testEchoMessages(t *testing.T, cfg config) {
	srv := startServer(t, cfg)
	const clients = 6
	var wg sync.WaitGroup
	for i := range clients {
		conn := dial(t, srv.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j, size := range messageSizes {
				message := randomBytes(uint64(i*100+j), size)
				reply, err := roundTrip(conn, message)
				if !assert.NoError(t, err, "client %d, %d bytes", i, size) {
					return
				}
				assert.True(t, bytes.Equal(message, reply), "client %d: the reply to %d bytes differs", i, size)
			}
		}()
	}
	wg.Wait()
	assert.NoError(t, srv.stop(t))
	assert.Equal(t, int64(clients), srv.workers[0].accepted.Load())
	assert.Zero(t, srv.workers[0].failed.Load())
}

// readAll reads conn until EOF.
func readAll(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	data, err := io.ReadAll(conn)
	require.NoError(t, err)
	return data
}

func TestEchoHalfClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		// maxQueued is high enough that the server never stops reading
		// in these cases.
		srv := startServer(t, config{backend: backend, workers: 1, maxQueued: 64 << 20})

		t.Run("after data", func(t *testing.T) {
			conn := dial(t, srv.Addr())
			message := randomBytes(7, 3<<20)
			// The reply is read while the message is still being written.
			replies := make(chan []byte, 1)
			go func() {
				data, _ := io.ReadAll(conn)
				replies <- data
			}()
			_, err := conn.Write(message)
			require.NoError(t, err)
			require.NoError(t, conn.CloseWrite())
			var reply []byte
			select {
			case reply = <-replies:
			case <-time.After(waitLimit):
				t.Fatalf("no EOF from the server within %v", waitLimit)
			}
			assert.Equal(t, len(message), len(reply))
			assert.True(t, bytes.Equal(message, reply), "the reply differs from the message")
		})

		t.Run("reply read after EOF", func(t *testing.T) {
			// The client reads nothing until it has sent everything and
			// half-closed, so most of the reply still waits in the
			// server's output buffer when the server reads EOF.
			conn := dialSmallReceiveBuffer(t, srv.Addr())
			message := randomBytes(8, 8<<20)
			_, err := conn.Write(message)
			require.NoError(t, err)
			require.NoError(t, conn.CloseWrite())
			reply := readAll(t, conn)
			assert.Equal(t, len(message), len(reply))
			assert.True(t, bytes.Equal(message, reply), "the reply differs from the message")
		})

		t.Run("without data", func(t *testing.T) {
			conn := dial(t, srv.Addr())
			require.NoError(t, conn.CloseWrite())
			assert.Empty(t, readAll(t, conn))
		})

		t.Run("small message", func(t *testing.T) {
			conn := dial(t, srv.Addr())
			_, err := conn.Write([]byte("last words"))
			require.NoError(t, err)
			require.NoError(t, conn.CloseWrite())
			assert.Equal(t, "last words", string(readAll(t, conn)))
		})

		assert.NoError(t, srv.stop(t))
		assert.Zero(t, srv.workers[0].failed.Load())
	})
}

// dialSmallReceiveBuffer connects with an 8 KiB receive buffer, set before
// connect so that the kernel advertises a small window, which makes the
// server's replies back up sooner.
func dialSmallReceiveBuffer(t *testing.T, addr net.Addr) *net.TCPConn {
	t.Helper()
	dialer := net.Dialer{Timeout: waitLimit, Control: func(_, _ string, rc syscall.RawConn) error {
		var sockErr error
		err := rc.Control(func(fd uintptr) {
			sockErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<10)
		})
		return errors.Join(err, sockErr)
	}}
	conn, err := dialer.Dial("tcp4", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(waitLimit)))
	return conn.(*net.TCPConn)
}

func TestEchoSlowReader(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		for _, writeThrough := range []bool{false, true} {
			t.Run(fmt.Sprintf("writethrough=%v", writeThrough), func(t *testing.T) {
				testEchoSlowReader(t, config{backend: backend, workers: 1, maxQueued: 64 << 10, writeThrough: writeThrough})
			})
		}
	})
}

func testEchoSlowReader(t *testing.T, cfg config) {
	srv := startServer(t, cfg)
	conn := dialSmallReceiveBuffer(t, srv.Addr())
	// The replies can back up in the client's 8 KiB receive buffer
	// and the server's send buffer, which Linux grows to tcp_wmem's
	// maximum at most (4 MiB by default). Far more than that is sent,
	// so the server must stop reading while the client reads nothing.
	message := randomBytes(11, 32<<20)
	written := make(chan error, 1)
	go func() {
		_, err := conn.Write(message)
		written <- err
	}()

	deadline := time.Now().Add(waitLimit)
	for srv.workers[0].pauses.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.NotZero(t, srv.workers[0].pauses.Load(), "the server never stopped reading from a client that did not read")

	reply := make([]byte, len(message))
	_, err := io.ReadFull(conn, reply)
	require.NoError(t, err)
	require.NoError(t, <-written)
	assert.True(t, bytes.Equal(message, reply), "the reply differs from the message")
	assert.NoError(t, srv.stop(t))
	assert.Zero(t, srv.workers[0].failed.Load())
}

func TestShutdownClosesConnections(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := startServer(t, config{backend: backend, workers: 1, maxQueued: 1 << 20})
		conn := dial(t, srv.Addr())
		reply, err := roundTrip(conn, []byte("before shutdown"))
		require.NoError(t, err)
		assert.Equal(t, "before shutdown", string(reply))

		require.NoError(t, srv.stop(t))

		// The server closed its side of the open connection...
		n, err := conn.Read(make([]byte, 1))
		assert.Zero(t, n)
		assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET),
			"read after shutdown returned %v, expected EOF or ECONNRESET", err)
		// ...and nothing listens on the port any more.
		_, err = net.DialTimeout("tcp4", srv.Addr().String(), waitLimit)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	})
}

func TestWorkersShareThePort(t *testing.T) {
	for _, backend := range []string{"epoll", "poll"} {
		t.Run(backend, func(t *testing.T) {
			const workers, clients = 3, 30
			srv := startServer(t, config{backend: backend, workers: workers, maxQueued: 1 << 20})
			require.Len(t, srv.workers, workers)
			var wg sync.WaitGroup
			for i := range clients {
				conn := dial(t, srv.Addr())
				wg.Add(1)
				go func() {
					defer wg.Done()
					message := []byte(fmt.Sprintf("client %d", i))
					reply, err := roundTrip(conn, message)
					if assert.NoError(t, err) {
						assert.Equal(t, string(message), string(reply))
					}
				}()
			}
			wg.Wait()
			require.NoError(t, srv.stop(t))
			var accepted int64
			for _, w := range srv.workers {
				accepted += w.accepted.Load()
			}
			assert.Equal(t, int64(clients), accepted)
		})
	}
}

// TestCoresFlagSpreadsConnections checks that -cores 2 runs two bases that
// both accept connections on the shared port.
func TestCoresFlagSpreadsConnections(t *testing.T) {
	for _, backend := range []string{"epoll", "poll"} {
		t.Run(backend, func(t *testing.T) {
			const clients = 200
			srv := startServer(t, config{backend: backend, workers: 1, cores: 2, maxQueued: 1 << 20})
			require.Len(t, srv.workers, 2)
			for i := range clients {
				conn := dial(t, srv.Addr())
				message := []byte(fmt.Sprintf("client %d", i))
				reply, err := roundTrip(conn, message)
				require.NoError(t, err)
				require.Equal(t, string(message), string(reply))
			}
			require.NoError(t, srv.stop(t))
			for _, w := range srv.workers {
				assert.Positive(t, w.accepted.Load(), "worker %d accepted no connection", w.id)
			}
		})
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := map[string]config{
		"no workers":        {listen: "127.0.0.1:0", workers: 0, maxQueued: 1},
		"zero max-queued":   {listen: "127.0.0.1:0", workers: 1, maxQueued: 0},
		"unknown backend":   {listen: "127.0.0.1:0", backend: "kqueue", workers: 1, maxQueued: 1},
		"host name":         {listen: "localhost:0", workers: 1, maxQueued: 1},
		"no port":           {listen: "127.0.0.1", workers: 1, maxQueued: 1},
		"port out of range": {listen: "127.0.0.1:70000", workers: 1, maxQueued: 1},
		"negative cores":    {listen: "127.0.0.1:0", workers: 1, cores: -2, maxQueued: 1},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			srv, err := newServer(cfg, logger)
			assert.Error(t, err)
			assert.Nil(t, srv)
		})
	}
}

// startedLine matches the log line in which the server reports its address.
var startedLine = regexp.MustCompile(`msg="echo server started" addr=(\S+)`)

func TestMainStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-listen", "127.0.0.1:0", "-backend", "poll")
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			t.Cleanup(func() {
				select {
				case <-exited:
				default:
					_ = cmd.Process.Kill()
				}
			})

			lines := bufio.NewScanner(stderr)
			var log strings.Builder
			var addr string
			for addr == "" && lines.Scan() {
				log.WriteString(lines.Text() + "\n")
				if m := startedLine.FindStringSubmatch(lines.Text()); m != nil {
					addr = m[1]
				}
			}
			require.NotEmpty(t, addr, "no start line in the log:\n%s", log.String())
			go func() {
				for lines.Scan() {
					log.WriteString(lines.Text() + "\n")
				}
				exited <- cmd.Wait()
			}()

			conn, err := net.DialTimeout("tcp4", addr, waitLimit)
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(waitLimit)))
			reply, err := roundTrip(conn, []byte("ping"))
			require.NoError(t, err)
			assert.Equal(t, "ping", string(reply))

			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case err := <-exited:
				exited <- err
				assert.NoError(t, err, "exit status; log:\n%s", log.String())
			case <-time.After(waitLimit):
				t.Fatalf("the server did not exit within %v after %v", waitLimit, sig)
			}
			assert.Contains(t, log.String(), `msg="echo server stopped"`)
			assert.Contains(t, log.String(), sig.String()+" signal received")
		})
	}
}
