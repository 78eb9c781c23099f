package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// runMainEnv makes the test binary run main instead of the tests, so that
// a test can run the server in a child process and stop it with a signal.
const runMainEnv = "DNS_EXAMPLE_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

var backends = []string{"", "epoll", "epoll-changelist", "poll", "select"}

const testHosts = `# names for the example's test
127.0.0.2 a.test alias.test
::2 a.test
127.0.0.3 v4only.test
`

// startServe runs "dns serve" in a child process on 127.0.0.1:0 and returns
// its address. The child is stopped with SIGTERM when the test ends, and it
// must exit with status 0.
func startServe(t *testing.T, backend string) string {
	t.Helper()
	hosts := filepath.Join(t.TempDir(), "hosts")
	require.NoError(t, os.WriteFile(hosts, []byte(testHosts), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "-listen", "127.0.0.1:0", "-hosts", hosts, "-ttl", "42s", "-backend", backend)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		// Wait finishes copying the child's standard error before the
		// buffer is read.
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
		t.Fatalf("dns serve did not start: %v: %s", err, stderr.String())
	}
	t.Cleanup(func() {
		defer cancel()
		require.NoError(t, cmd.Process.Signal(unix.SIGTERM))
		assert.NoError(t, cmd.Wait(), "dns serve: %s", stderr.String())
		assert.Empty(t, stderr.String())
	})
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "unexpected first line %q", line)
	return addr
}

func resolve(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(append([]string{"resolve"}, args...), &out, &errOut)
	return status, out.String(), errOut.String()
}

// TestResolveAgainstServe runs both modes against each other on loopback,
// on every backend.
func TestResolveAgainstServe(t *testing.T) {
	for _, backend := range backends {
		t.Run("backend="+backend, func(t *testing.T) {
			addr := startServe(t, backend)

			status, out, errOut := resolve(t, "-nameserver", addr, "-backend", backend, "a.test", "v4only.test")
			assert.Equal(t, 0, status, errOut)
			assert.Equal(t, "a.test A 127.0.0.2 ttl=42s\na.test AAAA ::2 ttl=42s\nv4only.test A 127.0.0.3 ttl=42s\n", out)

			status, out, errOut = resolve(t, "-nameserver", addr, "-backend", backend, "-type", "PTR", "127.0.0.2", "::2")
			assert.Equal(t, 0, status, errOut)
			assert.Equal(t, "127.0.0.2 PTR a.test ttl=42s\n::2 PTR a.test ttl=42s\n", out)

			status, _, errOut = resolve(t, "-nameserver", addr, "-backend", backend, "-type", "A", "missing.test")
			assert.Equal(t, 1, status)
			assert.Contains(t, errOut, "DNS_ERR_NOTEXIST")

			status, _, errOut = resolve(t, "-nameserver", addr, "-backend", backend, "-type", "AAAA", "v4only.test")
			assert.Equal(t, 1, status)
			assert.Contains(t, errOut, "DNS_ERR_NODATA")

			out = string(runDig(t, addr, "alias.test"))
			assert.Contains(t, out, "flags: qr aa")
			assert.Contains(t, out, "127.0.0.2")
		})
	}
}

func runDig(t *testing.T, addr, name string) []byte {
	t.Helper()
	host, port, ok := strings.Cut(addr, ":")
	require.True(t, ok)
	path, err := exec.LookPath("dig")
	require.NoError(t, err, "dig is missing; make test installs it (setup.sh --test-tools)")
	out, err := exec.Command(path, "@"+host, "-p", port, "+tries=1", "+time=10", "+norecurse", name, "A").Output()
	require.NoError(t, err)
	return out
}

// TestCommandLineErrors checks the usage errors of both modes.
func TestCommandLineErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(nil, &out, &errOut))
	assert.Equal(t, 2, run([]string{"bogus"}, &out, &errOut))
	assert.Equal(t, 2, run([]string{"resolve", "a.test"}, &out, &errOut), "a nameserver is required")
	assert.Equal(t, 2, run([]string{"resolve", "-nameserver", "127.0.0.1:1"}, &out, &errOut))
	assert.Equal(t, 2, run([]string{"resolve", "-nameserver", "127.0.0.1:1", "-type", "MX", "a.test"}, &out, &errOut))
	assert.Equal(t, 2, run([]string{"serve"}, &out, &errOut), "a hosts file is required")
	assert.Equal(t, 2, run([]string{"serve", "-hosts", "x", "-listen", "0.0.0.0:5353"}, &out, &errOut), "loopback only")
	assert.Equal(t, 1, run([]string{"serve", "-hosts", filepath.Join(t.TempDir(), "missing")}, &out, &errOut))
	assert.Contains(t, errOut.String(), "must be a loopback IP address")
}

// TestParseHosts reads a hosts file with comments, aliases and both
// families, and rejects malformed lines.
func TestParseHosts(t *testing.T) {
	z, err := parseHosts(strings.NewReader(testHosts))
	require.NoError(t, err)
	assert.Len(t, z.v4["alias.test"], 1)
	assert.Len(t, z.v6["a.test"], 1)
	assert.Equal(t, "a.test", z.ptr["2.0.0.127.in-addr.arpa"])
	assert.Equal(t, "a.test", z.ptr["2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"])

	_, err = parseHosts(strings.NewReader("127.0.0.1\n"))
	assert.ErrorContains(t, err, "line 1")
	_, err = parseHosts(strings.NewReader("# ok\nnot-an-ip name\n"))
	assert.ErrorContains(t, err, "line 2")
}
