//go:build cgo && libevent_no_openssl

package libevent

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBuildWithoutOpenSSL checks that the libevent_no_openssl build tag
// leaves OpenSSL out of the program.
func TestBuildWithoutOpenSSL(t *testing.T) {
	libs := importedLibraries(t)
	assert.False(t, OpenSSLBuiltIn)
	assert.False(t, hasLibrary(libs, "libssl"), "libraries %v", libs)
	assert.False(t, hasLibrary(libs, "libcrypto"), "libraries %v", libs)
}
