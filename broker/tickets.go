package broker

import (
	"github.com/openpubsub/pubsub/pkg/feed"
)

// TicketKeys are the TLS session ticket keys the control plane shares with
// every node of the fleet, so that a client resumes its TLS session on
// whichever node it reconnects to. They are read-only and shared between
// States: a node compares the pointers of two States' TicketKeys to see
// whether they changed.
type TicketKeys struct {
	// Keys are newest first: the first encrypts new tickets, and every
	// one decrypts, as tls.Config.SetSessionTicketKeys takes them.
	Keys [][feed.TicketKeySize]byte
	// sealed are the keys as the feed sealed them: what Snapshot writes
	// to disk instead of the secrets.
	sealed []feed.HMACKey
}

// TicketKeys returns the fleet's TLS session ticket keys, or nil when the
// control plane sent none (the node then keeps its own, and a client
// resumes only on the node that issued its ticket).
func (s *State) TicketKeys() *TicketKeys {
	if s == nil {
		return nil
	}
	return s.tickets
}

// newTicketKeys validates the ticket keys of a feed event; nil for none.
func newTicketKeys(ev *feed.Event) (*TicketKeys, error) {
	if len(ev.TicketKeys) == 0 {
		return nil, nil
	}
	if len(ev.TicketKeys) > feed.MaxTicketKeys {
		return nil, Errorf(EINVALID, "%s event at revision %d has %d TLS ticket keys, more than %d", ev.Type, ev.Revision, len(ev.TicketKeys), feed.MaxTicketKeys)
	}
	tk := &TicketKeys{Keys: make([][feed.TicketKeySize]byte, len(ev.TicketKeys)), sealed: make([]feed.HMACKey, len(ev.TicketKeys))}
	for i, k := range ev.TicketKeys {
		if len(k.Secret) != feed.TicketKeySize {
			return nil, Errorf(EINVALID, "TLS ticket key %q at revision %d has %d bytes, not %d: was it opened with the node token?", k.ID, ev.Revision, len(k.Secret), feed.TicketKeySize)
		}
		copy(tk.Keys[i][:], k.Secret)
		tk.sealed[i] = feed.HMACKey{ID: k.ID, Sealed: k.Sealed}
	}
	return tk, nil
}
