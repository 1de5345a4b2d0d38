package main

import "github.com/openpubsub/pubsub/broker/natsbus"

// natsFlags adds the settings of a node's link to its fleet over NATS;
// the returned function gives nil without --nats-url.
func natsFlags(s *settings) func() *natsbus.Config {
	url := s.String("nats-url", "PUBSUB_NATS_URL", "", "NATS servers of the fleet, comma-separated (nats://h1:4222,nats://h2:4222); empty runs the node alone")
	creds := s.String("nats-creds", "PUBSUB_NATS_CREDS", "", "NATS credentials file (user JWT and NKey seed)")
	ca := s.String("nats-ca", "PUBSUB_NATS_CA", "", "PEM file of the CA that signed the NATS servers' certificates, for tls:// URLs")
	nodeID := s.String("nats-node-id", "PUBSUB_NATS_NODE_ID", "", "this node's id on the bus, unique in the fleet; default a random id per start")
	recvBuf := s.IntRange("nats-receive-buffer", "PUBSUB_NATS_RECEIVE_BUFFER", 8192, 1, 10_000_000, "messages from other nodes one broker may have waiting for delivery here; past it they are dropped and counted")
	replicas := s.IntRange("nats-replicas", "PUBSUB_NATS_REPLICAS", 0, 0, 5, "replication of the retained messages, SSE journals and persistent sessions in JetStream; 0 for 3 with three NATS servers or more, else 1")
	reconnBuf := s.IntRange("nats-reconnect-buffer", "PUBSUB_NATS_RECONNECT_BUFFER", 8<<20, 1024, 1<<30, "bytes of messages held for the other nodes while NATS reconnects; past it they reach this node only, counted")
	journalMsgs := s.IntRange("nats-sse-journal-messages", "PUBSUB_NATS_SSE_JOURNAL_MESSAGES", 10_000, 1, 100_000_000, "messages of one broker kept in JetStream (for --sse-replay-age at most) so that SSE clients resume on any node; the oldest go first")
	journalBytes := s.IntRange("nats-sse-journal-bytes", "PUBSUB_NATS_SSE_JOURNAL_BYTES", 16<<20, 1024, 1<<40, "bytes of one broker's messages kept in JetStream for SSE clients that resume on any node; the oldest go first")
	return func() *natsbus.Config {
		if *url == "" {
			return nil
		}
		return &natsbus.Config{URL: *url, CredsFile: *creds, CAFile: *ca, NodeID: *nodeID, ReceiveBuffer: *recvBuf, ReconnectBuffer: *reconnBuf, RetainedReplicas: *replicas,
			JournalMessages: int64(*journalMsgs), JournalBytes: int64(*journalBytes)}
	}
}
