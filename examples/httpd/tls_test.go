//go:build !libevent_no_openssl

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	libevent "github.com/golibevent/libevent"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key to dir and returns the two paths.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "httpd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

func TestHTTPDServesHTTPS(t *testing.T) {
	curl, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is missing; make test installs it (setup.sh --test-tools)")
	certFile, keyFile := writeSelfSigned(t, t.TempDir())

	for _, method := range []string{"epoll", "poll", "select"} {
		t.Run(method, func(t *testing.T) {
			b, err := libevent.NewBase(&libevent.Config{Method: method, Flags: libevent.IgnoreEnv})
			require.NoError(t, err)
			defer b.Close()
			srv := newTestServer(t, b, t.TempDir())
			defer srv.Close()
			require.NoError(t, serveTLS([]*libevent.HTTPServer{srv}, certFile, keyFile))
			addr, err := srv.Bind("127.0.0.1:0")
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx) }()
			defer func() {
				cancel()
				<-done
			}()

			runCtx, stop := context.WithTimeout(context.Background(), time.Minute)
			defer stop()
			out, err := exec.CommandContext(runCtx, curl, "-sS", "--max-time", "30", "--cacert", certFile,
				"https://"+addr.String()+"/hello").CombinedOutput()
			require.NoError(t, err, "curl: %s", out)
			assert.Equal(t, "hello from libevent\n", string(out))
		})
	}
}

func TestHTTPDTLSFlagsNeedEachOther(t *testing.T) {
	cfg := config{listen: "127.0.0.1:0", root: t.TempDir(), runFor: time.Millisecond, cores: 1, tlsCert: "cert.pem"}
	err := run(cfg)
	assert.ErrorContains(t, err, "-tls-cert and -tls-key must be given together")
	cfg.tlsCert, cfg.tlsKey = "", "key.pem"
	err = run(cfg)
	assert.ErrorContains(t, err, "-tls-cert and -tls-key must be given together")
}

func TestHTTPDTLSMissingFile(t *testing.T) {
	b, err := libevent.NewBase(nil)
	require.NoError(t, err)
	defer b.Close()
	srv := newTestServer(t, b, t.TempDir())
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	assert.ErrorIs(t, serveTLS([]*libevent.HTTPServer{srv}, missing, missing), os.ErrNotExist)
}
