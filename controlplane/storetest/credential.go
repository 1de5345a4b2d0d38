package storetest

import (
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

var credentialTests = []test{
	{"CreateCredentials/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		rev := f.revision()
		exp := t0.Add(time.Hour)
		creds := []*controlplane.Credential{
			{JTI: "j1", BrokerID: w.broker.ID, ClientID: "c1", KeyID: "k1", IssuedAt: t0, ExpiresAt: &exp,
				TopicACL: []string{"a/#", "b/+"}, PublishACL: []string{"a/b"}, SubscribeACL: nil},
			{JTI: "j2", BrokerID: w.broker.ID, ClientID: "c2", KeyID: "k1", IssuedAt: t0, ExpiresAt: nil,
				TopicACL: []string{}, PublishACL: nil, SubscribeACL: []string{}},
			{JTI: "j3", BrokerID: w.broker.ID, ClientID: "c\"3<&>", KeyID: "k1", IssuedAt: t0,
				TopicACL: nil, PublishACL: []string{"x/\"y\"", "ü/<z>"}, SubscribeACL: []string{"#"}},
		}
		ok(t, f.s.CreateCredentials(f.ctx, creds))
		for _, c := range creds {
			got, err := f.s.FindCredential(f.ctx, w.broker.ID, c.JTI)
			ok(t, err)
			want := *c
			want.IssuedAt, want.ExpiresAt = norm(c.IssuedAt), normPtr(c.ExpiresAt)
			equal(t, "FindCredential("+c.JTI+")", got, &want)
			// DeepEqual does not tell a nil slice from an empty one.
			for _, acl := range []struct {
				name      string
				got, want []string
			}{{"TopicACL", got.TopicACL, c.TopicACL}, {"PublishACL", got.PublishACL, c.PublishACL}, {"SubscribeACL", got.SubscribeACL, c.SubscribeACL}} {
				if got, want := acl.got == nil, acl.want == nil; got != want {
					t.Fatalf("%s %s is nil: %v, want %v", c.JTI, acl.name, got, want)
				}
			}
		}
		equal(t, "changes", f.changes(rev), []string{})
	}},
	{"CreateCredentials/Empty", func(t *testing.T, f *fixture) {
		ok(t, f.s.CreateCredentials(f.ctx, nil))
		ok(t, f.s.CreateCredentials(f.ctx, []*controlplane.Credential{}))
	}},
	{"CreateCredentials/ErrDuplicate", func(t *testing.T, f *fixture) {
		w := f.world()
		jtis := f.credentials(w.broker, 1, nil)
		batch := f.newCredentials(w.broker, 3, nil)
		batch[2].JTI = jtis[0]
		err := f.s.CreateCredentials(f.ctx, batch)
		wantErr(t, err, controlplane.ECONFLICT, "a credential with one of these jtis already exists")
		// All or nothing.
		_, err = f.s.FindCredential(f.ctx, w.broker.ID, batch[0].JTI)
		wantErr(t, err, controlplane.ENOTFOUNDJTI, "")
	}},
	{"CreateCredentials/ErrBrokerNotFound", func(t *testing.T, f *fixture) {
		f.world()
		creds := []*controlplane.Credential{{JTI: "j1", BrokerID: "br_x", ClientID: "c", KeyID: "k", IssuedAt: t0}}
		wantErr(t, f.s.CreateCredentials(f.ctx, creds), controlplane.ENOTFOUND, `broker "br_x" not found`)
	}},
	{"FindCredential/ErrNotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		other := f.broker(w.nsA, "two")
		jtis := f.credentials(other, 1, nil)
		_, err := f.s.FindCredential(f.ctx, w.broker.ID, "nope")
		wantErr(t, err, controlplane.ENOTFOUNDJTI, `jti "nope" was not issued by this broker`)
		_, err = f.s.FindCredential(f.ctx, w.broker.ID, jtis[0])
		wantErr(t, err, controlplane.ENOTFOUNDJTI, `jti "`+jtis[0]+`" was not issued by this broker`)
	}},
	{"ListCredentials/NewestFirst", func(t *testing.T, f *fixture) {
		w := f.world()
		other := f.broker(w.nsA, "two")
		creds := f.newCredentials(w.broker, 5, nil)
		// Same issue time as the newest: ties go to the greater jti first.
		tie := &controlplane.Credential{JTI: "jti_zz", BrokerID: w.broker.ID, ClientID: "c", KeyID: "k", IssuedAt: creds[4].IssuedAt}
		ok(t, f.s.CreateCredentials(f.ctx, append(creds, tie)))
		jtis := []string{creds[0].JTI, creds[1].JTI, creds[2].JTI, creds[3].JTI, creds[4].JTI}
		f.credentials(other, 2, nil)
		newestFirst := []string{"jti_zz", jtis[4], jtis[3], jtis[2], jtis[1], jtis[0]}

		tests := []struct {
			name string
			page controlplane.Page
			want []string
		}{
			{"First", controlplane.Page{Page: 1, PerPage: 4}, newestFirst[:4]},
			{"Second", controlplane.Page{Page: 2, PerPage: 4}, newestFirst[4:]},
			{"PastTheEnd", controlplane.Page{Page: 3, PerPage: 4}, []string{}},
			{"NoLimit", controlplane.Page{}, newestFirst},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				list, total, err := f.s.ListCredentials(f.ctx, w.broker.ID, tt.page)
				ok(t, err)
				if got, want := total, 6; got != want {
					t.Fatalf("total = %d, want %d", got, want)
				}
				got := []string{}
				for _, c := range list {
					got = append(got, c.JTI)
				}
				equal(t, "jtis", got, tt.want)
			})
		}
	}},
}
