//go:build libevent_no_openssl

package main

import (
	"errors"

	libevent "github.com/golibevent/libevent"
)

// serveTLS fails, because the libevent_no_openssl build has no TLS.
func serveTLS([]*libevent.HTTPServer, string, string) error {
	return errors.New("-tls-cert needs a build with OpenSSL; rebuild without the libevent_no_openssl tag")
}
