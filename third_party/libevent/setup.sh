#!/bin/sh
# Installs what the package needs to build (libevent 2.1.12 headers and static
# archives, OpenSSL's development files, pkg-config and a C compiler) when it
# is missing, then verifies the libevent version. On Debian and Ubuntu it installs with apt-get, as root or
# through sudo. On other systems it prints the package names from PIN and
# exits with status 1 if something is missing.
#
# Usage: third_party/libevent/setup.sh [--check] [--test-tools]
#   --check       verify only; never install anything.
#   --test-tools  also install the peers that the tests run against
#                 (netcat-openbsd, socat, python3, curl, wrk, dnsmasq,
#                 dig) and binutils for nm, on Debian and Ubuntu.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
pin="$here/PIN"
check_only=0
test_tools=0
for arg in "$@"; do
	case "$arg" in
	--check) check_only=1 ;;
	--test-tools) test_tools=1 ;;
	*) printf 'libevent setup: unknown argument %s\n' "$arg" >&2; exit 2 ;;
	esac
done

pin_value() {
	sed -n "s/^$1=//p" "$pin" | head -n 1
}

want_version=$(pin_value version)
debian_packages=$(pin_value debian)

say() { printf 'libevent setup: %s\n' "$*"; }
fail() { printf 'libevent setup: %s\n' "$*" >&2; exit 1; }

os_id=""
os_like=""
if [ -r /etc/os-release ]; then
	# shellcheck disable=SC1091
	os_id=$(. /etc/os-release && printf '%s' "${ID:-}")
	os_like=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
fi
if [ "$(uname -s)" = Darwin ]; then
	os_id=macos
fi

is_debian_like() {
	case " $os_id $os_like " in
	*" debian "* | *" ubuntu "*) return 0 ;;
	esac
	return 1
}

# Prints the Debian packages among the arguments that are not installed.
missing_debian_packages() {
	for pkg in "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
		case "$status" in
		*" installed") ;;
		*) printf '%s ' "$pkg" ;;
		esac
	done
}

install_debian() {
	# gcc and libc6-dev are what cgo needs; make runs the README's commands.
	wanted="$debian_packages gcc libc6-dev make"
	if [ "$test_tools" = 1 ]; then
		wanted="$wanted $(pin_value debian_test_tools)"
	fi
	# shellcheck disable=SC2086
	missing=$(missing_debian_packages $wanted)
	[ -z "$missing" ] && return 0
	if [ "$check_only" = 1 ]; then
		fail "missing packages: $missing(install them with: apt-get install $missing)"
	fi
	if [ "$(id -u)" = 0 ]; then
		run_as_root=""
	elif command -v sudo >/dev/null 2>&1; then
		run_as_root="sudo"
	else
		fail "missing packages: $missing; run this script as root or install sudo"
	fi
	say "installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	$run_as_root apt-get update -qq
	# shellcheck disable=SC2086
	$run_as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

print_other_platform_help() {
	printf 'libevent setup: this script installs packages on Debian and Ubuntu only.\n' >&2
	printf 'Install libevent %s with its static archives, pkg-config and a C compiler:\n' "$want_version" >&2
	grep -E '^(fedora|alpine|arch|macos|freebsd)=' "$pin" | sed 's/=/: /; s/^/  /' >&2
	printf 'Then point CGO_CFLAGS and CGO_LDFLAGS at its include and lib folders if they are not on the default paths.\n' >&2
}

if is_debian_like; then
	install_debian
fi

# Verify what pkg-config reports, whatever installed it.
if ! command -v pkg-config >/dev/null 2>&1; then
	is_debian_like || print_other_platform_help
	fail "pkg-config not found"
fi
if ! have_version=$(pkg-config --modversion libevent_core 2>/dev/null); then
	is_debian_like || print_other_platform_help
	fail "libevent_core not found by pkg-config"
fi

# Accept 2.1.12 and later 2.1 releases; the package refuses anything else at
# compile time too, but a clear message here saves a confusing cgo error.
major_minor=$(printf '%s' "$have_version" | cut -d. -f1,2)
patch=$(printf '%s' "$have_version" | cut -d. -f3 | sed 's/[^0-9].*//')
if [ "$major_minor" != "2.1" ] || [ "${patch:-0}" -lt 12 ]; then
	fail "libevent $have_version found, but this package needs $want_version (or a later 2.1 release)"
fi
if [ "$have_version" != "$want_version" ]; then
	say "warning: libevent $have_version found; this package is tested with $want_version"
fi

libdir=$(pkg-config --variable=libdir libevent_core)
for archive in libevent_core.a libevent_extra.a libevent_pthreads.a; do
	if [ ! -f "$libdir/$archive" ]; then
		fail "$libdir/$archive not found: the package links libevent statically; install the static archives or build with -tags libevent_shared"
	fi
done

# The default build includes the OpenSSL bufferevents: libevent's archive
# for them, and OpenSSL's headers and shared libraries.
if [ ! -f "$libdir/libevent_openssl.a" ]; then
	fail "$libdir/libevent_openssl.a not found: install libevent's OpenSSL archive or build with -tags libevent_no_openssl"
fi
if ! pkg-config --exists libssl libcrypto; then
	is_debian_like || print_other_platform_help
	fail "OpenSSL's development files (libssl, libcrypto) not found by pkg-config: install them (Debian and Ubuntu: libssl-dev) or build with -tags libevent_no_openssl"
fi

if ! command -v gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
	fail "no C compiler found (gcc or cc); cgo needs one"
fi
if ! command -v go >/dev/null 2>&1; then
	fail "go not found: install Go 1.26 or later from https://go.dev/dl/ and put it on PATH"
fi

say "libevent $have_version ok (static archives in $libdir)"
