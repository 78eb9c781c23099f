# The two commands of the README: `make demo` and `make test`. Both first run
# third_party/libevent/setup.sh, which installs libevent-dev, pkg-config and a
# C compiler on Debian and Ubuntu when they are missing.

GO ?= go
# A Go installed from go.dev's archive lives here and is often not on PATH in
# a fresh root shell.
export PATH := $(PATH):/usr/local/go/bin

LINECOUNT := examples/linecount/linecount

.PHONY: setup setup-test demo test vet bench

setup:
	./third_party/libevent/setup.sh

# The tests also talk to netcat, socat and python3 on loopback.
setup-test:
	./third_party/libevent/setup.sh --test-tools

demo: setup
	$(GO) build -o $(LINECOUNT) ./examples/linecount
	@echo "== linecount on a regular file (epoll cannot watch one, so it uses poll)"
	./$(LINECOUNT) /usr/include/event2/event.h
	@echo "== linecount on a pipe that a shell loop feeds for about 3 seconds"
	for i in 1 2 3 4 5 6; do cat /usr/include/event2/*.h; sleep 0.5; done | ./$(LINECOUNT)

vet: setup
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

test: setup-test vet
	$(GO) test -race -count=1 ./...
	GOEXPERIMENT=cgocheck2 $(GO) test -count=1 ./...
	GOLIBEVENT_TEST_DEBUG_MODE=1 $(GO) test -count=1 ./...
	$(GO) test -tags libevent_shared -count=1 -run 'TestLinkage|TestVersion|TestReadAndWriteEvents' .
	@echo "== each benchmark once, to check that it runs; make bench measures"
	cd bench && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...

# The dispatch and Post benchmarks (about 4 minutes), then the echo servers
# (about 6 minutes, and the script stops itself after 9.5 at most), then the
# DNS servers (about 1.5 minutes, 5 at most).
bench: setup
	./scripts/bench.sh
	./scripts/bench-echo.sh
	./scripts/bench-dns.sh
