package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runMainEnv makes the test binary run httpd's main instead of the tests,
// so that a test can start httpd as a child process and signal it.
const runMainEnv = "HTTPD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// backendEnvs select each Linux backend through the environment variables
// that libevent reads, because httpd creates its base with the defaults.
var backendEnvs = []struct {
	name string
	env  []string
	// logged is how httpd's log line shows the backend.
	logged string
}{
	{"epoll", nil, "backend=epoll\n"},
	{"epoll-changelist", []string{"EVENT_EPOLL_USE_CHANGELIST=1"}, `backend="epoll (with changelist)"`},
	{"poll", []string{"EVENT_NOEPOLL=1"}, "backend=poll\n"},
	{"select", []string{"EVENT_NOEPOLL=1", "EVENT_NOPOLL=1"}, "backend=select\n"},
}

var servingLine = regexp.MustCompile(`httpd: serving addr=(127\.0\.0\.1:\d+)`)

func TestHTTPDStopsOnSignal(t *testing.T) {
	signals := []struct {
		sig  syscall.Signal
		name string
	}{
		{syscall.SIGTERM, "terminated"},
		{syscall.SIGINT, "interrupt"},
	}
	for _, bk := range backendEnvs {
		for _, s := range signals {
			t.Run(bk.name+"/"+s.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, os.Args[0], "-listen", "127.0.0.1:0", "-root", t.TempDir())
				cmd.Env = append(withoutEventVars(os.Environ()), runMainEnv+"=1")
				cmd.Env = append(cmd.Env, bk.env...)
				stderr, err := cmd.StderrPipe()
				require.NoError(t, err)
				require.NoError(t, cmd.Start())

				lines := bufio.NewScanner(stderr)
				var logged []string
				addr := ""
				for addr == "" && lines.Scan() {
					logged = append(logged, lines.Text())
					if m := servingLine.FindStringSubmatch(lines.Text()); m != nil {
						addr = m[1]
					}
				}
				require.NotEmpty(t, addr, "no serving line in %q", logged)

				resp, err := http.Get("http://" + addr + "/hello")
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.NoError(t, err)
				assert.Equal(t, "hello from libevent\n", string(body))

				require.NoError(t, cmd.Process.Signal(s.sig))
				for lines.Scan() {
					logged = append(logged, lines.Text())
				}
				require.NoError(t, cmd.Wait(), "exit status; log %q", logged)
				assert.Equal(t, 0, cmd.ProcessState.ExitCode())

				log := strings.Join(logged, "\n")
				assert.Contains(t, log, bk.logged)
				assert.Contains(t, log, "httpd: stopping signal="+s.name)
				assert.Contains(t, log, "httpd: stopped")
			})
		}
	}
}

// withoutEventVars drops libevent's EVENT_* variables from env.
func withoutEventVars(env []string) []string {
	var kept []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "EVENT_") {
			kept = append(kept, kv)
		}
	}
	return kept
}
