package broker_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

const (
	hsKID    = "1a2b3c4d"
	hsSecret = "0123456789abcdef0123456789abcdef01234567"
)

// hs256 signs claims (JSON) with header (JSON) under secret.
func hs256(secret, header, claims string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

func hsHeader(kid string) string { return `{"alg":"HS256","kid":"` + kid + `","typ":"JWT"}` }

// selfSignedBroker is a feed broker with self-signed tokens enabled and
// one key, whose secret the node has opened.
func selfSignedBroker(t *testing.T, id, host string, wildcards bool) feed.Broker {
	fb := feedBroker(t, id, host)
	fb.SelfSignedTokens, fb.FastlyWildcards = true, wildcards
	fb.HMACKeys = []feed.HMACKey{{ID: hsKID, Sealed: "sealed", Secret: []byte(hsSecret)}}
	return fb
}

func TestAuthenticateSelfSigned(t *testing.T) {
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	claims := func(extra string) string {
		return `{"exp":` + itoa(exp) + `,"x-fastly-read":["topic1","a/+"],"x-fastly-write":["topic1"]` + extra + `}`
	}
	st := mustState(t, 1,
		selfSignedBroker(t, "b1", "b1.ns.example", false),
		func() feed.Broker {
			fb := selfSignedBroker(t, "b2", "b2.ns.example", true)
			fb.HMACKeys[0].ID, fb.HMACKeys[0].Secret = "99999999", []byte("another broker's secret")
			return fb
		}(),
		feedBroker(t, "b3", "b3.ns.example"),
	)
	b1, b3 := st.Broker("b1"), st.Broker("b3")
	edPriv := ed25519.NewKeyFromSeed(make([]byte, 32))
	edSigned := func(header, claims string) string {
		enc := base64.RawURLEncoding
		s := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
		return s + "." + enc.EncodeToString(ed25519.Sign(edPriv, []byte(s)))
	}
	for _, tc := range []struct {
		name   string
		b      *broker.Broker
		tok    string
		reason broker.Reason // "" for accepted
	}{
		{"OK", b1, hs256(hsSecret, hsHeader(hsKID), claims("")), ""},
		{"OK/NoExp", b1, hs256(hsSecret, hsHeader(hsKID), `{"x-fastly-read":["topic1"]}`), ""},
		{"ErrDisabled", b3, hs256(hsSecret, hsHeader(hsKID), claims("")), "algorithm"},
		{"ErrAlgNone", b1, base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+hsKID+`"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims(""))) + ".", "algorithm"},
		{"ErrRS256", b1, hs256(hsSecret, `{"alg":"RS256","kid":"`+hsKID+`"}`, claims("")), "algorithm"},
		{"ErrEdDSAWithHMACKey", b1, edSigned(`{"alg":"EdDSA","kid":"`+hsKID+`"}`, claims("")), "unknown_key"},
		{"ErrMissingKID", b1, hs256(hsSecret, `{"alg":"HS256","typ":"JWT"}`, claims("")), "unknown_key"},
		{"ErrUnknownKID", b1, hs256(hsSecret, hsHeader("00000000"), claims("")), "unknown_key"},
		{"ErrKeyOfAnotherBroker", b1, hs256("another broker's secret", hsHeader("99999999"), claims("")), "unknown_key"},
		{"ErrExpiredBeyondLeeway", b1, hs256(hsSecret, hsHeader(hsKID), `{"exp":`+itoa(now.Add(-901*time.Second).Unix())+`}`), "expired"},
		{"OK/ExpiredWithinLeeway", b1, hs256(hsSecret, hsHeader(hsKID), `{"exp":`+itoa(now.Add(-800*time.Second).Unix())+`}`), ""},
		{"ErrNonArrayClaims", b1, hs256(hsSecret, hsHeader(hsKID), `{"x-fastly-read":"topic1"}`), "claims"},
		{"ErrSignature", b1, hs256("wrong", hsHeader(hsKID), claims("")), "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, r := broker.Authenticate(tc.b, tc.tok, now, time.Minute)
			if tc.reason != "" {
				if r == nil {
					t.Fatalf("accepted, want refusal %q", tc.reason)
				}
				if r.Reason != tc.reason {
					t.Fatalf("reason = %q (%s), want %q", r.Reason, r.Message, tc.reason)
				}
				return
			}
			if r != nil {
				t.Fatalf("refused: %s (%s)", r.Reason, r.Message)
			}
			if !g.SelfSigned() || g.KID != hsKID || g.ClientID != "" {
				t.Fatalf("grant = %+v, want a self-signed grant of %s with no client id", g, hsKID)
			}
		})
	}
}

func TestSelfSignedACL(t *testing.T) {
	now := time.Now()
	tok := hs256(hsSecret, hsHeader(hsKID), `{"x-fastly-read":["topic1","Room/+","all/#"],"x-fastly-write":["topic1","out/#"]}`)
	exact := mustState(t, 1, selfSignedBroker(t, "b1", "b1.ns.example", false)).Broker("b1")
	wild := mustState(t, 1, selfSignedBroker(t, "b1", "b1.ns.example", true)).Broker("b1")
	ge, r := broker.Authenticate(exact, tok, now, 0)
	if r != nil {
		t.Fatal(r)
	}
	gw, r := broker.Authenticate(wild, tok, now, 0)
	if r != nil {
		t.Fatal(r)
	}
	for _, tc := range []struct {
		name     string
		g        *broker.Grant
		pub, sub string
		want     bool
	}{
		{"Exact/PublishListed", ge, "topic1", "", true},
		{"Exact/PublishCaseSensitive", ge, "Topic1", "", false},
		{"Exact/PublishWildcardIsLiteral", ge, "out/x", "", false},
		{"Exact/SubscribeListed", ge, "", "topic1", true},
		{"Exact/SubscribeNotListed", ge, "", "topic2", false},
		{"Exact/SubscribeLiteralWildcardRefused", ge, "", "Room/+", false},
		{"Exact/SubscribeWildcardRefused", ge, "", "#", false},
		{"Exact/SubscribeShared", ge, "", "$share/g/topic1", true},
		{"Exact/ReadOnlyTopicNotWritable", ge, "all/x", "", false},
		{"Wild/PublishUnderFilter", gw, "out/a/b", "", true},
		{"Wild/PublishOutside", gw, "in/a", "", false},
		{"Wild/SubscribeUnderFilter", gw, "", "Room/1", true},
		{"Wild/SubscribeNarrower", gw, "", "all/x/#", true},
		{"Wild/SubscribeWider", gw, "", "#", false},
		{"Wild/SubscribeCaseSensitive", gw, "", "room/1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got bool
			if tc.sub == "" {
				got = tc.g.CanPublish(tc.pub)
			} else {
				got = tc.g.CanSubscribe(tc.sub)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("ErrBadFilterWithWildcards", func(t *testing.T) {
		bad := hs256(hsSecret, hsHeader(hsKID), `{"x-fastly-read":["a/#/b"]}`)
		if _, r := broker.Authenticate(wild, bad, now, 0); r == nil || r.Reason != broker.ReasonClaims {
			t.Fatalf("refusal = %v, want %q", r, broker.ReasonClaims)
		}
		if _, r := broker.Authenticate(exact, bad, now, 0); r != nil {
			t.Fatalf("exact names refused %q: %v", "a/#/b", r)
		}
	})
}

// testSession records how Sessions ends it.
type testSession struct {
	g     *broker.Grant
	ended *broker.Refusal
}

func (s *testSession) Grant() *broker.Grant  { return s.g }
func (s *testSession) End(r *broker.Refusal) { s.ended = r }
func (s *testSession) Schedule(time.Time)    {}

// TestSelfSignedEnforce checks that the sessions of self-signed tokens
// end on revocation of their jti, on the removal of their key, when the
// broker disables self-signed tokens and when fastly_wildcards changes.
func TestSelfSignedEnforce(t *testing.T) {
	now := time.Now()
	fb := selfSignedBroker(t, "b1", "b1.ns.example", false)
	fb.HMACKeys = append(fb.HMACKeys, feed.HMACKey{ID: "feedface", Sealed: "s2", Secret: []byte("second")})
	st := mustState(t, 1, fb)
	register := func(x *broker.Sessions, st *broker.State, secret, kid, claims string) *testSession {
		t.Helper()
		g, r := broker.Authenticate(st.Broker("b1"), hs256(secret, hsHeader(kid), claims), now, 0)
		if r != nil {
			t.Fatal(r)
		}
		s := &testSession{g: g}
		if r := x.Register(s, func() *broker.Broker { return st.Broker("b1") }, now, 0); r != nil {
			t.Fatal(r)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		change func(fb feed.Broker) feed.Broker
		want   [3]broker.Reason // jti-1 on key 1, no jti on key 1, key 2
	}{
		{"Revoked", func(fb feed.Broker) feed.Broker {
			fb.Revocations = []feed.Revocation{{JTI: "jti-1"}}
			return fb
		}, [3]broker.Reason{broker.ReasonRevoked, "", ""}},
		{"KeyRemoved", func(fb feed.Broker) feed.Broker {
			fb.HMACKeys = fb.HMACKeys[1:]
			return fb
		}, [3]broker.Reason{broker.ReasonKeyRemoved, broker.ReasonKeyRemoved, ""}},
		{"Disabled", func(fb feed.Broker) feed.Broker {
			fb.SelfSignedTokens = false
			return fb
		}, [3]broker.Reason{broker.ReasonKeyRemoved, broker.ReasonKeyRemoved, broker.ReasonKeyRemoved}},
		{"WildcardsOn", func(fb feed.Broker) feed.Broker {
			fb.FastlyWildcards = true
			return fb
		}, [3]broker.Reason{broker.ReasonSelfSignedChanged, broker.ReasonSelfSignedChanged, broker.ReasonSelfSignedChanged}},
		{"Unchanged", func(fb feed.Broker) feed.Broker { return fb }, [3]broker.Reason{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x broker.Sessions
			ss := [3]*testSession{
				register(&x, st, hsSecret, hsKID, `{"jti":"jti-1","x-fastly-read":["a"]}`),
				register(&x, st, hsSecret, hsKID, `{"x-fastly-read":["a"]}`),
				register(&x, st, "second", "feedface", `{"jti":"jti-2"}`),
			}
			next, err := st.Apply(feed.Event{Type: feed.TypeBroker, Revision: 2, Broker: ptr(tc.change(fb))})
			if err != nil {
				t.Fatal(err)
			}
			x.Enforce(st.Broker("b1"), next.Broker("b1"), now, 0)
			for i, s := range ss {
				var got broker.Reason
				if s.ended != nil {
					got = s.ended.Reason
				}
				if got != tc.want[i] {
					t.Errorf("session %d ended with %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
}

// TestSelfSignedSnapshotKeepsSecretsSealed checks the disk cache's form:
// sealed secrets only, and the settings, so the node serves the same
// tokens after a restart once it has opened them.
func TestSelfSignedSnapshotKeepsSecretsSealed(t *testing.T) {
	st := mustState(t, 1, selfSignedBroker(t, "b1", "b1.ns.example", true))
	snap := st.Snapshot(time.Now().Unix())
	fb := snap.Brokers[0]
	if !fb.SelfSignedTokens || !fb.FastlyWildcards || fb.SelfSignedLeeway != 900 {
		t.Fatalf("snapshot settings = %v %v %d, want true true 900", fb.SelfSignedTokens, fb.FastlyWildcards, fb.SelfSignedLeeway)
	}
	if len(fb.HMACKeys) != 1 || fb.HMACKeys[0].Sealed != "sealed" || fb.HMACKeys[0].Secret != nil {
		t.Fatalf("snapshot keys = %+v, want the sealed form only", fb.HMACKeys)
	}
	if _, err := broker.NewState(snap); err == nil {
		t.Fatal("NewState accepted a key whose secret was not opened")
	}
	snap.Brokers[0].HMACKeys[0].Secret = []byte(hsSecret)
	again, err := broker.NewState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if _, r := broker.Authenticate(again.Broker("b1"), hs256(hsSecret, hsHeader(hsKID), `{}`), time.Now(), 0); r != nil {
		t.Fatalf("refused after the round trip: %v", r)
	}
}

func ptr[T any](v T) *T { return &v }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// BenchmarkAuthenticate is the token work of one CONNECT (or SSE
// subscribe, or HTTP publish): broker.Authenticate with our Ed25519
// token and with a self-signed HS256 one, on a broker that accepts both.
func BenchmarkAuthenticate(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwk := token.NewJWK(pub)
	host := "b1.ns.example"
	fb := feed.Broker{ID: "b1", Name: "b1", Namespace: "ns", Hostname: host, Keys: []feed.Key{{ID: jwk.Kid, X: jwk.X, State: "current"}},
		SelfSignedTokens: true, HMACKeys: []feed.HMACKey{{ID: hsKID, Sealed: "s", Secret: []byte(hsSecret)}}}
	st, err := broker.NewState(feed.Event{Type: feed.TypeSnapshot, Revision: 1, Brokers: []feed.Broker{fb}})
	if err != nil {
		b.Fatal(err)
	}
	br := st.Broker("b1")
	now := time.Now()
	ed, err := token.Sign(priv, jwk.Kid, &token.Claims{Subject: "client-1", ID: "01HDQFD5Y8HWBFGFBBZPSWQ22N", Audience: host,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(), TopicACL: []string{"topic1", "topic2"}})
	if err != nil {
		b.Fatal(err)
	}
	hs := hs256(hsSecret, hsHeader(hsKID), `{"exp":`+itoa(now.Add(time.Hour).Unix())+`,"x-fastly-read":["topic1","topic2"],"x-fastly-write":["topic1","topic2"]}`)
	for _, bc := range []struct{ name, tok string }{{"Ed25519", ed}, {"HS256", hs}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, r := broker.Authenticate(br, bc.tok, now, time.Minute); r != nil {
					b.Fatal(r)
				}
			}
		})
	}
}

// TestSelfSignedTokenID checks that self-signed tokens without jti get
// distinct ids for per-token limits, and that a jti is the id otherwise.
func TestSelfSignedTokenID(t *testing.T) {
	b := mustState(t, 1, selfSignedBroker(t, "b1", "b1.ns.example", false)).Broker("b1")
	now := time.Now()
	ids := map[string]bool{}
	for _, claims := range []string{`{"x-fastly-read":["a"]}`, `{"x-fastly-read":["b"]}`, `{"jti":"j-1"}`} {
		g, r := broker.Authenticate(b, hs256(hsSecret, hsHeader(hsKID), claims), now, 0)
		if r != nil {
			t.Fatal(r)
		}
		if g.TokenID() == "" || ids[g.TokenID()] {
			t.Fatalf("TokenID %q for %s: empty or shared", g.TokenID(), claims)
		}
		ids[g.TokenID()] = true
	}
	if !ids["j-1"] {
		t.Fatalf("ids = %v, want the jti j-1 among them", ids)
	}
}
