//go:build cgo && !asan

package libevent

// asanBuild reports a build with AddressSanitizer, which never installs the
// allocation cache.
const asanBuild = false
