/*
 * C loops of the cgo floor benchmarks in floor.go. Each calls one exported Go
 * function n times with the same argument, so that a benchmark's time per
 * iteration is one C-to-Go call plus that function's lookup.
 */
#include <stdint.h>

#include "_cgo_export.h"

void bench_call_slot(uintptr_t slot, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		benchSlotCallback(slot);
}

void bench_call_handle(uintptr_t handle, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		benchHandleCallback(handle);
}

void bench_call_key(void *key, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		benchKeyCallback(key);
}

void bench_call_trampoline(void *key, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		benchTrampolineCallback(key);
}
