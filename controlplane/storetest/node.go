package storetest

import (
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

func (f *fixture) nodeToken(name string) *controlplane.NodeToken {
	f.t.Helper()
	tok := &controlplane.NodeToken{ID: f.id("node"), Name: name, TokenHash: []byte("hash-" + name), CreatedOn: f.tick()}
	if err := f.s.CreateNodeToken(f.ctx, tok); err != nil {
		f.t.Fatalf("CreateNodeToken(%s): %v", name, err)
	}
	return tok
}

var nodeTests = []test{
	{"CreateNodeToken/OK", func(t *testing.T, f *fixture) {
		tok := &controlplane.NodeToken{ID: "node_1", Name: "edge-1", TokenHash: []byte{1, 2, 3}, CreatedOn: t0}
		ok(t, f.s.CreateNodeToken(f.ctx, tok))
		want := &controlplane.NodeToken{ID: "node_1", Name: "edge-1", TokenHash: []byte{1, 2, 3}, CreatedOn: norm(t0)}
		equal(t, "the token after create", tok, want)
		got, err := f.s.FindNodeTokenByHash(f.ctx, []byte{1, 2, 3})
		ok(t, err)
		equal(t, "FindNodeTokenByHash", got, want)
	}},
	{"CreateNodeToken/ErrNameTaken", func(t *testing.T, f *fixture) {
		f.nodeToken("edge-1")
		err := f.s.CreateNodeToken(f.ctx, &controlplane.NodeToken{ID: "node_x", Name: "edge-1", TokenHash: []byte("x"), CreatedOn: t0})
		wantErr(t, err, controlplane.ECONFLICT, `node token name "edge-1" is already taken`)
	}},
	{"FindNodeTokenByHash/ErrNotFound", func(t *testing.T, f *fixture) {
		f.nodeToken("edge-1")
		for _, hash := range [][]byte{[]byte("other"), nil, {}} {
			_, err := f.s.FindNodeTokenByHash(f.ctx, hash)
			wantErr(t, err, controlplane.ENOTFOUND, "node token not found")
		}
	}},
	{"ListNodeTokens/OldestFirst", func(t *testing.T, f *fixture) {
		list, err := f.s.ListNodeTokens(f.ctx)
		ok(t, err)
		equal(t, "len(empty list)", len(list), 0)
		c := f.nodeToken("c")
		a := f.nodeToken("a")
		b := f.nodeToken("b")
		older := &controlplane.NodeToken{ID: "node_0", Name: "old", TokenHash: []byte("old"), CreatedOn: t0.Add(-time.Hour)}
		ok(t, f.s.CreateNodeToken(f.ctx, older))
		list, err = f.s.ListNodeTokens(f.ctx)
		ok(t, err)
		equal(t, "ListNodeTokens", list, []*controlplane.NodeToken{older, c, a, b})
	}},
	{"DeleteNodeToken/OK", func(t *testing.T, f *fixture) {
		a := f.nodeToken("a")
		b := f.nodeToken("b")
		ok(t, f.s.DeleteNodeToken(f.ctx, "a"))
		_, err := f.s.FindNodeTokenByHash(f.ctx, a.TokenHash)
		wantErr(t, err, controlplane.ENOTFOUND, "")
		list, err := f.s.ListNodeTokens(f.ctx)
		ok(t, err)
		equal(t, "ListNodeTokens", list, []*controlplane.NodeToken{b})
		// The name is free again.
		f.nodeToken("a")
	}},
	{"DeleteNodeToken/ErrNotFound", func(t *testing.T, f *fixture) {
		f.nodeToken("a")
		wantErr(t, f.s.DeleteNodeToken(f.ctx, "b"), controlplane.ENOTFOUND, `node token "b" not found`)
	}},
}
