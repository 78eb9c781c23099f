//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
#include <event2/util.h>
#include <sys/socket.h>

static int golibevent_parse_sockaddr_port(const char *text, struct sockaddr_storage *ss, int *len)
{
	return evutil_parse_sockaddr_port(text, (struct sockaddr *)ss, len);
}
*/
import "C"

import (
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SocketPair returns a connected pair of non-blocking, close-on-exec unix
// stream sockets (evutil_socketpair and evutil_make_socket_nonblocking). The
// caller owns both descriptors.
func SocketPair() (a, b int, err error) {
	const op = "evutil_socketpair"
	var fds [2]C.evutil_socket_t
	r, errno := C.evutil_socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0, &fds[0])
	if r != 0 {
		return -1, -1, opError(op, errno)
	}
	for _, fd := range fds {
		if err := SetNonblocking(int(fd)); err == nil {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
		if err != nil {
			unix.Close(int(fds[0]))
			unix.Close(int(fds[1]))
			return -1, -1, &Error{Op: op, Err: err}
		}
	}
	return int(fds[0]), int(fds[1]), nil
}

// SetNonblocking puts fd in non-blocking mode, as libevent expects of every
// descriptor it watches (evutil_make_socket_nonblocking).
func SetNonblocking(fd int) error {
	const op = "evutil_make_socket_nonblocking"
	if fd < 0 {
		return invalidError(op, "invalid descriptor %d", fd)
	}
	r, errno := C.evutil_make_socket_nonblocking(C.evutil_socket_t(fd))
	if r != 0 {
		return opError(op, errno)
	}
	return nil
}

// ParseAddrPort parses an address in one of the forms libevent accepts
// (evutil_parse_sockaddr_port): "1.2.3.4", "1.2.3.4:80", "::1", "[::1]" or
// "[::1]:80". A missing port is 0. It returns a *net.TCPAddr.
func ParseAddrPort(text string) (*net.TCPAddr, error) {
	const op = "evutil_parse_sockaddr_port"
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	var ss C.struct_sockaddr_storage
	length := C.int(unsafe.Sizeof(ss))
	if C.golibevent_parse_sockaddr_port(ctext, &ss, &length) != 0 {
		return nil, invalidError(op, "cannot parse %q as an IP address with an optional port", text)
	}
	addr, _ := cSockaddrToAddr((*C.struct_sockaddr)(unsafe.Pointer(&ss)), length).(*net.TCPAddr)
	if addr == nil {
		return nil, invalidError(op, "cannot parse %q as an IP address with an optional port", text)
	}
	return addr, nil
}

// NewBufferEventFromConn takes over the socket of conn, a *net.TCPConn or
// *net.UnixConn: the bufferevent gets a non-blocking duplicate of its
// descriptor, conn is closed, and the bufferevent closes the duplicate when
// it is closed (BEVOptCloseOnFree is added to options). Data that Go had
// already read from conn into its own buffers is not carried over; conn's
// buffers are empty unless a bufio.Reader or similar read ahead.
func (b *Base) NewBufferEventFromConn(conn net.Conn, options BufferEventOptions) (*BufferEvent, error) {
	const op = "bufferevent_socket_new"
	if conn == nil {
		return nil, invalidError(op, "nil net.Conn")
	}
	filer, ok := conn.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, invalidError(op, "%T has no descriptor to take over", conn)
	}
	fd, err := dupDescriptor(op, filer.File)
	if err != nil {
		return nil, err
	}
	bev, err := b.NewBufferEvent(fd, options|BEVOptCloseOnFree)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	conn.Close()
	return bev, nil
}
