//go:build cgo

package libevent

import (
	"debug/elf"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// importedLibraries returns the shared objects that the test binary needs.
func importedLibraries(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	f, err := elf.Open(exe)
	require.NoError(t, err)
	defer f.Close()
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	return libs
}

// hasLibrary reports whether a name in libs starts with prefix.
func hasLibrary(libs []string, prefix string) bool {
	for _, lib := range libs {
		if strings.HasPrefix(lib, prefix) {
			return true
		}
	}
	return false
}
