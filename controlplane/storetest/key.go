package storetest

import (
	"testing"

	"github.com/openpubsub/pubsub/controlplane"
)

// keyStates returns "id:state" for each key, in order.
func keyStates(keys []*controlplane.SigningKey) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.ID+":"+k.State)
	}
	return out
}

func (f *fixture) listKeys(brokerID string) []*controlplane.SigningKey {
	f.t.Helper()
	keys, err := f.s.ListKeys(f.ctx, brokerID)
	if err != nil {
		f.t.Fatalf("ListKeys: %v", err)
	}
	return keys
}

// rotate rotates b's keys and returns the new next key.
func (f *fixture) rotate(brokerID string) *controlplane.SigningKey {
	f.t.Helper()
	k := f.newKey(controlplane.KeyNext)
	if err := f.s.RotateKeys(f.ctx, brokerID, k); err != nil {
		f.t.Fatalf("RotateKeys: %v", err)
	}
	return k
}

var keyTests = []test{
	{"RotateKeys/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		before := f.listKeys(w.broker.ID)
		cur, next := before[0], before[1]
		rev := f.revision()
		k := f.newKey(controlplane.KeyNext)
		ok(t, f.s.RotateKeys(f.ctx, w.broker.ID, k))
		if got, want := k.BrokerID, w.broker.ID; got != want {
			t.Fatalf("new key BrokerID = %q, want %q", got, want)
		}
		after := f.listKeys(w.broker.ID)
		equal(t, "keys", keyStates(after), []string{next.ID + ":current", k.ID + ":next", cur.ID + ":retired"})
		// The promoted and retired keys are otherwise unchanged, and their
		// modification time is the rotation's.
		equal(t, "new next key", after[1], k)
		promoted := *next
		promoted.State, promoted.ModifiedOn = controlplane.KeyCurrent, k.CreatedOn
		equal(t, "promoted key", after[0], &promoted)
		retired := *cur
		retired.State, retired.ModifiedOn = controlplane.KeyRetired, k.CreatedOn
		equal(t, "retired key", after[2], &retired)
		equal(t, "changes", f.changes(rev), []string{changeLine(controlplane.ChangeKeys, w.nsA.ID, w.broker.ID, "")})
	}},
	{"RotateKeys/ErrNotFound", func(t *testing.T, f *fixture) {
		f.world()
		rev := f.revision()
		err := f.s.RotateKeys(f.ctx, "br_x", f.newKey(controlplane.KeyNext))
		wantErr(t, err, controlplane.ENOTFOUND, `broker "br_x" not found`)
		equal(t, "changes", f.changes(rev), []string{})
	}},
	{"RotateKeys/ErrNotNext", func(t *testing.T, f *fixture) {
		w := f.world()
		err := f.s.RotateKeys(f.ctx, w.broker.ID, f.newKey(controlplane.KeyCurrent))
		wantErr(t, err, controlplane.EINVALID, `the new key must be in state "next", not "current"`)
		equal(t, "keys", len(f.listKeys(w.broker.ID)), 2)
	}},
	{"ListKeys/Order", func(t *testing.T, f *fixture) {
		w := f.world()
		first := f.listKeys(w.broker.ID)
		n1 := f.rotate(w.broker.ID)
		n2 := f.rotate(w.broker.ID)
		n3 := f.rotate(w.broker.ID)
		// Retired keys newest first: by creation time, not by retirement.
		equal(t, "keys", keyStates(f.listKeys(w.broker.ID)), []string{
			n2.ID + ":current", n3.ID + ":next",
			n1.ID + ":retired", first[1].ID + ":retired", first[0].ID + ":retired",
		})
		keys, err := f.s.ListKeys(f.ctx, "br_x")
		ok(t, err)
		equal(t, "keys of an unknown broker", len(keys), 0)
	}},
	{"DeleteKey/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		first := f.listKeys(w.broker.ID)
		f.rotate(w.broker.ID)
		rev := f.revision()
		ok(t, f.s.DeleteKey(f.ctx, w.broker.ID, first[0].ID))
		for _, k := range f.listKeys(w.broker.ID) {
			if k.ID == first[0].ID {
				t.Fatalf("key %s still listed after delete", k.ID)
			}
		}
		equal(t, "changes", f.changes(rev), []string{changeLine(controlplane.ChangeKeys, w.nsA.ID, w.broker.ID, "")})
	}},
	{"DeleteKey/ErrKeyInUse", func(t *testing.T, f *fixture) {
		w := f.world()
		keys := f.listKeys(w.broker.ID)
		rev := f.revision()
		wantErr(t, f.s.DeleteKey(f.ctx, w.broker.ID, keys[0].ID), controlplane.EKEYINUSE,
			`key "`+keys[0].ID+`" is the current signing key; rotate first`)
		wantErr(t, f.s.DeleteKey(f.ctx, w.broker.ID, keys[1].ID), controlplane.EKEYINUSE,
			`key "`+keys[1].ID+`" is the next signing key; rotate first`)
		equal(t, "keys", len(f.listKeys(w.broker.ID)), 2)
		equal(t, "changes", f.changes(rev), []string{})
	}},
	{"DeleteKey/ErrNotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		other := f.broker(w.nsA, "two")
		otherKeys := f.listKeys(other.ID)
		f.rotate(other.ID)
		wantErr(t, f.s.DeleteKey(f.ctx, w.broker.ID, "kid_x"), controlplane.ENOTFOUND, `key "kid_x" not found`)
		// Another broker's retired key is not this broker's.
		wantErr(t, f.s.DeleteKey(f.ctx, w.broker.ID, otherKeys[0].ID), controlplane.ENOTFOUND, `key "`+otherKeys[0].ID+`" not found`)
		wantErr(t, f.s.DeleteKey(f.ctx, "br_x", "kid_x"), controlplane.ENOTFOUND, "")
	}},
}
