package node

import (
	"context"
	"time"
)

// In a fleet, each broker's SSE streams follow the broker's journal (a
// JetStream stream of the messages every node publishes, natsbus.Journal)
// instead of the broker's server, so that their event ids are the
// journal's sequence numbers and a client resumes on any node. Without
// NATS, or with SSE replay off, nothing here runs.

// joinJournal gives the server's bus the broker's journal, kept for the
// edge's replay age.
func (s *server) joinJournal() error {
	if s.node.bus == nil {
		return nil
	}
	count, age := s.node.edge.ReplayWindow()
	if count <= 0 {
		return nil
	}
	j, err := s.node.bus.Journal(s.id, age)
	if err != nil {
		return err
	}
	s.bus.journal = j
	return nil
}

// journalDeleteTimeout bounds the deletion of a deleted broker's journal.
const journalDeleteTimeout = 10 * time.Second

// deleteJournal deletes a deleted broker's journal, in the background:
// every node tries, the first one does it.
func (n *Node) deleteJournal(brokerID string) {
	if n.bus == nil {
		return
	}
	n.wg.Go(func() {
		j, err := n.bus.Journal(brokerID, 0)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), journalDeleteTimeout)
			err = j.Delete(ctx)
			cancel()
		}
		if err != nil {
			n.log.Warn("deleting a deleted broker's SSE journal", "broker_id", brokerID, "error", err)
		}
	})
}
