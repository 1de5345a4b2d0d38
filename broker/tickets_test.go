package broker_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// ticketKey is a ticket key as the node sees it once opened: id, sealed
// form and secret, all derived from b.
func ticketKey(id string, b byte) feed.HMACKey {
	return feed.HMACKey{ID: id, Sealed: "sealed-" + id, Secret: bytes.Repeat([]byte{b}, feed.TicketKeySize)}
}

// TestTicketKeys checks how the fleet's TLS ticket keys travel through
// States: set by a snapshot, replaced by a ticket_keys event, untouched
// (the same pointer) by every other event, and kept sealed by Snapshot.
func TestTicketKeys(t *testing.T) {
	fb := feedBroker(t, "b1", "b1.example")
	st, err := broker.NewState(feed.Event{Type: feed.TypeSnapshot, Revision: 1, Brokers: []feed.Broker{fb}, TicketKeys: []feed.HMACKey{ticketKey("k2", 2), ticketKey("k1", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	tk := st.TicketKeys()
	if tk == nil || len(tk.Keys) != 2 || tk.Keys[0][0] != 2 || tk.Keys[1][0] != 1 {
		t.Fatalf("TicketKeys = %+v, want k2 then k1", tk)
	}

	next, err := st.Apply(
		feed.Event{Type: feed.TypePing, Revision: 2},
		feed.Event{Type: feed.TypeBroker, Revision: 3, Broker: &fb},
		feed.Event{Type: feed.TypeRevoked, Revision: 4, BrokerID: "b1", Revocation: &feed.Revocation{JTI: "j"}},
		feed.Event{Type: feed.TypeTicketKeys, Revision: 5}, // empty: keep
	)
	if err != nil {
		t.Fatal(err)
	}
	if next.TicketKeys() != tk {
		t.Fatal("an event without ticket keys changed them")
	}

	rotated, err := next.Apply(feed.Event{Type: feed.TypeTicketKeys, Revision: 6, TicketKeys: []feed.HMACKey{ticketKey("k3", 3), ticketKey("k2", 2)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rotated.TicketKeys(); got == tk || got.Keys[0][0] != 3 || len(got.Keys) != 2 {
		t.Fatalf("after rotation TicketKeys = %+v, want k3 then k2", got)
	}

	snap := rotated.Snapshot(time.Now().Unix())
	if len(snap.TicketKeys) != 2 || snap.TicketKeys[0].Sealed != "sealed-k3" || snap.TicketKeys[0].Secret != nil {
		t.Fatalf("snapshot ticket keys = %+v, want the sealed forms only", snap.TicketKeys)
	}
	if _, err := broker.NewState(snap); broker.ErrorCode(err) != broker.EINVALID {
		t.Fatalf("NewState with unopened ticket keys: err = %v, want EINVALID", err)
	}

	none := mustState(t, 1, fb)
	if none.TicketKeys() != nil {
		t.Fatal("a snapshot without ticket keys has some")
	}
	var nilState *broker.State
	if nilState.TicketKeys() != nil {
		t.Fatal("a nil State has ticket keys")
	}
}

func TestTicketKeysInvalid(t *testing.T) {
	short := ticketKey("k", 1)
	short.Secret = short.Secret[:16]
	many := make([]feed.HMACKey, feed.MaxTicketKeys+1)
	for i := range many {
		many[i] = ticketKey("k", byte(i))
	}
	st := mustState(t, 1)
	for _, tc := range []struct {
		name string
		keys []feed.HMACKey
	}{{"ErrShortKey", []feed.HMACKey{short}}, {"ErrTooMany", many}, {"ErrNotOpened", []feed.HMACKey{{ID: "k", Sealed: "x"}}}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := st.Apply(feed.Event{Type: feed.TypeTicketKeys, Revision: 2, TicketKeys: tc.keys}); broker.ErrorCode(err) != broker.EINVALID {
				t.Fatalf("ticket_keys event: err = %v, want EINVALID", err)
			}
			if _, err := broker.NewState(feed.Event{Type: feed.TypeSnapshot, Revision: 2, TicketKeys: tc.keys}); broker.ErrorCode(err) != broker.EINVALID {
				t.Fatalf("snapshot: err = %v, want EINVALID", err)
			}
		})
	}
}
