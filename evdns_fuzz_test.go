//go:build cgo

package libevent

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzDNSServer sends each input as one datagram to a DNS server on every
// backend, then a valid query from another socket, which must still be
// answered.
func FuzzDNSServer(f *testing.F) {
	f.Add([]byte{0x12})
	f.Add([]byte{0x12, 0x34, 0x01, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(buildDNSQuery(1, "a.test", DNSTypeA))
	f.Add(buildDNSQuery(2, "six.test", DNSTypeAAAA))

	type target struct {
		name string
		// fuzz sends the inputs; replies to them are never read, and the
		// kernel drops them once its buffer is full. check sends the valid
		// query, so that no input can forge its reply.
		fuzz, check *net.UDPConn
	}
	var targets []target
	for _, bk := range backends {
		b, err := NewBase(&bk.config)
		require.NoError(f, err)
		srv, err := b.NewDNSServer("127.0.0.1:0", defaultTestZone().serve)
		require.NoError(f, err)
		running := make(chan struct{})
		require.NoError(f, b.Post(func() { close(running) }))
		ctx, cancel := context.WithCancel(context.Background())
		result := make(chan error, 1)
		go func() { result <- b.Run(ctx) }()
		<-running
		fuzz, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addr()))
		require.NoError(f, err)
		check, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addr()))
		require.NoError(f, err)
		f.Cleanup(func() {
			fuzz.Close()
			check.Close()
			cancel()
			<-result
			srv.Close()
			b.Close()
		})
		targets = append(targets, target{bk.name, fuzz, check})
	}

	var id uint16
	f.Fuzz(func(t *testing.T, datagram []byte) {
		if len(datagram) > 1400 {
			return
		}
		for _, tg := range targets {
			_, err := tg.fuzz.Write(datagram)
			require.NoError(t, err, tg.name)
			id++
			_, err = tg.check.Write(buildDNSQuery(id, "a.test", DNSTypeA))
			require.NoError(t, err, tg.name)
			buf := make([]byte, 1500)
			require.NoError(t, tg.check.SetReadDeadline(time.Now().Add(30*time.Second)))
			n, err := tg.check.Read(buf)
			require.NoError(t, err, "%s: the server did not answer the valid query", tg.name)
			h := parseDNSHeader(t, buf[:n])
			require.Equal(t, id, h.id, tg.name)
			require.Equal(t, uint16(1), h.ancount, tg.name)
		}
	})
}
