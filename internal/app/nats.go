package app

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSDir is the embedded NATS server's JetStream store inside the dev
// stack's data dir.
const NATSDir = "nats"

// startEmbeddedNATS runs the dev stack's NATS server in-process, with
// JetStream stored in dataDir/nats, listening on addr (port 0 picks one).
// The dev stack runs the same fleet code as production: its nodes join
// through this server.
func startEmbeddedNATS(dataDir, addr string) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "pubsub-dev",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, NATSDir),
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start on %s (is the port taken? --nats-listen)", addr)
	}
	return s, nil
}
