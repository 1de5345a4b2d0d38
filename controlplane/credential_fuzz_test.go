package controlplane

import (
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/pkg/token"
)

// FuzzMintRequest checks the promise of minting's validation: whatever the
// expirations, ACL entries and client id, a request is either refused with
// a 400 code, or it becomes a token that signs, verifies, and carries an
// exp between 1 second and MaxExpiration after its iat. ACL arguments are
// newline-separated entries; "-" stands for no publishAcl.
func FuzzMintRequest(f *testing.F) {
	for _, s := range []struct {
		exp, brokerExp             int64
		topicACL, pubACL, clientID string
	}{
		{0, 0, "", "-", ""},
		{-1, 3600, "#", "-", "device-1"},
		{60, 0, "devices/#\ndevices/+/up", "devices/+/up", "a"},
		{10_000_000_000, 0, "#", "-", ""},
		{9_223_372_037, 0, "#", "-", ""},
		{9_223_372_036_854_775_807, 0, "#", "-", ""},
		{-1, 9_300_000_000, "#", "-", ""},
		{-1, 9_200_000_000_000_000_000, "#", "-", ""},
		{315_360_000, 315_360_000, "a/b", "", ""},
		{1, 0, "$share/g/#", "-", ""},
		{1, 0, "$SHARE/g/secret/#", "-", ""},
		{1, 0, "$SYS/#", "$sys/x", ""},
		{1, 0, "$share", "-", ""},
		{1, 0, strings.Repeat("devices/0123456789abcdef/#\n", 300), "-", ""},
		{1, 0, "a/#/b", "+x", "\x00"},
		{1, 0, "\xff", "-", "\xff"},
	} {
		f.Add(s.exp, s.brokerExp, s.topicACL, s.pubACL, s.clientID)
	}
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	kid := token.Thumbprint(pub)
	keys := token.Keys{kid: pub}
	const aud = "b.ns.pubsub.test"
	now := time.Unix(1_800_000_000, 0).UTC()

	f.Fuzz(func(t *testing.T, exp, brokerExp int64, topicACL, pubACL, clientID string) {
		bexp, err := NormalizeExpiration(&brokerExp)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("broker expiration %d: %v, want an %s error", brokerExp, err, EINVALID)
			}
			bexp = nil
		}
		if bexp != nil && (*bexp < 1 || *bexp > MaxExpiration) {
			t.Fatalf("broker expiration %d accepted as %d", brokerExp, *bexp)
		}
		r := MintRequest{TopicACL: strings.Split(topicACL, "\n"), Expiration: &exp}
		if pubACL != "-" {
			r.PublishACL = strings.Split(pubACL, "\n")
		}
		if clientID != "" {
			r.ClientIDs = []string{clientID}
		}
		if err := r.normalize(); err != nil {
			if c := ErrorCode(err); c != EINVALIDCREDPARAM && c != EINVALIDTOPIC || ErrorMessage(err) == "" {
				t.Fatalf("normalize: %v, want an %s or %s error", err, EINVALIDCREDPARAM, EINVALIDTOPIC)
			}
			return
		}
		id := clientID
		if id == "" {
			id = "generated"
		}
		c := &token.Claims{Subject: id, ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Audience: aud, IssuedAt: now.Unix(), TopicACL: r.TopicACL, PublishACL: r.PublishACL}
		if e := expiry(now, bexp, r.Expiration); e != nil {
			if life := e.Unix() - now.Unix(); life < 1 || life > MaxExpiration {
				t.Fatalf("expiration %d, broker %v: lifetime %d", exp, bexp, life)
			}
			c.ExpiresAt = e.Unix()
		}
		tok, err := signCredential(priv, kid, c)
		if err != nil {
			if ErrorCode(err) != EINVALIDCREDPARAM {
				t.Fatalf("signCredential: %v (the service would answer 500)", err)
			}
			return
		}
		got, err := token.Verify(tok, keys, aud, now, 0)
		if err != nil {
			t.Fatalf("a minted token does not verify: %v", err)
		}
		if got.ExpiresAt != c.ExpiresAt || !slices.Equal(got.TopicACL, c.TopicACL) || !slices.Equal(got.PublishACL, c.PublishACL) {
			t.Fatalf("verified claims %+v differ from minted %+v", got, c)
		}
	})
}
