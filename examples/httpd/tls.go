//go:build !libevent_no_openssl

package main

import libevent "github.com/golibevent/libevent"

// serveTLS makes every server serve HTTPS with the certificate and key
// files, which are read once.
func serveTLS(servers []*libevent.HTTPServer, certFile, keyFile string) error {
	cfg, err := libevent.NewTLSServerConfig(libevent.TLSOptions{CertificateFile: certFile, KeyFile: keyFile})
	if err != nil {
		return err
	}
	// Each server keeps its own reference to the context.
	defer cfg.Close()
	for _, srv := range servers {
		if err := srv.SetTLS(cfg); err != nil {
			return err
		}
	}
	return nil
}
