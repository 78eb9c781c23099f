//go:build cgo && libevent_shared && !libevent_no_openssl

package libevent

// With the libevent_shared build tag, libevent's OpenSSL bufferevents come
// from its shared library too, found through pkg-config with OpenSSL's.

// #cgo pkg-config: libevent_openssl libssl libcrypto
import "C"
