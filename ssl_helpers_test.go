//go:build cgo && !libevent_no_openssl

package libevent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCert is a certificate made by the tests, with its key, in PEM form.
type testCert struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// tlsCertificate returns the certificate for crypto/tls.
func (c *testCert) tlsCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(c.certPEM, c.keyPEM)
	require.NoError(t, err)
	return pair
}

// testPKI holds a test CA and the certificates that it and a second,
// untrusted CA issued.
type testPKI struct {
	ca        *testCert
	server    *testCert // for localhost and 127.0.0.1
	expired   *testCert // for localhost and 127.0.0.1, expired yesterday
	wrongName *testCert // for other.example only
	untrusted *testCert // for localhost and 127.0.0.1, from the other CA
	client    *testCert // a client certificate, common name "test client"
	pool      *x509.CertPool
}

var (
	pkiOnce   sync.Once
	sharedPKI *testPKI
	pkiErr    error
)

// newTestPKI returns the certificates that the TLS tests share; they are
// made once per test binary.
func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { sharedPKI, pkiErr = makeTestPKI() })
	require.NoError(t, pkiErr)
	return sharedPKI
}

func makeTestPKI() (*testPKI, error) {
	now := time.Now()
	ca, err := issueCert(nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "golibevent test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return nil, err
	}
	other, err := issueCert(nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "golibevent untrusted CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return nil, err
	}
	serverTemplate := func(notBefore, notAfter time.Time, names ...string) *x509.Certificate {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: names[0]},
			NotBefore:   notBefore,
			NotAfter:    notAfter,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		for _, n := range names {
			if ip := net.ParseIP(n); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, n)
			}
		}
		return tmpl
	}
	p := &testPKI{ca: ca, pool: x509.NewCertPool()}
	p.pool.AddCert(ca.cert)
	if p.server, err = issueCert(ca, serverTemplate(now.Add(-time.Hour), now.Add(24*time.Hour), "localhost", "127.0.0.1")); err != nil {
		return nil, err
	}
	if p.expired, err = issueCert(ca, serverTemplate(now.Add(-48*time.Hour), now.Add(-24*time.Hour), "localhost", "127.0.0.1")); err != nil {
		return nil, err
	}
	if p.wrongName, err = issueCert(ca, serverTemplate(now.Add(-time.Hour), now.Add(24*time.Hour), "other.example")); err != nil {
		return nil, err
	}
	if p.untrusted, err = issueCert(other, serverTemplate(now.Add(-time.Hour), now.Add(24*time.Hour), "localhost", "127.0.0.1")); err != nil {
		return nil, err
	}
	p.client, err = issueCert(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "test client"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// issueCert makes a P-256 key and a certificate from tmpl, signed by
// issuer, or self-signed when issuer is nil.
func issueCert(issuer *testCert, tmpl *x509.Certificate) (*testCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	parent, signer := tmpl, key
	if issuer != nil {
		parent, signer = issuer.cert, issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &testCert{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// writePEMFile writes data to a file in the test's temporary folder and
// returns its path.
func writePEMFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// serverConfig returns a libevent server context with cert.
func serverConfig(t *testing.T, cert *testCert, change ...func(*TLSOptions)) *TLSConfig {
	t.Helper()
	opts := TLSOptions{CertificatePEM: cert.certPEM, KeyPEM: cert.keyPEM}
	for _, f := range change {
		f(&opts)
	}
	cfg, err := NewTLSServerConfig(opts)
	require.NoError(t, err)
	t.Cleanup(func() { cfg.Close() })
	return cfg
}

// clientConfig returns a libevent client context that trusts the test CA
// and expects serverName.
func clientConfig(t *testing.T, p *testPKI, serverName string, change ...func(*TLSOptions)) *TLSConfig {
	t.Helper()
	opts := TLSOptions{RootCAsPEM: p.ca.certPEM, ServerName: serverName}
	for _, f := range change {
		f(&opts)
	}
	cfg, err := NewTLSClientConfig(opts)
	require.NoError(t, err)
	t.Cleanup(func() { cfg.Close() })
	return cfg
}

// startGoTLSServer runs a crypto/tls server on 127.0.0.1 that hands each
// connection, after its handshake, to serve. It returns the address.
func startGoTLSServer(t *testing.T, cfg *tls.Config, serve func(conn *tls.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer raw.Close()
				raw.SetDeadline(time.Now().Add(time.Minute))
				conn := tls.Server(raw, cfg)
				if conn.Handshake() != nil {
					return
				}
				serve(conn)
			}()
		}
	}()
	return ln.Addr().String()
}
