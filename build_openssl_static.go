//go:build cgo && !libevent_shared && !libevent_no_openssl && !darwin

package libevent

// libevent's OpenSSL bufferevents come from its static archive, like the
// rest of libevent, while OpenSSL itself (libssl and libcrypto) is linked
// dynamically so that the system's security updates reach the program.
// This file sorts before build_static.go, so the archive that uses
// libevent_core comes first on the linker's command line. The
// libevent_no_openssl build tag leaves all of this out.

// #cgo LDFLAGS: -Wl,-Bstatic -levent_openssl -Wl,-Bdynamic -lssl -lcrypto
import "C"
