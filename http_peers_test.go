//go:build cgo

package libevent

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startPeerServer serves /hello, /echo (method, Content-Length header and
// body back) and /peer (the client's port, which tells connections apart).
func startPeerServer(t *testing.T, bk backend) *httpServer {
	return startHTTPServer(t, bk, func(s *HTTPServer) {
		require.NoError(t, s.SetDefaultContentType("text/plain"))
		require.NoError(t, s.Handle("/hello", func(r *HTTPRequest) {
			assert.NoError(t, r.SendReply(200, "OK", []byte("hello\n")))
		}))
		require.NoError(t, s.Handle("/echo", func(r *HTTPRequest) {
			body, err := io.ReadAll(r.Body())
			assert.NoError(t, err)
			reply := fmt.Sprintf("%s %d %s", r.Method(), len(body), body)
			assert.NoError(t, r.SendReply(200, "OK", []byte(reply)))
		}))
		require.NoError(t, s.Handle("/peer", func(r *HTTPRequest) {
			addr, ok := r.RemoteAddr().(*net.TCPAddr)
			port := 0
			if assert.True(t, ok) {
				port = addr.Port
			}
			assert.NoError(t, r.SendReply(200, "OK", []byte(strconv.Itoa(port)+"\n")))
		}))
	})
}

func TestHTTPServerWithCurl(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startPeerServer(t, bk)

		out := runPeer(t, nil, "curl", "-sS", "--max-time", "30", hs.url+"/hello")
		assert.Equal(t, "hello\n", string(out))

		out = runPeer(t, nil, "curl", "-sS", "--max-time", "30", "--data-binary", "a=1&b=2", hs.url+"/echo")
		assert.Equal(t, "POST 7 a=1&b=2", string(out))

		upload := strings.Repeat("chunk ", 5000)
		out = runPeer(t, []byte(upload), "curl", "-sS", "--max-time", "30",
			"-H", "Transfer-Encoding: chunked", "--data-binary", "@-", hs.url+"/echo")
		assert.Equal(t, fmt.Sprintf("POST %d %s", len(upload), upload), string(out))

		// curl waits for 100 Continue before it sends the body; libevent
		// sends it for a request with Expect: 100-continue.
		out = runPeer(t, []byte("expected body"), "curl", "-sS", "--max-time", "30",
			"-H", "Expect: 100-continue", "-X", "PUT", "--data-binary", "@-", "-w", " %{http_code}", hs.url+"/echo")
		assert.Equal(t, "PUT 13 expected body 200", string(out))

		// Two URLs in one run share a keep-alive connection, so the server
		// sees the same client port twice.
		out = runPeer(t, nil, "curl", "-sS", "--max-time", "30", hs.url+"/peer", hs.url+"/peer")
		ports := strings.Fields(string(out))
		require.Len(t, ports, 2)
		assert.Equal(t, ports[0], ports[1], "curl opened two connections")
	})
}

func TestHTTPServerWithPython(t *testing.T) {
	const script = `
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for path in ("/peer", "/peer"):
    c.request("GET", path)
    r = c.getresponse()
    print(r.status, r.read().decode().strip())
c.request("POST", "/echo", body=b"from python", headers={"Content-Type": "text/plain"})
r = c.getresponse()
print(r.status, r.getheader("Content-Type"), r.read().decode())
`
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startPeerServer(t, bk)
		_, port, err := net.SplitHostPort(hs.addr)
		require.NoError(t, err)
		out := runPeer(t, nil, "python3", "-c", script, port)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		require.Len(t, lines, 3, "output: %s", out)
		first, second := strings.Fields(lines[0]), strings.Fields(lines[1])
		require.Len(t, first, 2)
		require.Len(t, second, 2)
		assert.Equal(t, "200", first[0])
		assert.Equal(t, first[1], second[1], "python opened two connections")
		assert.Equal(t, "200 text/plain POST 11 from python", lines[2])
	})
}

func TestHTTPServerPipelinedRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startPeerServer(t, bk)
		c, err := net.Dial("tcp", hs.addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
		_, err = io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"+
			"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\npipe"+
			"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		rd := bufio.NewReader(c)
		var bodies []string
		for i := 0; i < 3; i++ {
			resp, err := http.ReadResponse(rd, nil)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			bodies = append(bodies, string(body))
		}
		assert.Equal(t, []string{"hello\n", "POST 4 pipe", "hello\n"}, bodies)
		_, err = rd.ReadByte()
		assert.ErrorIs(t, err, io.EOF)
	})
}

// wrk runs for one second with one thread and ten connections; the test
// checks that every request got a 2xx reply, not how fast.
func TestHTTPServerWithWrk(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		hs := startPeerServer(t, bk)
		out := string(runPeer(t, nil, "wrk", "-t1", "-c10", "-d1s", hs.url+"/hello"))
		m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out)
		require.NotNil(t, m, "wrk output: %s", out)
		n, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		assert.Positive(t, n, "wrk output: %s", out)
		assert.NotContains(t, out, "Non-2xx")
		assert.NotContains(t, out, "Socket errors")
	})
}
