package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/golibevent/libevent"
)

// runMainEnv makes the test binary run main instead of the tests, so that
// the tests can run the command in a child process.
const runMainEnv = "LINECOUNT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pipeBackends are the values of -backend that the pipe tests run on. The
// empty value is the automatic choice.
var pipeBackends = []string{"", "epoll", "epoll-changelist", "poll", "select"}

// methodOf returns the name that Base.Method reports for a -backend value on
// a pipe.
func methodOf(backend string) string {
	switch backend {
	case "":
		// libevent's default is the first supported backend, unless an
		// EVENT_NO* environment variable disables it.
		return libevent.SupportedMethods()[0]
	case "epoll-changelist":
		return "epoll (with changelist)"
	default:
		return backend
	}
}

// report is one parsed output line of run.
type report struct {
	total   bool
	lines   int64
	bytes   int64
	elapsed float64 // seconds
	backend string
}

// parseReports parses the output of run, one report per line.
func parseReports(t *testing.T, output string) []report {
	t.Helper()
	var reports []report
	for _, line := range strings.Split(strings.TrimSuffix(output, "\n"), "\n") {
		if line == "" {
			continue
		}
		var r report
		rest, isTotal := strings.CutPrefix(line, "total ")
		r.total = isTotal
		// The backend comes last because its name can contain spaces, as
		// in "epoll (with changelist)".
		counts, backend, found := strings.Cut(rest, " backend=")
		require.True(t, found, "no backend in report %q", line)
		r.backend = backend
		_, err := fmt.Sscanf(counts, "lines=%d bytes=%d elapsed=%fs", &r.lines, &r.bytes, &r.elapsed)
		require.NoError(t, err, "report %q", line)
		reports = append(reports, r)
	}
	return reports
}

// requireTotal checks that reports end with exactly one total, with the
// given counts and backend, and that every report before it is periodic.
func requireTotal(t *testing.T, reports []report, lines, size int64, method string) {
	t.Helper()
	require.NotEmpty(t, reports, "no output")
	last := reports[len(reports)-1]
	assert.True(t, last.total, "last report is not the total: %+v", last)
	assert.Equal(t, lines, last.lines, "total lines")
	assert.Equal(t, size, last.bytes, "total bytes")
	assert.Equal(t, method, last.backend, "backend")
	assert.GreaterOrEqual(t, last.elapsed, 0.0, "elapsed")
	for _, r := range reports[:len(reports)-1] {
		assert.False(t, r.total, "total before the end: %+v", r)
	}
}

// numberedLines returns lines first to last-1, whose lengths vary from 8 to
// about 300 bytes.
func numberedLines(first, last int) string {
	var b strings.Builder
	for i := first; i < last; i++ {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("x", i%293))
	}
	return b.String()
}

func writeTempFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "input.txt")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// newPipe returns an os.Pipe that is closed when the test ends.
func newPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

// syncBuffer is a bytes.Buffer that the test can read while run writes to it
// from the loop's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunRegularFile(t *testing.T) {
	content := numberedLines(0, 10000)
	// The file must need several read callbacks.
	require.Greater(t, len(content), maxReadsPerCallback*readBufferSize)
	path := writeTempFile(t, content)

	for _, tc := range []struct{ backend, method string }{
		{"", "poll"},
		{"poll", "poll"},
		{"select", "select"},
	} {
		t.Run("backend="+tc.backend, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, run(openFile(t, path), tc.backend, time.Second, &out))
			requireTotal(t, parseReports(t, out.String()), 10000, int64(len(content)), tc.method)
		})
	}
}

func TestRunRegularFileOnEpoll(t *testing.T) {
	path := writeTempFile(t, numberedLines(0, 100))
	for _, backend := range []string{"epoll", "epoll-changelist"} {
		t.Run(backend, func(t *testing.T) {
			var out bytes.Buffer
			err := run(openFile(t, path), backend, time.Second, &out)
			require.ErrorIs(t, err, syscall.EPERM)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "use the poll or select backend")
			assert.Empty(t, out.String())
		})
	}
}

func TestRunLastLineWithoutNewline(t *testing.T) {
	path := writeTempFile(t, "first\nsecond\nthird")
	var out bytes.Buffer
	require.NoError(t, run(openFile(t, path), "", time.Second, &out))
	requireTotal(t, parseReports(t, out.String()), 2, 18, "poll")
}

