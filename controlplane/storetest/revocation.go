package storetest

import (
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// now is the revocation time of tests; credentials expire around it.
var now = t0.Add(24 * time.Hour)

func (f *fixture) revocationChanges(nsID, brokerID string, jtis ...string) []string {
	out := []string{}
	for _, j := range jtis {
		out = append(out, changeLine(controlplane.ChangeRevocation, nsID, brokerID, j))
	}
	return out
}

// listRevoked returns the jtis ListRevocations shows at, in order.
func (f *fixture) listRevoked(brokerID string, at time.Time) []string {
	f.t.Helper()
	list, total, err := f.s.ListRevocations(f.ctx, brokerID, at, controlplane.Page{})
	if err != nil {
		f.t.Fatalf("ListRevocations: %v", err)
	}
	if total != len(list) {
		f.t.Fatalf("ListRevocations: total %d for %d revocations", total, len(list))
	}
	out := []string{}
	for _, r := range list {
		out = append(out, r.JTI)
	}
	return out
}

var revocationTests = []test{
	{"RevokeCredentials/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		exp := now.Add(time.Hour)
		expiring := f.credentials(w.broker, 2, &exp)
		forever := f.credentials(w.broker, 1, nil)
		rev := f.revision()
		// Request order, not creation order, is the order of the changes.
		jtis := []string{forever[0], expiring[1], expiring[0]}
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis, now, 10))
		equal(t, "changes", f.changes(rev), f.revocationChanges(w.nsA.ID, w.broker.ID, jtis...))

		r, err := f.s.FindRevocation(f.ctx, w.broker.ID, expiring[0])
		ok(t, err)
		equal(t, "FindRevocation", r, &controlplane.Revocation{JTI: expiring[0], BrokerID: w.broker.ID, RevokedAt: norm(now), ExpiresAt: normPtr(&exp)})
		r, err = f.s.FindRevocation(f.ctx, w.broker.ID, forever[0])
		ok(t, err)
		equal(t, "FindRevocation", r, &controlplane.Revocation{JTI: forever[0], BrokerID: w.broker.ID, RevokedAt: norm(now)})
	}},
	{"RevokeCredentials/AlreadyRevoked", func(t *testing.T, f *fixture) {
		w := f.world()
		jtis := f.credentials(w.broker, 3, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis[:2], now, 10))
		rev := f.revision()
		// Revoking again changes nothing, not even the revocation time; a
		// jti listed twice counts once.
		later := now.Add(time.Minute)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{jtis[0], jtis[2], jtis[2], jtis[1]}, later, 10))
		equal(t, "changes", f.changes(rev), f.revocationChanges(w.nsA.ID, w.broker.ID, jtis[2]))
		r, err := f.s.FindRevocation(f.ctx, w.broker.ID, jtis[0])
		ok(t, err)
		equal(t, "RevokedAt", r.RevokedAt, norm(now))
		rev = f.revision()
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis, later, 10))
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, nil, later, 10))
		equal(t, "changes", f.changes(rev), []string{})
	}},
	{"RevokeCredentials/ErrJTINotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		other := f.broker(w.nsA, "two")
		jtis := f.credentials(w.broker, 1, nil)
		otherJTIs := f.credentials(other, 1, nil)
		rev := f.revision()
		err := f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{jtis[0], "nope"}, now, 10)
		wantErr(t, err, controlplane.ENOTFOUNDJTI, `jti "nope" was not issued by this broker`)
		// Every unknown jti is named, in request order; another broker's
		// jti is unknown here.
		err = f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{"zz", jtis[0], otherJTIs[0], "aa"}, now, 10)
		wantErr(t, err, controlplane.ENOTFOUNDJTI, `jtis "zz", "`+otherJTIs[0]+`", "aa" were not issued by this broker`)
		// Nothing was revoked.
		_, err = f.s.FindRevocation(f.ctx, w.broker.ID, jtis[0])
		wantErr(t, err, controlplane.ENOTFOUND, `jti "`+jtis[0]+`" is not revoked`)
		equal(t, "changes", f.changes(rev), []string{})
		// An unknown broker issued nothing.
		err = f.s.RevokeCredentials(f.ctx, "br_x", []string{"a"}, now, 10)
		wantErr(t, err, controlplane.ENOTFOUNDJTI, `jti "a" was not issued by this broker`)
	}},
	{"RevokeCredentials/ErrRevocationLimit", func(t *testing.T, f *fixture) {
		w := f.world()
		soon, later := now.Add(time.Hour), now.Add(48*time.Hour)
		short := f.credentials(w.broker, 2, &soon)
		long := f.credentials(w.broker, 3, &later)
		dead := f.credentials(w.broker, 1, ptr(now.Add(-time.Hour)))
		const limit = 3
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, short, now, limit))
		rev := f.revision()

		err := f.s.RevokeCredentials(f.ctx, w.broker.ID, long[:2], now, limit)
		wantErr(t, err, controlplane.EREVOCATIONLIMIT,
			"revoking 2 more credentials would exceed the limit of 3 unexpired revocations per broker (2 in use); "+
				"unrevoke credentials, or wait for revoked tokens to expire, to free room")
		equal(t, "revoked", f.listRevoked(w.broker.ID, now), short)
		equal(t, "changes", f.changes(rev), []string{})

		// Exactly at the limit is fine. A token that has already expired
		// takes no room, nor does an already revoked one.
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{long[0], short[0]}, now, limit))
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, dead, now, limit))
		wantErr(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, long[1:2], now, limit), controlplane.EREVOCATIONLIMIT, "")

		// Once the short tokens expire, their room is free again.
		after := soon.Add(time.Second)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, long[1:], after, limit))
		equal(t, "revoked", f.listRevoked(w.broker.ID, after), long)
	}},
	{"RevokeCredentials/UnrevokeFreesRoom", func(t *testing.T, f *fixture) {
		w := f.world()
		jtis := f.credentials(w.broker, 3, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis[:2], now, 2))
		wantErr(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis[2:], now, 2), controlplane.EREVOCATIONLIMIT, "")
		ok(t, f.s.UnrevokeCredentials(f.ctx, w.broker.ID, jtis[:1]))
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis[2:], now, 2))
	}},
	{"UnrevokeCredentials/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		jtis := f.credentials(w.broker, 3, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis, now, 10))
		rev := f.revision()
		ok(t, f.s.UnrevokeCredentials(f.ctx, w.broker.ID, []string{jtis[2], jtis[0], jtis[2]}))
		equal(t, "changes", f.changes(rev), f.revocationChanges(w.nsA.ID, w.broker.ID, jtis[2], jtis[0]))
		_, err := f.s.FindRevocation(f.ctx, w.broker.ID, jtis[0])
		wantErr(t, err, controlplane.ENOTFOUND, `jti "`+jtis[0]+`" is not revoked`)
		equal(t, "revoked", f.listRevoked(w.broker.ID, now), jtis[1:2])
		// The credential itself stays.
		_, err = f.s.FindCredential(f.ctx, w.broker.ID, jtis[0])
		ok(t, err)
	}},
	{"UnrevokeCredentials/NotRevoked", func(t *testing.T, f *fixture) {
		w := f.world()
		jtis := f.credentials(w.broker, 2, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis[:1], now, 10))
		rev := f.revision()
		ok(t, f.s.UnrevokeCredentials(f.ctx, w.broker.ID, jtis[1:]))
		ok(t, f.s.UnrevokeCredentials(f.ctx, w.broker.ID, nil))
		equal(t, "changes", f.changes(rev), []string{})
		equal(t, "revoked", f.listRevoked(w.broker.ID, now), jtis[:1])
	}},
	{"UnrevokeCredentials/ErrJTINotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		jtis := f.credentials(w.broker, 1, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis, now, 10))
		rev := f.revision()
		err := f.s.UnrevokeCredentials(f.ctx, w.broker.ID, []string{jtis[0], "x", "y"})
		wantErr(t, err, controlplane.ENOTFOUNDJTI, `jtis "x", "y" were not issued by this broker`)
		equal(t, "revoked", f.listRevoked(w.broker.ID, now), jtis)
		equal(t, "changes", f.changes(rev), []string{})
		err = f.s.UnrevokeCredentials(f.ctx, "br_x", []string{"x"})
		wantErr(t, err, controlplane.ENOTFOUNDJTI, `jti "x" was not issued by this broker`)
	}},
	{"ListRevocations/OldestFirst", func(t *testing.T, f *fixture) {
		w := f.world()
		other := f.broker(w.nsA, "two")
		soon := now.Add(time.Hour)
		expiring := f.credentials(w.broker, 2, &soon)
		forever := f.credentials(w.broker, 3, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, other.ID, f.credentials(other, 1, nil), now, 10))
		// Revoked at three times; within one time, by jti.
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{forever[2]}, now, 10))
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{expiring[1], forever[1], expiring[0]}, now.Add(time.Second), 10))
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{forever[0]}, now.Add(2*time.Second), 10))
		all := []string{forever[2], expiring[0], expiring[1], forever[1], forever[0]}
		tests := []struct {
			name  string
			at    time.Time
			page  controlplane.Page
			want  []string
			total int
		}{
			{"First", now, controlplane.Page{Page: 1, PerPage: 2}, all[:2], 5},
			{"Last", now, controlplane.Page{Page: 3, PerPage: 2}, all[4:], 5},
			{"PastTheEnd", now, controlplane.Page{Page: 4, PerPage: 2}, []string{}, 5},
			{"ExpiredExcluded", soon, controlplane.Page{Page: 1, PerPage: 10}, []string{forever[2], forever[1], forever[0]}, 3},
			{"JustBeforeExpiry", soon.Add(-time.Microsecond), controlplane.Page{}, all, 5},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				list, total, err := f.s.ListRevocations(f.ctx, w.broker.ID, tt.at, tt.page)
				ok(t, err)
				if got, want := total, tt.total; got != want {
					t.Fatalf("total = %d, want %d", got, want)
				}
				got := []string{}
				for _, r := range list {
					got = append(got, r.JTI)
					if r.BrokerID != w.broker.ID {
						t.Fatalf("revocation of broker %q listed", r.BrokerID)
					}
				}
				equal(t, "jtis", got, tt.want)
			})
		}
	}},
	{"FindRevocation/ErrNotFound", func(t *testing.T, f *fixture) {
		w := f.world()
		other := f.broker(w.nsA, "two")
		jtis := f.credentials(other, 1, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, other.ID, jtis, now, 10))
		_, err := f.s.FindRevocation(f.ctx, w.broker.ID, jtis[0])
		wantErr(t, err, controlplane.ENOTFOUND, `jti "`+jtis[0]+`" is not revoked`)
		_, err = f.s.FindRevocation(f.ctx, w.broker.ID, "nope")
		wantErr(t, err, controlplane.ENOTFOUND, `jti "nope" is not revoked`)
	}},
	{"PurgeRevocations/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		soon, later := now.Add(time.Hour), now.Add(2*time.Hour)
		a := f.credentials(w.broker, 2, &soon)
		b := f.credentials(w.broker, 1, &later)
		c := f.credentials(w.broker, 1, nil)
		all := append(append(append([]string{}, a...), b...), c...)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, all, now, 10))
		rev := f.revision()

		n, err := f.s.PurgeRevocations(f.ctx, soon.Add(-time.Microsecond))
		ok(t, err)
		equal(t, "purged before expiry", n, 0)
		n, err = f.s.PurgeRevocations(f.ctx, soon) // expired at soon: ListRevocations(soon) hides them
		ok(t, err)
		equal(t, "purged", n, 2)
		_, err = f.s.FindRevocation(f.ctx, w.broker.ID, a[0])
		wantErr(t, err, controlplane.ENOTFOUND, "")
		equal(t, "revoked", f.listRevoked(w.broker.ID, now), append(append([]string{}, b...), c...))
		n, err = f.s.PurgeRevocations(f.ctx, soon)
		ok(t, err)
		equal(t, "purged again", n, 0)
		n, err = f.s.PurgeRevocations(f.ctx, now.Add(100*time.Hour))
		ok(t, err)
		equal(t, "purged later", n, 1)
		equal(t, "revoked", f.listRevoked(w.broker.ID, now), c)
		equal(t, "changes", f.changes(rev), []string{})
	}},
}
