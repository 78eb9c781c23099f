//go:build !libevent_no_openssl

package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPDCoresServesHTTPS(t *testing.T) {
	const requests = 60
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
	pem, err := os.ReadFile(certFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))

	for _, bk := range backendEnvs {
		t.Run(bk.name, func(t *testing.T) {
			p := startHTTPD(t, bk.env, "-cores", "2", "-tls-cert", certFile, "-tls-key", keyFile)
			client := newConnectionClient(&tls.Config{RootCAs: roots})
			base := "https://" + p.addr

			assert.Equal(t, requests, getMany(t, client, base+"/hello", requests))
			counts := fetchStats(t, client, base+"/stats")
			require.Len(t, counts, 2)
			assert.Equal(t, int64(requests+1), counts[0]+counts[1], "counts %v", counts)
			assert.Positive(t, counts[0], "base 0 served none; counts %v", counts)
			assert.Positive(t, counts[1], "base 1 served none; counts %v", counts)

			// Plain HTTP on the HTTPS port gets no HTTP reply from
			// either base.
			plain := newConnectionClient(nil)
			for range 4 {
				resp, err := plain.Get("http://" + p.addr + "/hello")
				if err == nil {
					resp.Body.Close()
				}
				assert.Error(t, err, "plain HTTP was answered")
			}

			log := p.stop(t, syscall.SIGINT)
			assert.Contains(t, log, "scheme=https")
			assert.Contains(t, log, "httpd: stopping signal=interrupt")
			assert.Contains(t, log, "httpd: stopped")
		})
	}
}