// TestRunDevNull covers a character device that epoll rejects but that the
// package's own descriptor check lets through.
func TestRunDevNull(t *testing.T) {
	t.Run("automatic", func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, run(openFile(t, os.DevNull), "", time.Second, &out))
		requireTotal(t, parseReports(t, out.String()), 0, 0, "poll")
	})
	for _, backend := range []string{"epoll", "epoll-changelist"} {
		t.Run(backend, func(t *testing.T) {
			var out bytes.Buffer
			err := run(openFile(t, os.DevNull), backend, time.Second, &out)
			require.ErrorIs(t, err, syscall.EPERM)
			assert.Empty(t, out.String())
		})
	}
}

func TestRunPipeInChunks(t *testing.T) {
	chunks := []string{
		numberedLines(0, 10),
		numberedLines(10, 20) + "a line split across",
		" two writes\n",
		// Larger than the 64 KiB pipe buffer, so the writer blocks until
		// the reader drains the pipe.
		numberedLines(20, 3000),
		"",
		numberedLines(3000, 3001),
	}
	want := strings.Join(chunks, "")
	wantLines := int64(strings.Count(want, "\n"))

	for _, backend := range pipeBackends {
		t.Run("backend="+backend, func(t *testing.T) {
			r, w := newPipe(t)
			fed := make(chan error, 1)
			go func() {
				defer w.Close()
				for _, chunk := range chunks {
					if _, err := w.WriteString(chunk); err != nil {
						fed <- err
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				fed <- nil
			}()

			// The interval is long so that the total is the only output line.
			var out bytes.Buffer
			err := run(r, backend, time.Hour, &out)
			r.Close()
			require.NoError(t, <-fed, "writer")
			require.NoError(t, err)

			reports := parseReports(t, out.String())
			assert.Len(t, reports, 1, "output %q", out.String())
			requireTotal(t, reports, wantLines, int64(len(want)), methodOf(backend))
		})
	}
}

// TestRunPipeReportsProgress writes each chunk only after a periodic report
// shows every byte written so far. That proves that the reports track the
// input without depending on how fast the machine is.
func TestRunPipeReportsProgress(t *testing.T) {
	chunks := []string{
		numberedLines(0, 100),
		numberedLines(100, 250) + "a partial line",
		"\n" + numberedLines(250, 400),
	}
	const interval = 20 * time.Millisecond

	for _, backend := range pipeBackends {
		t.Run("backend="+backend, func(t *testing.T) {
			r, w := newPipe(t)
			out := &syncBuffer{}
			done := make(chan struct{})
			fed := make(chan error, 1)
			go func() {
				defer w.Close()
				fed <- feedAfterReports(w, chunks, out, done)
			}()

			err := run(r, backend, interval, out)
			close(done)
			r.Close()
			require.NoError(t, <-fed, "writer")
			require.NoError(t, err)

			want := strings.Join(chunks, "")
			reports := parseReports(t, out.String())
			requireTotal(t, reports, int64(strings.Count(want, "\n")), int64(len(want)), methodOf(backend))
			periodic := reports[:len(reports)-1]
			require.GreaterOrEqual(t, len(periodic), len(chunks), "periodic reports")
			for i := 1; i < len(periodic); i++ {
				assert.GreaterOrEqual(t, periodic[i].bytes, periodic[i-1].bytes, "bytes in report %d", i)
				assert.GreaterOrEqual(t, periodic[i].elapsed, periodic[i-1].elapsed, "elapsed in report %d", i)
			}
		})
	}
}

// feedAfterReports writes each chunk to w and then waits until out has a
// periodic report with the lines and bytes written so far. It returns an error
// when done is closed first, which means run has returned, or after
// reportTimeout. The caller then closes w, which ends a run that is stuck.
func feedAfterReports(w *os.File, chunks []string, out *syncBuffer, done <-chan struct{}) error {
	// reportTimeout only bounds a failing test. A passing test waits for
	// a few report intervals.
	const reportTimeout = time.Minute
	deadline := time.After(reportTimeout)
	var lines, size int
	for _, chunk := range chunks {
		if _, err := w.WriteString(chunk); err != nil {
			return err
		}
		lines += strings.Count(chunk, "\n")
		size += len(chunk)
		want := fmt.Sprintf("\nlines=%d bytes=%d ", lines, size)
		for !strings.Contains("\n"+out.String(), want) {
			select {
			case <-done:
				return fmt.Errorf("run returned before a report showed %q", strings.TrimSpace(want))
			case <-deadline:
				return fmt.Errorf("no report showed %q within %v", strings.TrimSpace(want), reportTimeout)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return nil
}

func TestRunEmptyPipe(t *testing.T) {
	for _, backend := range pipeBackends {
		t.Run("backend="+backend, func(t *testing.T) {
			r, w := newPipe(t)
			require.NoError(t, w.Close())

			var out bytes.Buffer
			require.NoError(t, run(r, backend, time.Hour, &out))
			reports := parseReports(t, out.String())
			assert.Len(t, reports, 1, "output %q", out.String())
			requireTotal(t, reports, 0, 0, methodOf(backend))
		})
	}
}

func TestRunRestoresBlockingMode(t *testing.T) {
	r, w := newPipe(t)
	require.NoError(t, w.Close())
	fd := r.Fd()
	before, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	require.NoError(t, err)

	require.NoError(t, run(r, "", time.Hour, &bytes.Buffer{}))
	after, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.Equal(t, before, after, "descriptor flags")
}

func TestRunInvalidArguments(t *testing.T) {
	path := writeTempFile(t, "line\n")
	for _, tc := range []struct {
		name     string
		backend  string
		interval time.Duration
		message  string
	}{
		{"zero interval", "", 0, "invalid interval 0s"},
		{"negative interval", "", -time.Second, "invalid interval -1s"},
		{"unknown backend", "kqueue", time.Second, `backend "kqueue" is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(openFile(t, path), tc.backend, tc.interval, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.message)
			assert.Empty(t, out.String())
		})
	}
}

// runCommand runs main in a child process with args and stdin, and returns
// its standard output, standard error and exit code.
func runCommand(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// A binary built with -race sleeps a second before a zero exit unless
	// GORACE sets atexit_sleep_ms.
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "GORACE=atexit_sleep_ms=0")
	cmd.Stdin = strings.NewReader(stdin)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout = &outBuf
	cmd.Stderr = &errBuf
	err := cmd.Run()
	if exitErr, ok := err.(*exec.ExitError); ok {
		return outBuf.String(), errBuf.String(), exitErr.ExitCode()
	}
	require.NoError(t, err)
	return outBuf.String(), errBuf.String(), 0
}

func TestCommand(t *testing.T) {
	content := numberedLines(0, 500)
	path := writeTempFile(t, content)

	t.Run("file argument", func(t *testing.T) {
		stdout, stderr, code := runCommand(t, "", "-interval", "1h", path)
		assert.Equal(t, 0, code, "stderr: %s", stderr)
		requireTotal(t, parseReports(t, stdout), 500, int64(len(content)), "poll")
	})
	t.Run("standard input", func(t *testing.T) {
		// exec.Cmd feeds a non-file reader through a pipe.
		stdout, stderr, code := runCommand(t, content, "-backend", "select", "-interval", "1h")
		assert.Equal(t, 0, code, "stderr: %s", stderr)
		requireTotal(t, parseReports(t, stdout), 500, int64(len(content)), "select")
	})
	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing.txt")
		stdout, stderr, code := runCommand(t, "", missing)
		assert.Equal(t, 1, code)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "linecount: open "+missing+": no such file or directory")
	})
	t.Run("two files", func(t *testing.T) {
		stdout, stderr, code := runCommand(t, "", path, path)
		assert.Equal(t, 2, code)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "expected at most one file, got 2 arguments")
	})
}

func TestRunSocket(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	in := os.NewFile(uintptr(fds[0]), "socket")
	peer := os.NewFile(uintptr(fds[1]), "peer")
	t.Cleanup(func() {
		in.Close()
		peer.Close()
	})
	content := numberedLines(0, 50)
	_, err = peer.WriteString(content)
	require.NoError(t, err)
	require.NoError(t, peer.Close())

	var out bytes.Buffer
	require.NoError(t, run(in, "", time.Hour, &out))
	requireTotal(t, parseReports(t, out.String()), 50, int64(len(content)), methodOf(""))
}
