# The two commands of the README: `make demo` and `make test`. Both first run
# third_party/libevent/setup.sh, which installs libevent-dev, libssl-dev,
# pkg-config and a C compiler on Debian and Ubuntu when they are missing.

GO ?= go
# A Go installed from go.dev's archive lives here and is often not on PATH in
# a fresh root shell.
export PATH := $(PATH):/usr/local/go/bin

LINECOUNT := examples/linecount/linecount
HTTPD := examples/httpd/httpd
# The loopback port of the demo's HTTP server; set another one when 8080 is
# taken: make demo DEMO_PORT=8081
DEMO_PORT ?= 8080
MIXED_C := examples/mixed-c/build/mixed-c

.PHONY: setup setup-test demo mixed-c test vet bench

setup:
	./third_party/libevent/setup.sh

# The tests also talk to netcat, socat, python3, curl and wrk on loopback.
setup-test:
	./third_party/libevent/setup.sh --test-tools

demo: setup
	$(GO) build -o $(LINECOUNT) ./examples/linecount
	@echo "== linecount on a regular file (epoll cannot watch one, so it uses poll)"
	./$(LINECOUNT) /usr/include/event2/event.h
	@echo "== linecount on a pipe that a shell loop feeds for about 3 seconds"
	for i in 1 2 3 4 5 6; do cat /usr/include/event2/*.h; sleep 0.5; done | ./$(LINECOUNT)
	$(GO) build -o $(HTTPD) ./examples/httpd
	@echo "== httpd on 127.0.0.1:$(DEMO_PORT) for 5 seconds, serving /usr/include/event2, asked by curl"
	./$(HTTPD) -listen 127.0.0.1:$(DEMO_PORT) -root /usr/include/event2 -for 5s & \
	for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null http://127.0.0.1:$(DEMO_PORT)/hello && break; sleep 0.2; done; \
	curl -sS -i http://127.0.0.1:$(DEMO_PORT)/hello; \
	curl -sS -I http://127.0.0.1:$(DEMO_PORT)/http.h; \
	curl -sS -o /dev/null -w '/missing: %{http_code}\n' http://127.0.0.1:$(DEMO_PORT)/missing; \
	wait

# The C program of examples/mixed-c, which shares its event_base and HTTP
# server with Go code from a c-archive, run for one request to C and one to
# Go. go test ./examples/mixed-c builds and checks it in make test.
mixed-c: setup
	./examples/mixed-c/build.sh
	@echo "== mixed-c on an ephemeral port of 127.0.0.1; it ends after /go or 30 seconds"
	./$(MIXED_C) 0 30 > examples/mixed-c/build/output.txt & \
	port=; for i in 1 2 3 4 5 6 7 8 9 10; do \
		port=$$(sed -n 's/^mixed-c: listening on 127.0.0.1:\([0-9]*\).*/\1/p' examples/mixed-c/build/output.txt); \
		[ -n "$$port" ] && break; sleep 0.2; done; \
	curl -sS http://127.0.0.1:$$port/c; \
	curl -sS http://127.0.0.1:$$port/go; \
	wait; cat examples/mixed-c/build/output.txt

vet: setup
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

test: setup-test vet
	$(GO) test -race -count=1 ./...
	GOEXPERIMENT=cgocheck2 $(GO) test -count=1 ./...
	GOLIBEVENT_TEST_DEBUG_MODE=1 $(GO) test -count=1 ./...
	@echo "== AddressSanitizer on the package's C code: use after free and overflows (leaks are not checked)"
	ASAN_OPTIONS=detect_leaks=0 $(GO) test -asan -count=1 .
	$(GO) test -tags libevent_shared -count=1 -run 'TestLinkage|TestVersion|TestReadAndWriteEvents|TestTLSLinkage|TestTLSDirtyShutdown' .
	@echo "== without OpenSSL: the libevent_no_openssl tag must build and pass without libssl"
	$(GO) vet -tags libevent_no_openssl .
	$(GO) test -tags libevent_no_openssl -count=1 -run 'TestBuildWithoutOpenSSL|TestLinkage|TestReadAndWriteEvents|TestPairDeliversData|TestConnect' .
	@echo "== each benchmark once, to check that it runs; make bench measures"
	cd bench && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...

# The dispatch and Post benchmarks (about 4 minutes), then the echo servers
# (about 6 minutes, and the script stops itself after 9.5 at most), then the
# HTTP servers (about 3.5 minutes, 7 at most), TLS (about 1.5 minutes, 5 at
# most) and the DNS servers (about 1.5 minutes, 5 at most).
bench: setup
	./scripts/bench.sh
	./scripts/bench-echo.sh
	./scripts/bench-http.sh
	./scripts/bench-tls.sh
	./scripts/bench-dns.sh
