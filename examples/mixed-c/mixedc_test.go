// Package mixedc tests the mixed-c example: it builds the C program with
// build.sh, checks that the program holds one copy of libevent, and runs it
// on every backend with curl as the client.
package mixedc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	buildOnce   sync.Once
	programPath string
	buildErr    error
	buildDir    string
)

// TestMain removes the build folder after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// program builds the example once per test binary and returns its path.
func program(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mixed-c-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("./build.sh", buildDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build.sh failed: %v\n%s", err, out)
			return
		}
		programPath = filepath.Join(buildDir, "mixed-c")
	})
	require.NoError(t, buildErr)
	return programPath
}

func TestProgramHasOneLibevent(t *testing.T) {
	path := program(t)

	out, err := exec.Command("nm", path).Output()
	require.NoError(t, err, "nm")
	// Each name is defined by exactly one object file of libevent; a
	// second copy would show a second definition.
	for _, name := range []string{"event_base_new", "event_global_setup_locks_", "evhttp_new", "evthread_use_pthreads"} {
		defs := regexp.MustCompile(`(?m)^[0-9a-f]+ [Tt] `+regexp.QuoteMeta(name)+`$`).FindAllString(string(out), -1)
		assert.Len(t, defs, 1, "definitions of %s", name)
	}

	out, err = exec.Command("ldd", path).Output()
	require.NoError(t, err, "ldd")
	assert.NotContains(t, string(out), "libevent", "the program loads a shared libevent")
}

// backends select each Linux backend through the environment variables
// that event_base_new reads, because the C program creates its base with
// libevent's defaults.
var backends = []struct {
	name   string
	env    []string
	method string
}{
	{"epoll", nil, "epoll"},
	{"epoll-changelist", []string{"EVENT_EPOLL_USE_CHANGELIST=1"}, "epoll (with changelist)"},
	{"poll", []string{"EVENT_NOEPOLL=1"}, "poll"},
	{"select", []string{"EVENT_NOEPOLL=1", "EVENT_NOPOLL=1"}, "select"},
}

var listeningLine = regexp.MustCompile(`^mixed-c: listening on 127\.0\.0\.1:(\d+) with (.+)$`)

func TestProgramServesCAndGo(t *testing.T) {
	path := program(t)
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// The program ends by itself after 30 seconds at most.
			cmd := exec.CommandContext(ctx, path, "0", "30")
			cmd.Env = append(cleanEnv(), bk.env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			lines := bufio.NewScanner(stdout)

			var output []string
			port, method := "", ""
			for port == "" && lines.Scan() {
				output = append(output, lines.Text())
				if m := listeningLine.FindStringSubmatch(lines.Text()); m != nil {
					port, method = m[1], m[2]
				}
			}
			require.NotEmpty(t, port, "no listening line; output %q, stderr %q", output, stderr.String())
			assert.Equal(t, bk.method, method)

			base := "http://127.0.0.1:" + port
			assert.Equal(t, "hello from C\n", curl(t, base+"/c"))
			goBody := curl(t, base+"/go")
			assert.True(t, strings.HasPrefix(goBody, "hello from Go on the C program's loop ("+bk.method+")"), "/go body %q", goBody)

			for lines.Scan() {
				output = append(output, lines.Text())
			}
			require.NoError(t, cmd.Wait(), "exit status; stderr %q", stderr.String())
			assert.Empty(t, stderr.String())

			text := strings.Join(output, "\n")
			assert.Contains(t, text, "go: initialized with libevent 2.1.")
			assert.Contains(t, text, "go: allocation cache enabled: false")
			assert.Contains(t, text, "c: served /c")
			assert.Contains(t, text, "go: served /go")
			assert.Equal(t, "mixed-c: done", output[len(output)-1])
			// The first tick is due 100 ms after start and the loop ends
			// 200 ms after /go, so the timer has fired by then whatever
			// the machine's speed.
			m := regexp.MustCompile(`go: stopped after (\d+) timer ticks`).FindStringSubmatch(text)
			require.NotNil(t, m, "no tick count in %q", text)
			ticks, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			assert.GreaterOrEqual(t, ticks, 1)
		})
	}
}

// cleanEnv returns the environment without libevent's EVENT_* variables,
// so that each run chooses its backend alone.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENT_") {
			env = append(env, kv)
		}
	}
	return env
}

// curl fetches url with curl and returns the body; a status other than 200
// fails the test.
func curl(t *testing.T, url string) string {
	t.Helper()
	out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "30", url).Output()
	if exitErr, ok := err.(*exec.ExitError); ok {
		t.Fatalf("curl %s: %v: %s", url, err, exitErr.Stderr)
	}
	require.NoError(t, err, "curl %s", url)
	return string(out)
}
