package main

// #include "cecho.h"
import "C"

import "errors"

// runCEcho runs the C server's bufferevent echo in this Go process, in one
// cgo call that returns only after an error. The package's init has called
// evthread_use_pthreads, so the base has the lock that the package's bases
// have, and the process has the Go runtime's threads.
func runCEcho(port int) error {
	C.cecho_run(C.int(port))
	return errors.New("the C echo loop ended; see the message above")
}
