//go:build cgo && libevent_no_openssl

package libevent

// OpenSSLBuiltIn reports whether the package was built with OpenSSL
// bufferevents. The libevent_no_openssl build tag leaves them out.
const OpenSSLBuiltIn = false
