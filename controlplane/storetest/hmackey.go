package storetest

import (
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// hmacKeyIDs returns the ids of keys, in order.
func hmacKeyIDs(keys []*controlplane.HMACKey) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

func (f *fixture) hmacKey(brokerID, id string) *controlplane.HMACKey {
	f.t.Helper()
	k := &controlplane.HMACKey{ID: id, BrokerID: brokerID, SealedSecret: []byte("sealed " + id), CreatedOn: norm(f.tick())}
	if err := f.s.CreateHMACKey(f.ctx, k); err != nil {
		f.t.Fatalf("CreateHMACKey: %v", err)
	}
	return k
}

// brokerHMACKeys returns the ids of the HMAC keys in b's feed state.
func (f *fixture) brokerHMACKeys(brokerID string) []string {
	f.t.Helper()
	st, err := f.s.FindBrokerState(f.ctx, brokerID, time.Now())
	if err != nil {
		f.t.Fatalf("FindBrokerState: %v", err)
	}
	return hmacKeyIDs(st.HMACKeys)
}

var hmacKeyTests = []test{
	{"CreateHMACKey/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		rev := f.revision()
		a := f.hmacKey(w.broker.ID, "1a2b3c4d")
		b := f.hmacKey(w.broker.ID, "0000ffff")
		got, err := f.s.ListHMACKeys(f.ctx, w.broker.ID)
		ok(t, err)
		equal(t, "keys", got, []*controlplane.HMACKey{a, b})
		line := changeLine(controlplane.ChangeKeys, w.nsA.ID, w.broker.ID, "")
		equal(t, "changes", f.changes(rev), []string{line, line})
	}},
	{"CreateHMACKey/ErrTaken", func(t *testing.T, f *fixture) {
		w := f.world()
		f.hmacKey(w.broker.ID, "1a2b3c4d")
		err := f.s.CreateHMACKey(f.ctx, &controlplane.HMACKey{ID: "1a2b3c4d", BrokerID: w.broker.ID, SealedSecret: []byte("x")})
		wantErr(t, err, controlplane.ECONFLICT, `signing key "1a2b3c4d" already exists`)
	}},
	{"CreateHMACKey/ErrBrokerNotFound", func(t *testing.T, f *fixture) {
		err := f.s.CreateHMACKey(f.ctx, &controlplane.HMACKey{ID: "1a2b3c4d", BrokerID: "nope", SealedSecret: []byte("x")})
		wantErr(t, err, controlplane.ENOTFOUND, "")
	}},
	{"DeleteHMACKey/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		f.hmacKey(w.broker.ID, "1a2b3c4d")
		b := f.hmacKey(w.broker.ID, "0000ffff")
		rev := f.revision()
		ok(t, f.s.DeleteHMACKey(f.ctx, w.broker.ID, "1a2b3c4d"))
		got, err := f.s.ListHMACKeys(f.ctx, w.broker.ID)
		ok(t, err)
		equal(t, "keys", got, []*controlplane.HMACKey{b})
		equal(t, "changes", f.changes(rev), []string{changeLine(controlplane.ChangeKeys, w.nsA.ID, w.broker.ID, "")})
	}},
	{"DeleteHMACKey/ErrNotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		wantErr(t, f.s.DeleteHMACKey(f.ctx, w.broker.ID, "1a2b3c4d"), controlplane.ENOTFOUND, `signing key "1a2b3c4d" not found`)
	}},
	{"BrokerState/OnlyWhenEnabled", func(t *testing.T, f *fixture) {
		w := f.world()
		f.hmacKey(w.broker.ID, "1a2b3c4d")
		equal(t, "keys while disabled", f.brokerHMACKeys(w.broker.ID), []string{})
		w.broker.SelfSignedTokens, w.broker.FastlyWildcards = true, true
		ok(t, f.s.UpdateBroker(f.ctx, w.broker))
		got, err := f.s.FindBrokerByID(f.ctx, w.broker.ID)
		ok(t, err)
		if !got.SelfSignedTokens || !got.FastlyWildcards {
			t.Fatalf("broker = %+v, want self_signed_tokens and fastly_wildcards set", got)
		}
		equal(t, "keys while enabled", f.brokerHMACKeys(w.broker.ID), []string{"1a2b3c4d"})
		snap, err := f.s.Snapshot(f.ctx, time.Now())
		ok(t, err)
		for _, st := range snap.Brokers {
			if st.Broker.ID == w.broker.ID {
				equal(t, "snapshot keys", hmacKeyIDs(st.HMACKeys), []string{"1a2b3c4d"})
				equal(t, "sealed", string(st.HMACKeys[0].SealedSecret), "sealed 1a2b3c4d")
			}
		}
	}},
	{"DeleteBroker/CascadesHMACKeys", func(t *testing.T, f *fixture) {
		w := f.world()
		f.hmacKey(w.broker.ID, "1a2b3c4d")
		ok(t, f.s.DeleteBroker(f.ctx, w.broker.ID))
		got, err := f.s.ListHMACKeys(f.ctx, w.broker.ID)
		ok(t, err)
		equal(t, "keys", hmacKeyIDs(got), []string{})
	}},
}
