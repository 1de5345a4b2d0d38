// SPDX-License-Identifier: MIT

package mqtt

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
)

// bytesConn is a net.Conn that reads from a byte slice; the client and
// the reader under test call nothing else.
type bytesConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *bytesConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *bytesConn) RemoteAddr() net.Addr       { return &net.TCPAddr{} }

// FuzzClientRead reads packets from a client's byte stream as the server
// does, fixed header and remaining length through Client.ReadFixedHeader,
// the body through readPacket, until an error; the packets read are
// validated as process does. Nothing may panic, and no packet may be
// larger than the maximum packet size. The first byte picks the protocol
// version. Fork: upstream had no fuzz target. The seeds are a CONNECT
// followed by each packet of the codec's test table.
func FuzzClientRead(f *testing.F) {
	for _, cases := range packets.TPacketData {
		for _, tc := range cases {
			if len(tc.RawBytes) > 0 {
				f.Add(append([]byte{5}, tc.RawBytes...))
				f.Add(append([]byte{4}, tc.RawBytes...))
			}
		}
	}
	const maxPacket = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		cl := newClient(&bytesConn{r: bytes.NewReader(data[1:])}, &ops{
			info:  new(system.Info),
			hooks: new(Hooks),
			log:   logger,
			options: &Options{Capabilities: &Capabilities{
				MaximumPacketSize: maxPacket,
				TopicAliasMaximum: 10,
			}},
		})
		cl.Properties.ProtocolVersion = 3 + data[0]%3
		for {
			var fh packets.FixedHeader
			if err := cl.ReadFixedHeader(&fh); err != nil {
				return
			}
			if fh.Remaining+1 > maxPacket {
				t.Fatalf("read a fixed header of %d bytes past the maximum packet size", fh.Remaining)
			}
			var pk packets.Packet
			if err := cl.readPacket(&fh, &pk); err != nil {
				return
			}
			switch pk.FixedHeader.Type {
			case packets.Connect:
				_ = pk.ConnectValidate()
			case packets.Publish:
				_ = pk.PublishValidate(10)
				_ = IsValidFilter(pk.TopicName, true)
				_ = TopicLevels(pk.TopicName)
			case packets.Subscribe:
				_ = pk.SubscribeValidate()
				for _, sub := range pk.Filters {
					_ = IsValidFilter(sub.Filter, false)
					_ = TopicLevels(sub.Filter)
				}
			case packets.Unsubscribe:
				_ = pk.UnsubscribeValidate()
			case packets.Auth:
				_ = pk.AuthValidate()
			}
		}
	})
}

// FuzzServerProcess reads packets as FuzzClientRead does and has a server
// process them for a connected client, as a session does, up to 64
// packets or until the client is stopped. Nothing may panic. The seeds
// are FuzzClientRead's.
func FuzzServerProcess(f *testing.F) {
	for _, cases := range packets.TPacketData {
		for _, tc := range cases {
			if len(tc.RawBytes) > 0 {
				f.Add(append([]byte{5}, tc.RawBytes...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		version := 3 + data[0]%3
		in := newClient(&bytesConn{r: bytes.NewReader(data[1:])}, &ops{
			info:    new(system.Info),
			hooks:   new(Hooks),
			log:     logger,
			options: &Options{Capabilities: &Capabilities{MaximumPacketSize: 4096}},
		})
		in.Properties.ProtocolVersion = version

		s := newServer()
		s.Options.Capabilities.MaximumTopicLevels = 8
		s.Options.Capabilities.TopicAliasMaximum = 4
		cl, r, _ := newTestClient()
		cl.Properties.ProtocolVersion = version
		s.Clients.Add(cl)
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, r); close(drained) }()
		defer func() {
			cl.Stop(nil)
			<-drained
		}()

		for i := 0; i < 64 && !cl.Closed(); i++ {
			var fh packets.FixedHeader
			if err := in.ReadFixedHeader(&fh); err != nil {
				return
			}
			var pk packets.Packet
			if err := in.readPacket(&fh, &pk); err != nil {
				return
			}
			if err := s.receivePacket(cl, &pk); err != nil {
				return
			}
		}
	})
}
