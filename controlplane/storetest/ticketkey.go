package storetest

import (
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// ticketKey returns a ticket key made at the fixture's next tick.
func (f *fixture) ticketKey(id string) *controlplane.TicketKey {
	return &controlplane.TicketKey{ID: id, SealedSecret: []byte("sealed " + id), CreatedOn: f.tick()}
}

var ticketKeyTests = []test{
	{"RotateTicketKeys/OK", func(t *testing.T, f *fixture) {
		rev := f.revision()
		a, b := f.ticketKey("a"), f.ticketKey("b")
		ok(t, f.s.RotateTicketKeys(f.ctx, a, time.Time{}))
		ok(t, f.s.RotateTicketKeys(f.ctx, b, time.Time{}))
		a.CreatedOn, b.CreatedOn = norm(a.CreatedOn), norm(b.CreatedOn)
		got, err := f.s.ListTicketKeys(f.ctx)
		ok(t, err)
		equal(t, "keys", got, []*controlplane.TicketKey{b, a})
		line := changeLine(controlplane.ChangeTicketKeys, "", "", "")
		equal(t, "changes", f.changes(rev), []string{line, line})

		// A new key and the expiry of every key older than b, at once.
		c := f.ticketKey("c")
		ok(t, f.s.RotateTicketKeys(f.ctx, c, b.CreatedOn))
		c.CreatedOn = norm(c.CreatedOn)
		got, err = f.s.ListTicketKeys(f.ctx)
		ok(t, err)
		equal(t, "keys after expiry", got, []*controlplane.TicketKey{c, b})
		equal(t, "changes", f.changes(rev), []string{line, line, line})
	}},
	{"RotateTicketKeys/ExpireOnly", func(t *testing.T, f *fixture) {
		a, b := f.ticketKey("a"), f.ticketKey("b")
		ok(t, f.s.RotateTicketKeys(f.ctx, a, time.Time{}))
		ok(t, f.s.RotateTicketKeys(f.ctx, b, time.Time{}))
		rev := f.revision()
		ok(t, f.s.RotateTicketKeys(f.ctx, nil, a.CreatedOn)) // nothing older than a
		equal(t, "changes when nothing changed", f.changes(rev), []string{})
		ok(t, f.s.RotateTicketKeys(f.ctx, nil, b.CreatedOn))
		got, err := f.s.ListTicketKeys(f.ctx)
		ok(t, err)
		b.CreatedOn = norm(b.CreatedOn)
		equal(t, "keys", got, []*controlplane.TicketKey{b})
		equal(t, "changes", f.changes(rev), []string{changeLine(controlplane.ChangeTicketKeys, "", "", "")})
	}},
	{"RotateTicketKeys/ErrTaken", func(t *testing.T, f *fixture) {
		ok(t, f.s.RotateTicketKeys(f.ctx, f.ticketKey("a"), time.Time{}))
		rev := f.revision()
		wantErr(t, f.s.RotateTicketKeys(f.ctx, f.ticketKey("a"), time.Time{}), controlplane.ECONFLICT, `TLS ticket key "a" already exists`)
		equal(t, "changes", f.changes(rev), []string{})
	}},
	{"ListTicketKeys/Empty", func(t *testing.T, f *fixture) {
		got, err := f.s.ListTicketKeys(f.ctx)
		ok(t, err)
		if len(got) != 0 {
			t.Fatalf("keys = %v, want none", got)
		}
	}},
}
