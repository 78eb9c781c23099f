package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// httpdProcess is httpd running as a child process of the test.
type httpdProcess struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	logged []string
	// addr is the address from the "httpd: serving" log line.
	addr string
}

// startHTTPD starts httpd with args on 127.0.0.1:0, with env added to the
// environment, and waits for its "httpd: serving" line. The process is
// killed when the test ends if it still runs.
func startHTTPD(t *testing.T, env []string, args ...string) *httpdProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	args = append([]string{"-listen", "127.0.0.1:0", "-root", t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(withoutEventVars(os.Environ()), runMainEnv+"=1")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	p := &httpdProcess{cmd: cmd, lines: bufio.NewScanner(stderr)}
	for p.addr == "" && p.lines.Scan() {
		p.logged = append(p.logged, p.lines.Text())
		if m := servingLine.FindStringSubmatch(p.lines.Text()); m != nil {
			p.addr = m[1]
		}
	}
	require.NotEmpty(t, p.addr, "no serving line in %q", p.logged)
	return p
}

// stop sends sig to httpd, waits for it to exit and returns its whole log.
func (p *httpdProcess) stop(t *testing.T, sig syscall.Signal) string {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	for p.lines.Scan() {
		p.logged = append(p.logged, p.lines.Text())
	}
	log := strings.Join(p.logged, "\n")
	require.NoError(t, p.cmd.Wait(), "exit status; log %q", log)
	assert.Equal(t, 0, p.cmd.ProcessState.ExitCode())
	return log
}

// getMany sends n GET requests for url from 8 goroutines, each over a new
// connection, and returns how many got 200 with the /hello body.
func getMany(t *testing.T, client *http.Client, url string, n int) int {
	t.Helper()
	var mu sync.Mutex
	ok := 0
	var errs []error

	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				resp, err := client.Get(url)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if err == nil && resp.StatusCode == 200 && string(body) == "hello from libevent\n" {
					ok++
				} else {
					errs = append(errs, fmt.Errorf("status %d, body %q, read error %v", resp.StatusCode, body, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	if len(errs) > 0 {
		t.Errorf("%d of %d requests failed; first: %v", len(errs), n, errs[0])
	}
	return ok
}

var statsLine = regexp.MustCompile(`^base=(\d+) requests=(\d+)$`)

// fetchStats returns the request count of each base from /stats.
func fetchStats(t *testing.T, client *http.Client, url string) []int64 {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	var counts []int64
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		m := statsLine.FindStringSubmatch(line)
		require.NotNil(t, m, "stats line %q", line)
		index, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		require.Equal(t, len(counts), index, "stats out of order: %q", body)
		count, err := strconv.ParseInt(m[2], 10, 64)
		require.NoError(t, err)
		counts = append(counts, count)
	}
	return counts
}

// newConnectionClient returns a client that opens a new connection for
// every request, so that each request may land on another base.
func newConnectionClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsConfig},
	}
}

func TestHTTPDCoresSpreadsConnections(t *testing.T) {
	const requests = 300
	for _, bk := range backendEnvs {
		t.Run(bk.name, func(t *testing.T) {
			p := startHTTPD(t, bk.env, "-cores", "2")
			client := newConnectionClient(nil)
			base := "http://" + p.addr

			assert.Equal(t, requests, getMany(t, client, base+"/hello", requests))
			counts := fetchStats(t, client, base+"/stats")
			require.Len(t, counts, 2)
			// The /stats request counts on the base that served it.
			assert.Equal(t, int64(requests+1), counts[0]+counts[1], "counts %v", counts)
			// The kernel hashes each connection's addresses and ports to
			// pick a listener, so with 300 connections from different
			// source ports both get some unless the hash is broken.
			assert.Positive(t, counts[0], "base 0 served none; counts %v", counts)
			assert.Positive(t, counts[1], "base 1 served none; counts %v", counts)

			log := p.stop(t, syscall.SIGTERM)
			assert.Contains(t, log, "cores=2 ")
			assert.Contains(t, log, bk.logged)
			assert.Contains(t, log, "httpd: stopping signal=terminated")
			assert.Contains(t, log, fmt.Sprintf("httpd: stopped requests_per_base=\"[%d %d]\"", counts[0], counts[1]))
		})
	}
}

func TestHTTPDCoresOnePerCPU(t *testing.T) {
	for _, value := range []string{"0", "-1"} {
		t.Run(value, func(t *testing.T) {
			for _, bk := range backendEnvs {
				t.Run(bk.name, func(t *testing.T) {
					p := startHTTPD(t, bk.env, "-cores", value)
					client := newConnectionClient(nil)
					assert.Equal(t, 20, getMany(t, client, "http://"+p.addr+"/hello", 20))
					counts := fetchStats(t, client, "http://"+p.addr+"/stats")
					assert.Len(t, counts, runtime.NumCPU())

					log := p.stop(t, syscall.SIGTERM)
					assert.Contains(t, log, fmt.Sprintf("cores=%d ", runtime.NumCPU()))
					assert.Contains(t, log, "httpd: stopped")
				})
			}
		})
	}
}

func TestHTTPDCoresDefaultIsOne(t *testing.T) {
	for _, bk := range backendEnvs {
		t.Run(bk.name, func(t *testing.T) {
			p := startHTTPD(t, bk.env)
			client := newConnectionClient(nil)
			assert.Equal(t, 10, getMany(t, client, "http://"+p.addr+"/hello", 10))
			assert.Equal(t, []int64{11}, fetchStats(t, client, "http://"+p.addr+"/stats"))
			log := p.stop(t, syscall.SIGTERM)
			assert.Contains(t, log, "cores=1 ")
			assert.Contains(t, log, bk.logged)
		})
	}
}

func TestHTTPDCoresInvalid(t *testing.T) {
	cfg := config{listen: "127.0.0.1:0", root: t.TempDir(), runFor: time.Millisecond, cores: -2}
	assert.ErrorContains(t, run(cfg), "invalid -cores -2")
}

func TestHTTPDCoresStopsAfterFor(t *testing.T) {
	cfg := config{listen: "127.0.0.1:0", root: t.TempDir(), runFor: 50 * time.Millisecond, cores: 2}
	assert.NoError(t, run(cfg))
}
