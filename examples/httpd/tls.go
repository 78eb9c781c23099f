//go:build !libevent_no_openssl

package main

import libevent "github.com/golibevent/libevent"

// serveTLS makes srv serve HTTPS with the certificate and key files.
func serveTLS(srv *libevent.HTTPServer, certFile, keyFile string) error {
	cfg, err := libevent.NewTLSServerConfig(libevent.TLSOptions{CertificateFile: certFile, KeyFile: keyFile})
	if err != nil {
		return err
	}
	// The server keeps its own reference to the context.
	defer cfg.Close()
	return srv.SetTLS(cfg)
}
