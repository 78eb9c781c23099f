//go:build cgo && !libevent_shared && darwin

package libevent

// Apple's linker has no -Bstatic, and Homebrew installs the shared and the
// static libevent side by side, so a static link cannot be requested the way
// the Linux build does it. The undefined name below stops the build with a
// message that names the fix.

var _ = golibevent_static_linking_is_not_supported_on_macOS__build_with_tags_libevent_shared
