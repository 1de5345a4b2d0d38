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

var selfSignedRevocationTests = []test{
	{"RevokeSelfSigned/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		issued := f.credentials(w.broker, 1, nil)
		rev := f.revision()
		ok(t, f.s.RevokeSelfSigned(f.ctx, w.broker.ID, []string{"customer-1", issued[0], "customer-1"}, f.tick(), 10))
		// Already revoked: nothing changes.
		ok(t, f.s.RevokeSelfSigned(f.ctx, w.broker.ID, []string{"customer-1"}, f.tick(), 10))
		list, total, err := f.s.ListRevocations(f.ctx, w.broker.ID, f.tick(), controlplane.Page{Page: 1, PerPage: 10})
		ok(t, err)
		if total != 2 {
			t.Fatalf("total = %d, want 2", total)
		}
		for _, r := range list {
			if r.JTI == "customer-1" && r.ExpiresAt != nil {
				t.Fatalf("a self-signed jti's revocation expires at %v, want never", r.ExpiresAt)
			}
		}
		equal(t, "changes", f.changes(rev), []string{
			changeLine(controlplane.ChangeRevocation, w.nsA.ID, w.broker.ID, "customer-1"),
			changeLine(controlplane.ChangeRevocation, w.nsA.ID, w.broker.ID, issued[0]),
		})
		// Our own RevokeCredentials still refuses a jti it never issued.
		wantErr(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{"customer-2"}, f.tick(), 10), controlplane.ENOTFOUNDJTI, "")
		ok(t, f.s.UnrevokeSelfSigned(f.ctx, w.broker.ID, []string{"customer-1", "never-revoked"}))
		_, total, err = f.s.ListRevocations(f.ctx, w.broker.ID, f.tick(), controlplane.Page{Page: 1, PerPage: 10})
		ok(t, err)
		if total != 1 {
			t.Fatalf("total after unrevoke = %d, want 1", total)
		}
	}},
	{"RevokeSelfSigned/ErrLimit", func(t *testing.T, f *fixture) {
		w := f.world()
		ok(t, f.s.RevokeSelfSigned(f.ctx, w.broker.ID, []string{"a", "b"}, f.tick(), 2))
		wantErr(t, f.s.RevokeSelfSigned(f.ctx, w.broker.ID, []string{"c"}, f.tick(), 2), controlplane.EREVOCATIONLIMIT, "")
	}},
}
