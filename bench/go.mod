module github.com/golibevent/libevent/bench

go 1.26.0

require (
	github.com/golibevent/libevent v0.0.0
	github.com/mattn/go-pointer v0.0.1
)

require golang.org/x/sys v0.50.0 // indirect

replace github.com/golibevent/libevent => ../
