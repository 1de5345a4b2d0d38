package storetest

import (
	"testing"

	"github.com/openpubsub/pubsub/controlplane"
)

var namespaceTests = []test{
	{"CreateNamespace/OK", func(t *testing.T, f *fixture) {
		a := f.account("a@example.com")
		ns := &controlplane.Namespace{ID: "ns_1", AccountID: a.ID, Name: "alpha", Description: "d", CreatedOn: t0, ModifiedOn: t0}
		ok(t, f.s.CreateNamespace(f.ctx, ns))
		want := &controlplane.Namespace{ID: "ns_1", AccountID: a.ID, Name: "alpha", Description: "d", CreatedOn: norm(t0), ModifiedOn: norm(t0)}
		equal(t, "the namespace after create", ns, want)
		got, err := f.s.FindNamespace(f.ctx, a.ID, "alpha")
		ok(t, err)
		equal(t, "FindNamespace", got, want)
		equal(t, "changes", f.changes(0), []string{changeLine(controlplane.ChangeNamespace, "ns_1", "", "")})
	}},
	{"CreateNamespace/ErrNamespaceTaken", func(t *testing.T, f *fixture) {
		a := f.account("a@example.com")
		f.namespace(a, "alpha")
		before := f.changes(0)
		err := f.s.CreateNamespace(f.ctx, &controlplane.Namespace{ID: "ns_x", AccountID: a.ID, Name: "alpha", CreatedOn: t0})
		wantError(t, err, controlplane.ErrNamespaceTaken("alpha"))
		equal(t, "changes", f.changes(0), before)
	}},
	{"CreateNamespace/ErrNamespaceTakenByOtherAccount", func(t *testing.T, f *fixture) {
		a, b := f.account("a@example.com"), f.account("b@example.com")
		f.namespace(a, "alpha")
		err := f.s.CreateNamespace(f.ctx, &controlplane.Namespace{ID: "ns_x", AccountID: b.ID, Name: "alpha", CreatedOn: t0})
		wantError(t, err, controlplane.ErrNamespaceTaken("alpha"))
	}},
	{"CreateNamespace/ErrAccountNotFound", func(t *testing.T, f *fixture) {
		err := f.s.CreateNamespace(f.ctx, &controlplane.Namespace{ID: "ns_x", AccountID: "acct_x", Name: "alpha", CreatedOn: t0})
		wantErr(t, err, controlplane.ENOTFOUND, `account "acct_x" not found`)
		equal(t, "changes", f.changes(0), []string{})
	}},
	{"FindNamespace/ErrNotFound", func(t *testing.T, f *fixture) {
		a := f.account("a@example.com")
		_, err := f.s.FindNamespace(f.ctx, a.ID, "nope")
		wantError(t, err, controlplane.ErrNamespaceNotFound("nope"))
	}},
	{"FindNamespace/ErrOtherAccount", func(t *testing.T, f *fixture) {
		w := f.world()
		_, err := f.s.FindNamespace(f.ctx, w.b.ID, "alpha")
		wantError(t, err, controlplane.ErrNamespaceNotFound("alpha"))
	}},
	{"ListNamespaces/Pages", func(t *testing.T, f *fixture) {
		a, b := f.account("a@example.com"), f.account("b@example.com")
		// Creation order differs from name order; two share a creation
		// time and are ordered by id.
		var all []*controlplane.Namespace
		for _, name := range []string{"delta", "bravo", "echo", "alpha", "charlie"} {
			all = append(all, f.namespace(a, name))
		}
		tie := &controlplane.Namespace{ID: "ns_99", AccountID: a.ID, Name: "foxtrot", CreatedOn: all[4].CreatedOn}
		ok(t, f.s.CreateNamespace(f.ctx, tie))
		all = append(all, tie)
		f.namespace(b, "other")

		tests := []struct {
			name string
			page controlplane.Page
			want []*controlplane.Namespace
		}{
			{"First", controlplane.Page{Page: 1, PerPage: 4}, all[:4]},
			{"Second", controlplane.Page{Page: 2, PerPage: 4}, all[4:]},
			{"PastTheEnd", controlplane.Page{Page: 3, PerPage: 4}, nil},
			{"All", controlplane.Page{Page: 1, PerPage: 100}, all},
			{"NoLimit", controlplane.Page{}, all},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := f.s.ListNamespaces(f.ctx, a.ID, tt.page)
				ok(t, err)
				if got, want := total, len(all); got != want {
					t.Fatalf("total = %d, want %d", got, want)
				}
				equal(t, "page", names(got), names(tt.want))
				if len(got) > 0 {
					equal(t, "first namespace", got[0], tt.want[0])
				}
			})
		}
	}},
	{"ListNamespaces/OtherAccount", func(t *testing.T, f *fixture) {
		w := f.world()
		got, total, err := f.s.ListNamespaces(f.ctx, w.b.ID, controlplane.Page{Page: 1, PerPage: 10})
		ok(t, err)
		equal(t, "names", names(got), []string{"beta"})
		if got, want := total, 1; got != want {
			t.Fatalf("total = %d, want %d", got, want)
		}
		got, total, err = f.s.ListNamespaces(f.ctx, "acct_none", controlplane.Page{Page: 1, PerPage: 10})
		ok(t, err)
		if len(got) != 0 || total != 0 {
			t.Fatalf("unknown account: %d namespaces, total %d, want none", len(got), total)
		}
	}},
	{"DeleteNamespace/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		rev := f.revision()
		ok(t, f.s.DeleteNamespace(f.ctx, w.b.ID, "beta"))
		_, err := f.s.FindNamespace(f.ctx, w.b.ID, "beta")
		wantErr(t, err, controlplane.ENOTFOUND, "")
		equal(t, "changes", f.changes(rev), []string{changeLine(controlplane.ChangeNamespace, w.nsB.ID, "", "")})
		// The name is free again, for any account.
		f.namespace(w.a, "beta")
	}},
	{"DeleteNamespace/ErrNotFound", func(t *testing.T, f *fixture) {
		a := f.account("a@example.com")
		wantError(t, f.s.DeleteNamespace(f.ctx, a.ID, "nope"), controlplane.ErrNamespaceNotFound("nope"))
	}},
	{"DeleteNamespace/ErrOtherAccount", func(t *testing.T, f *fixture) {
		w := f.world()
		rev := f.revision()
		wantError(t, f.s.DeleteNamespace(f.ctx, w.a.ID, "beta"), controlplane.ErrNamespaceNotFound("beta"))
		_, err := f.s.FindNamespace(f.ctx, w.b.ID, "beta")
		ok(t, err)
		equal(t, "changes", f.changes(rev), []string{})
	}},
	{"DeleteNamespace/ErrNotEmpty", func(t *testing.T, f *fixture) {
		w := f.world()
		f.broker(w.nsA, "zeta")
		f.broker(w.nsA, "alpha-2")
		rev := f.revision()
		err := f.s.DeleteNamespace(f.ctx, w.a.ID, "alpha")
		wantError(t, err, controlplane.ErrNamespaceNotEmpty("alpha", []string{"alpha-2", "one", "zeta"}))
		if got, want := controlplane.ErrorCode(err), controlplane.ENOTEMPTY; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
		_, err = f.s.FindNamespace(f.ctx, w.a.ID, "alpha")
		ok(t, err)
		equal(t, "changes", f.changes(rev), []string{})
	}},
}

func names(list []*controlplane.Namespace) []string {
	out := []string{}
	for _, ns := range list {
		out = append(out, ns.Name)
	}
	return out
}
