//go:build cgo

package libevent

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childProcessEnv names the function that the test binary runs instead of
// the tests when it is started as a child process.
const childProcessEnv = "GOLIBEVENT_TEST_CHILD"

func runChildProcess(name string) {
	switch name {
	case "emfile":
		runEmfileChild()
	case "clients":
		runClientsChild()
	case "signal":
		runSignalChild()
	case "sigpipe":
		runSIGPIPEChild()
	case "fatal":
		SetLogger(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
		raiseFatalErrorForTest()
		// libevent ends the process before this line.
		os.Exit(0)
	default:
		os.Exit(3)
	}
}

func readPin(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("third_party/libevent/PIN")
	require.NoError(t, err)
	defer f.Close()
	pin := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "PIN line %q", line)
		pin[k] = v
	}
	require.NoError(t, sc.Err())
	return pin
}

func TestVersionMatchesPin(t *testing.T) {
	pin := readPin(t)
	assert.Equal(t, pin["version"], Version())
	assert.Equal(t, pin["version_number"], fmt.Sprintf("0x%08x", VersionNumber()))
}

func TestCheckVersion(t *testing.T) {
	cases := []struct {
		number uint32
		ok     bool
	}{
		{0x02010c00, true},  // 2.1.12-stable
		{0x02010d00, true},  // a later 2.1 release
		{0x02010b00, false}, // 2.1.11
		{0x02000000, false}, // 2.0
		{0x02020000, false}, // 2.2.0
		{0x03000000, false},
	}
	for _, c := range cases {
		err := checkVersion(c.number, "test")
		if c.ok {
			assert.NoError(t, err, "0x%08x", c.number)
		} else {
			assert.ErrorContains(t, err, "needs libevent 2.1.12", "0x%08x", c.number)
		}
	}
}

// TestVersionCheckAtCompileTime compiles libevent_version.h against fake
// libevent headers with other version numbers.
func TestVersionCheckAtCompileTime(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	require.NoError(t, err, "gcc is needed for cgo")
	cases := []struct {
		name    string
		define  string
		message string
	}{
		{"2.1.12", "#define LIBEVENT_VERSION_NUMBER 0x02010c00", ""},
		{"2.1.13", "#define LIBEVENT_VERSION_NUMBER 0x02010d00", ""},
		{"2.1.11", "#define LIBEVENT_VERSION_NUMBER 0x02010b00", "libevent is older than 2.1.12"},
		{"2.2.1", "#define LIBEVENT_VERSION_NUMBER 0x02020100", "newer than the 2.1 series"},
		{"none", "", "define no LIBEVENT_VERSION_NUMBER"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "event2"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "event2", "event.h"), []byte(c.define+"\n"), 0o644))
			src := filepath.Join(dir, "check.c")
			require.NoError(t, os.WriteFile(src, []byte("#include \"libevent_version.h\"\n"), 0o644))
			wd, err := os.Getwd()
			require.NoError(t, err)
			out, err := exec.Command(cc, "-fsyntax-only", "-I", dir, "-I", wd, src).CombinedOutput()
			if c.message == "" {
				assert.NoError(t, err, "%s", out)
				return
			}
			assert.Error(t, err)
			assert.Contains(t, string(out), c.message)
			assert.Contains(t, string(out), "third_party/libevent/setup.sh")
		})
	}
}

// TestLinkage reads the test binary's ELF dynamic section: the default build
// must need no libevent shared object, the libevent_shared build must.
func TestLinkage(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	f, err := elf.Open(exe)
	require.NoError(t, err)
	defer f.Close()
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	var libevent []string
	for _, lib := range libs {
		if strings.HasPrefix(lib, "libevent") {
			libevent = append(libevent, lib)
		}
	}
	if linkedStatically {
		assert.Empty(t, libevent, "a statically linked binary needs libevent shared objects: %v", libs)
	} else {
		assert.NotEmpty(t, libevent, "the libevent_shared build needs no libevent shared object: %v", libs)
	}
}

func goCommand(t *testing.T) string {
	t.Helper()
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p, err := exec.LookPath("go")
	require.NoError(t, err)
	return p
}

func TestBuildWithoutCgoFails(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	cmd := exec.Command(goCommand(t), "build", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "a build without cgo succeeded: %s", out)
	assert.Contains(t, string(out), "needs_cgo__build_with_CGO_ENABLED_1")
}

// recordHandler is a slog.Handler that keeps every record.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
	level   slog.Level
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}

func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) snapshot() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.records...)
}

// captureLog sends the package's log to a recordHandler until the test ends.
func captureLog(t *testing.T, level slog.Level) *recordHandler {
	h := &recordHandler{level: level}
	SetLogger(slog.New(h))
	t.Cleanup(func() { SetLogger(nil) })
	return h
}

func TestLogLevels(t *testing.T) {
	assert.Equal(t, slog.LevelDebug, logLevel(0))
	assert.Equal(t, slog.LevelInfo, logLevel(1))
	assert.Equal(t, slog.LevelWarn, logLevel(2))
	assert.Equal(t, slog.LevelError, logLevel(3))
}

func TestDebugLoggingReachesSlog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		h := captureLog(t, slog.LevelDebug)
		SetDebugLogging(true)
		b := newBase(t, bk)
		tm, err := b.NewTimer(func(*Event, EventFlags) {})
		require.NoError(t, err)
		require.NoError(t, tm.AddTimeout(0))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		SetDebugLogging(false)

		records := h.snapshot()
		require.NotEmpty(t, records, "no debug messages from libevent")
		var sawAdd bool
		for _, r := range records {
			assert.Equal(t, slog.LevelDebug, r.Level, r.Message)
			if strings.Contains(r.Message, "event_add") {
				sawAdd = true
			}
		}
		assert.True(t, sawAdd, "no event_add debug message among %d", len(records))

		n := len(h.snapshot())
		require.NoError(t, tm.AddTimeout(0))
		require.ErrorIs(t, b.Dispatch(), ErrNoEvents)
		assert.Len(t, h.snapshot(), n, "debug messages after SetDebugLogging(false)")
	})
}

// TestFatalErrorIsLogged runs a child process in which libevent reports a
// fatal error, and checks that the logger saw it before the process ended.
func TestFatalErrorIsLogged(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childProcessEnv+"=fatal")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "the child did not fail: %s", stderr.String())
	assert.Equal(t, 1, exitErr.ExitCode())

	var sawMessage, sawFatal bool
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not a JSON log line: %q", line)
		msg, _ := rec["msg"].(string)
		if strings.Contains(msg, "event_enable_debug_mode was called twice") {
			sawMessage = true
			assert.Equal(t, "ERROR", rec["level"])
		}
		if strings.Contains(msg, "fatal error") {
			sawFatal = true
			assert.Equal(t, "ERROR", rec["level"])
			assert.EqualValues(t, 1, rec["code"])
		}
	}
	assert.True(t, sawMessage, "libevent's message is missing: %s", stderr.String())
	assert.True(t, sawFatal, "the fatal report is missing: %s", stderr.String())
}

func TestDebugSettingsAfterBaseAreTooLate(t *testing.T) {
	b, err := NewBase(nil)
	require.NoError(t, err)
	defer b.Close()
	if os.Getenv(debugModeEnv) == "1" {
		// Both are on already, and a repeated call succeeds.
		assert.NoError(t, EnableDebugMode())
		assert.NoError(t, EnableLockDebugging())
		return
	}
	assert.ErrorIs(t, EnableDebugMode(), ErrTooLate)
	assert.ErrorIs(t, EnableLockDebugging(), ErrTooLate)
}
