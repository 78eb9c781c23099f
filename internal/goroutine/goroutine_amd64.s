#include "textflag.h"

// func Current() uintptr
//
// Returns the address of the running goroutine's g, which Go keeps in
// thread-local storage on amd64.
TEXT ·Current(SB), NOSPLIT, $0-8
	MOVQ (TLS), AX
	MOVQ AX, ret+0(FP)
	RET
