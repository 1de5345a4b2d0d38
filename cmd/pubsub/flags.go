package main

import (
	"flag"
	"net"
	"strings"

	"github.com/openpubsub/pubsub/broker/node"
)

// addrList is a repeatable address flag with a default list that the first
// explicit value replaces.
type addrList struct {
	vals []string
	set  bool
}

func (a *addrList) String() string { return strings.Join(a.vals, ",") }

func (a *addrList) Set(v string) error {
	if !a.set {
		a.vals, a.set = nil, true
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			a.vals = append(a.vals, p)
		}
	}
	return nil
}

func (a *addrList) list() []string { return a.vals }

// addrListFlag adds a repeatable address flag, defaulting to the
// environment variable (comma-separated) or def.
func addrListFlag(fs *flag.FlagSet, name, env, def, usage string) *addrList {
	a := &addrList{}
	_ = a.Set(envOr(env, def))
	a.set = false
	fs.Var(a, name, usage+" ("+env+")")
	return a
}

func addrString(addrs []net.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// limitFlags adds the per-client limits of a broker node.
func limitFlags(fs *flag.FlagSet) func() node.Limits {
	d := node.DefaultLimits()
	maxPacket := fs.Uint("max-packet-size", uint(envInt("PUBSUB_MAX_PACKET_SIZE", int(d.MaxPacketSize))), "largest MQTT packet a client may send, in bytes (PUBSUB_MAX_PACKET_SIZE)")
	connectTimeout := fs.Duration("connect-timeout", d.ConnectTimeout, "a client must send CONNECT within this time")
	minKA := fs.Uint("min-keepalive", uint(d.MinKeepAlive), "smallest keep-alive granted, in seconds")
	maxKA := fs.Uint("max-keepalive", uint(d.MaxKeepAlive), "largest keep-alive granted, in seconds")
	rate := fs.Float64("message-rate", 0, "PUBLISH packets per second allowed per client; 0 for no limit")
	sessionExpiry := fs.Duration("max-session-expiry", d.MaxSessionExpiry, "cap on the session expiry a client asks for")
	return func() node.Limits {
		return node.Limits{
			MaxPacketSize: uint32(*maxPacket), ConnectTimeout: *connectTimeout,
			MinKeepAlive: uint16(*minKA), MaxKeepAlive: uint16(*maxKA),
			MessageRate: *rate, MaxSessionExpiry: *sessionExpiry,
		}
	}
}
