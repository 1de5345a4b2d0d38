package storetest

import (
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

var brokerTests = []test{
	{"CreateBroker/OK", func(t *testing.T, f *fixture) {
		a := f.account("a@example.com")
		ns := f.namespace(a, "alpha")
		rev := f.revision()
		b := &controlplane.Broker{
			ID: "br_1", NamespaceID: ns.ID, Name: "one", AuthType: controlplane.AuthTypeToken,
			Description: "d", Expiration: ptr(int64(60)), OnPublishURL: "https://example.com/hook",
			CreatedOn: t0, ModifiedOn: t0.Add(time.Second),
		}
		keys := []*controlplane.SigningKey{f.newKey(controlplane.KeyCurrent), f.newKey(controlplane.KeyNext)}
		ok(t, f.s.CreateBroker(f.ctx, b, keys))
		want := &controlplane.Broker{
			ID: "br_1", NamespaceID: ns.ID, NamespaceName: "alpha", Name: "one", AuthType: controlplane.AuthTypeToken,
			Description: "d", Expiration: ptr(int64(60)), OnPublishURL: "https://example.com/hook",
			CreatedOn: norm(t0), ModifiedOn: norm(t0.Add(time.Second)),
		}
		equal(t, "the broker after create", b, want)
		got, err := f.s.FindBroker(f.ctx, a.ID, "alpha", "one")
		ok(t, err)
		equal(t, "FindBroker", got, want)
		got, err = f.s.FindBrokerByID(f.ctx, "br_1")
		ok(t, err)
		equal(t, "FindBrokerByID", got, want)

		for _, k := range keys {
			if got, want := k.BrokerID, "br_1"; got != want {
				t.Fatalf("key BrokerID = %q, want %q", got, want)
			}
		}
		gotKeys, err := f.s.ListKeys(f.ctx, "br_1")
		ok(t, err)
		equal(t, "ListKeys", gotKeys, keys)

		equal(t, "changes", f.changes(rev), []string{
			changeLine(controlplane.ChangeBroker, ns.ID, "br_1", ""),
			changeLine(controlplane.ChangeKeys, ns.ID, "br_1", ""),
		})
	}},
	{"CreateBroker/OptionalFieldsEmpty", func(t *testing.T, f *fixture) {
		w := f.world()
		b := &controlplane.Broker{ID: "br_x", NamespaceID: w.nsA.ID, Name: "bare", AuthType: controlplane.AuthTypeToken, CreatedOn: t0}
		ok(t, f.s.CreateBroker(f.ctx, b, nil))
		got, err := f.s.FindBrokerByID(f.ctx, "br_x")
		ok(t, err)
		want := &controlplane.Broker{
			ID: "br_x", NamespaceID: w.nsA.ID, NamespaceName: "alpha", Name: "bare", AuthType: controlplane.AuthTypeToken,
			CreatedOn: norm(t0), ModifiedOn: norm(t0),
		}
		equal(t, "FindBrokerByID", got, want)
	}},
	{"CreateBroker/ErrBrokerTaken", func(t *testing.T, f *fixture) {
		w := f.world()
		rev := f.revision()
		b := f.newBroker(w.nsA, "one")
		err := f.s.CreateBroker(f.ctx, b, []*controlplane.SigningKey{f.newKey(controlplane.KeyCurrent)})
		wantError(t, err, controlplane.ErrBrokerTaken("alpha", "one"))
		equal(t, "changes", f.changes(rev), []string{})
		_, err = f.s.FindBrokerByID(f.ctx, b.ID)
		wantErr(t, err, controlplane.ENOTFOUND, "")
		// The same name in another namespace is fine.
		f.broker(w.nsB, "one")
	}},
	{"CreateBroker/ErrNamespaceNotFound", func(t *testing.T, f *fixture) {
		f.account("a@example.com")
		b := &controlplane.Broker{ID: "br_x", NamespaceID: "ns_x", Name: "one", AuthType: controlplane.AuthTypeToken, CreatedOn: t0}
		wantErr(t, f.s.CreateBroker(f.ctx, b, nil), controlplane.ENOTFOUND, `namespace "ns_x" not found`)
	}},
	{"FindBroker/ErrNamespaceNotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		_, err := f.s.FindBroker(f.ctx, w.a.ID, "nope", "one")
		wantError(t, err, controlplane.ErrNamespaceNotFound("nope"))
	}},
	{"FindBroker/ErrBrokerNotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		_, err := f.s.FindBroker(f.ctx, w.a.ID, "alpha", "two")
		wantError(t, err, controlplane.ErrBrokerNotFound("alpha", "two"))
		// An empty namespace answers the same.
		_, err = f.s.FindBroker(f.ctx, w.b.ID, "beta", "one")
		wantError(t, err, controlplane.ErrBrokerNotFound("beta", "one"))
	}},
	{"FindBroker/ErrOtherAccount", func(t *testing.T, f *fixture) {
		w := f.world()
		_, err := f.s.FindBroker(f.ctx, w.b.ID, "alpha", "one")
		wantError(t, err, controlplane.ErrNamespaceNotFound("alpha"))
	}},
	{"FindBrokerByID/ErrNotFound", func(t *testing.T, f *fixture) {
		f.world()
		_, err := f.s.FindBrokerByID(f.ctx, "br_x")
		wantErr(t, err, controlplane.ENOTFOUND, `broker "br_x" not found`)
	}},
	{"ListBrokers/Pages", func(t *testing.T, f *fixture) {
		w := f.world()
		all := []*controlplane.Broker{w.broker}
		for _, name := range []string{"zulu", "bravo", "alpha"} {
			all = append(all, f.broker(w.nsA, name))
		}
		f.broker(w.nsB, "elsewhere")
		tests := []struct {
			name string
			page controlplane.Page
			want []*controlplane.Broker
		}{
			{"First", controlplane.Page{Page: 1, PerPage: 3}, all[:3]},
			{"Second", controlplane.Page{Page: 2, PerPage: 3}, all[3:]},
			{"PastTheEnd", controlplane.Page{Page: 5, PerPage: 3}, nil},
			{"NoLimit", controlplane.Page{}, all},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := f.s.ListBrokers(f.ctx, w.a.ID, "alpha", tt.page)
				ok(t, err)
				if got, want := total, len(all); got != want {
					t.Fatalf("total = %d, want %d", got, want)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d brokers, want %d", len(got), len(tt.want))
				}
				for i := range got {
					equal(t, "broker", got[i], tt.want[i])
				}
			})
		}
	}},
	{"ListBrokers/ErrNamespaceNotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		_, _, err := f.s.ListBrokers(f.ctx, w.a.ID, "nope", controlplane.Page{Page: 1, PerPage: 10})
		wantError(t, err, controlplane.ErrNamespaceNotFound("nope"))
		_, _, err = f.s.ListBrokers(f.ctx, w.b.ID, "alpha", controlplane.Page{Page: 1, PerPage: 10})
		wantError(t, err, controlplane.ErrNamespaceNotFound("alpha"))
	}},
	{"UpdateBroker/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		rev := f.revision()
		u := *w.broker
		u.Name = "renamed" // not written
		u.Description = "new"
		u.Expiration = nil
		u.OnPublishURL = ""
		u.ModifiedOn = t0.Add(time.Hour)
		ok(t, f.s.UpdateBroker(f.ctx, &u))
		want := *w.broker
		want.Description, want.Expiration, want.OnPublishURL, want.ModifiedOn = "new", nil, "", norm(t0.Add(time.Hour))
		got, err := f.s.FindBrokerByID(f.ctx, w.broker.ID)
		ok(t, err)
		equal(t, "FindBrokerByID", got, &want)
		equal(t, "changes", f.changes(rev), []string{changeLine(controlplane.ChangeBroker, w.nsA.ID, w.broker.ID, "")})

		u.Expiration = ptr(int64(7200))
		ok(t, f.s.UpdateBroker(f.ctx, &u))
		got, err = f.s.FindBrokerByID(f.ctx, w.broker.ID)
		ok(t, err)
		if got.Expiration == nil || *got.Expiration != 7200 {
			t.Fatalf("Expiration = %v, want 7200", got.Expiration)
		}
	}},
	{"UpdateBroker/ErrNotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		rev := f.revision()
		u := *w.broker
		u.ID = "br_x"
		wantErr(t, f.s.UpdateBroker(f.ctx, &u), controlplane.ENOTFOUND, `broker "br_x" not found`)
		equal(t, "changes", f.changes(rev), []string{})
	}},
	{"DeleteBroker/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		other := f.broker(w.nsA, "two")
		jtis := f.credentials(w.broker, 3, nil)
		otherJTIs := f.credentials(other, 1, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis[:2], t0, 100))
		ok(t, f.s.RevokeCredentials(f.ctx, other.ID, otherJTIs, t0, 100))
		rev := f.revision()

		ok(t, f.s.DeleteBroker(f.ctx, w.broker.ID))
		equal(t, "changes", f.changes(rev), []string{changeLine(controlplane.ChangeBroker, w.nsA.ID, w.broker.ID, "")})
		_, err := f.s.FindBrokerByID(f.ctx, w.broker.ID)
		wantErr(t, err, controlplane.ENOTFOUND, "")
		_, err = f.s.FindBroker(f.ctx, w.a.ID, "alpha", "one")
		wantError(t, err, controlplane.ErrBrokerNotFound("alpha", "one"))
		_, err = f.s.FindBrokerState(f.ctx, w.broker.ID, t0)
		wantErr(t, err, controlplane.ENOTFOUND, "")

		// Everything it owned is gone.
		keys, err := f.s.ListKeys(f.ctx, w.broker.ID)
		ok(t, err)
		if got, want := len(keys), 0; got != want {
			t.Fatalf("%d keys left, want %d", got, want)
		}
		_, total, err := f.s.ListCredentials(f.ctx, w.broker.ID, controlplane.Page{Page: 1, PerPage: 10})
		ok(t, err)
		if got, want := total, 0; got != want {
			t.Fatalf("%d credentials left, want %d", got, want)
		}
		_, err = f.s.FindCredential(f.ctx, w.broker.ID, jtis[0])
		wantErr(t, err, controlplane.ENOTFOUNDJTI, "")
		_, total, err = f.s.ListRevocations(f.ctx, w.broker.ID, t0, controlplane.Page{Page: 1, PerPage: 10})
		ok(t, err)
		if got, want := total, 0; got != want {
			t.Fatalf("%d revocations left, want %d", got, want)
		}
		_, err = f.s.FindRevocation(f.ctx, w.broker.ID, jtis[0])
		wantErr(t, err, controlplane.ENOTFOUND, "")

		// The other broker keeps its own.
		_, err = f.s.FindRevocation(f.ctx, other.ID, otherJTIs[0])
		ok(t, err)
		keys, err = f.s.ListKeys(f.ctx, other.ID)
		ok(t, err)
		if got, want := len(keys), 2; got != want {
			t.Fatalf("other broker has %d keys, want %d", got, want)
		}

		// A name can be reused once its broker is gone.
		f.broker(w.nsA, "one")
	}},
	{"DeleteBroker/ErrNotFound", func(t *testing.T, f *fixture) {
		f.world()
		rev := f.revision()
		wantErr(t, f.s.DeleteBroker(f.ctx, "br_x"), controlplane.ENOTFOUND, `broker "br_x" not found`)
		equal(t, "changes", f.changes(rev), []string{})
	}},
	{"DeleteBroker/ThenNamespace", func(t *testing.T, f *fixture) {
		w := f.world()
		ok(t, f.s.DeleteBroker(f.ctx, w.broker.ID))
		ok(t, f.s.DeleteNamespace(f.ctx, w.a.ID, "alpha"))
	}},
}
