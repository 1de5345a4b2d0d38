package http_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/testenv"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

type jwksResult struct {
	Keys []struct {
		Use, Kty, Kid, Crv, Alg, X string
	} `json:"keys"`
}

// keySet fetches a broker's JWKS over the API and turns it into a KeySet.
func (a *api) keySet(t *testing.T, brokerPath string) (token.Keys, jwksResult) {
	t.Helper()
	var set jwksResult
	a.do("GET", brokerPath+"/publickeys", "").ok(t, &set)
	keys := token.Keys{}
	for _, k := range set.Keys {
		if k.Use != "sig" || k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" {
			t.Fatalf("JWK fields: %+v", k)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("JWK x %q: %v", k.X, err)
		}
		if got := token.Thumbprint(x); got != k.Kid {
			t.Fatalf("kid %q is not the RFC 7638 thumbprint %q", k.Kid, got)
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	return keys, set
}

// mint mints over the API and returns client id -> token, keeping order.
func (a *api) mint(t *testing.T, brokerPath, query string) ([]string, map[string]string) {
	t.Helper()
	r := a.do("GET", brokerPath+"/credentials?"+query, "")
	var m map[string]string
	r.ok(t, &m)
	// Recover the order of the keys in the JSON object.
	dec := json.NewDecoder(strings.NewReader(string(r.Result)))
	var order []string
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		order = append(order, k.(string))
		dec.Token()
	}
	return order, m
}

var ulidRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

// verifyIndependently checks a token with golang-jwt, not our own code.
func verifyIndependently(t *testing.T, tok string, keys token.Keys) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"EdDSA"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt rejects the token: %v", err)
	}
	if len(parsed.Header) != 2 || parsed.Header["alg"] != "EdDSA" {
		t.Fatalf("header must be exactly {alg, kid}: %v", parsed.Header)
	}
	return claims
}

// TestGuideStep5 runs the guide's credentials curl. curl drops "#" and
// everything after it, so the server sees "topicAcl=" with an empty value.
func TestGuideStep5(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "my-namespace" }`).ok(t, nil)
		a.do("POST", "/namespaces/my-namespace/brokers", `{"name": "example-broker", "authType": "TOKEN" }`).ok(t, nil)
		bp := "/namespaces/my-namespace/brokers/example-broker"

		order, creds := a.mint(t, bp, "number=2&type=TOKEN&topicAcl=")
		if len(creds) != 2 || len(order) != 2 || order[0] >= order[1] {
			t.Fatalf("want 2 credentials in minting order, got %v", order)
		}
		keys, set := a.keySet(t, bp)
		if len(set.Keys) != 3 {
			t.Fatalf("want current, next and hook keys, got %d", len(set.Keys))
		}
		for _, id := range order {
			if !strings.HasPrefix(id, "example-broker") || !ulidRE.MatchString(strings.TrimPrefix(id, "example-broker")) {
				t.Fatalf("client id %q is not the broker name followed by a ULID", id)
			}
			tok := creds[id]
			c := verifyIndependently(t, tok, keys)
			if c["sub"] != id || c["aud"] != "example-broker.my-namespace.pubsub.test" || !ulidRE.MatchString(c["jti"].(string)) {
				t.Fatalf("claims: %v", c)
			}
			if acl, _ := json.Marshal(c["topicAcl"]); string(acl) != `["#"]` {
				t.Fatalf("topicAcl: %s", acl)
			}
			if _, ok := c["exp"]; ok {
				t.Fatalf("no expiration was asked for, yet exp=%v", c["exp"])
			}
			iat := int64(c["iat"].(float64))
			if d := time.Since(time.Unix(iat, 0)); d < -time.Second || d > time.Minute {
				t.Fatalf("iat %d is not now", iat)
			}
			// The verifier the broker nodes use agrees.
			claims, err := token.Verify(tok, keys, "example-broker.my-namespace.pubsub.test", time.Now(), 0)
			if err != nil || claims.Subject != id {
				t.Fatalf("token.Verify: %v %+v", err, claims)
			}
			if kid := strings.SplitN(tok, ".", 2)[0]; kid == "" {
				t.Fatal("empty header")
			}
		}
		// The same curl with the # percent-encoded gives the same ACL.
		_, creds = a.mint(t, bp, "number=1&type=TOKEN&topicAcl=%23")
		for _, tok := range creds {
			if c := verifyIndependently(t, tok, keys); fmt.Sprint(c["topicAcl"]) != "[#]" {
				t.Fatalf("topicAcl=%%23: %v", c["topicAcl"])
			}
		}
	})
}

func TestMintOptions(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "capped", "expiration": 3600}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "open"}`).ok(t, nil)
		capped, open := "/namespaces/ns/brokers/capped", "/namespaces/ns/brokers/open"
		ckeys, _ := a.keySet(t, capped)
		okeys, _ := a.keySet(t, open)

		t.Run("ClientIDsHonoured", func(t *testing.T) {
			order, creds := a.mint(t, open, "clientid=device-b&clientid=device-a&type=TOKEN")
			if fmt.Sprint(order) != "[device-b device-a]" {
				t.Fatalf("minted for %v", order)
			}
			for id, tok := range creds {
				if c := verifyIndependently(t, tok, okeys); c["sub"] != id {
					t.Fatalf("sub %v for %s", c["sub"], id)
				}
			}
		})
		// wrangler sends number=1 (its default) with every clientid list.
		t.Run("NumberOneWithClientIDs", func(t *testing.T) {
			order, creds := a.mint(t, open, "number=1&type=TOKEN&clientid=a&clientid=b&clientid=c")
			if fmt.Sprint(order) != "[a b c]" {
				t.Fatalf("minted for %v", order)
			}
			for id, tok := range creds {
				if c := verifyIndependently(t, tok, okeys); c["sub"] != id {
					t.Fatalf("sub %v for %s", c["sub"], id)
				}
			}
		})
		t.Run("SplitACLs", func(t *testing.T) {
			q := url.Values{"topicAcl": {"devices/#"}, "publishAcl": {"devices/+/up"}, "subscribeAcl": {"devices/+/down", "devices/all"}}
			_, creds := a.mint(t, open, q.Encode())
			for _, tok := range creds {
				c := verifyIndependently(t, tok, okeys)
				if fmt.Sprint(c["topicAcl"], c["publishAcl"], c["subscribeAcl"]) != "[devices/#] [devices/+/up] [devices/+/down devices/all]" {
					t.Fatalf("ACL claims: %v", c)
				}
			}
		})
		expOf := func(t *testing.T, path, query string, keys token.Keys) (int64, bool) {
			t.Helper()
			_, creds := a.mint(t, path, query)
			for _, tok := range creds {
				c := verifyIndependently(t, tok, keys)
				exp, ok := c["exp"].(float64)
				return int64(exp) - int64(c["iat"].(float64)), ok
			}
			t.Fatal("nothing minted")
			return 0, false
		}
		for _, tc := range []struct {
			name, path, query string
			keys              token.Keys
			life              int64
			hasExp            bool
		}{
			{"BrokerDefault", capped, "", ckeys, 3600, true},
			{"ShorterWins", capped, "expiration=60", ckeys, 60, true},
			{"BrokerCapsLonger", capped, "expiration=86400", ckeys, 3600, true},
			{"MinusOneKeepsBrokerCap", capped, "expiration=-1", ckeys, 3600, true},
			{"MinusOneNoExp", open, "expiration=-1", okeys, 0, false},
			{"NoExpByDefault", open, "", okeys, 0, false},
			{"OwnExpiration", open, "expiration=120", okeys, 120, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				life, ok := expOf(t, tc.path, tc.query, tc.keys)
				if ok != tc.hasExp || (ok && (life < tc.life-1 || life > tc.life)) {
					t.Fatalf("lifetime: got %d (exp %v), want %d (exp %v)", life, ok, tc.life, tc.hasExp)
				}
			})
		}
		t.Run("POSTMints", func(t *testing.T) {
			var m map[string]string
			a.do("POST", open+"/credentials?number=3", "").ok(t, &m)
			if len(m) != 3 {
				t.Fatalf("POST minted %d", len(m))
			}
		})
		t.Run("Hundred", func(t *testing.T) {
			_, creds := a.mint(t, open, "number=100")
			if len(creds) != 100 {
				t.Fatalf("minted %d", len(creds))
			}
		})
		t.Run("OtherBrokersKeysRefuse", func(t *testing.T) {
			_, creds := a.mint(t, open, "")
			for _, tok := range creds {
				if _, err := token.Verify(tok, ckeys, "open.ns.pubsub.test", time.Now(), 0); err == nil {
					t.Fatal("a token of broker open verified with broker capped's keys")
				}
			}
		})
	})
}

// TestCredentialMetadata lists and finds credentials, and never returns tokens.
func TestCredentialMetadata(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "b"}`).ok(t, nil)
		bp := "/namespaces/ns/brokers/b"
		_, first := a.mint(t, bp, "clientid=one&expiration=600&publishAcl=x/%2B")
		_, _ = a.mint(t, bp, "number=3")

		type cred struct {
			JTI          string   `json:"jti"`
			ClientID     string   `json:"client_id"`
			KeyID        string   `json:"kid"`
			IssuedAt     string   `json:"issued_at"`
			ExpiresAt    *string  `json:"expires_at"`
			TopicACL     []string `json:"topic_acl"`
			PublishACL   []string `json:"publish_acl"`
			SubscribeACL []string `json:"subscribe_acl"`
		}
		var list []cred
		r := a.do("GET", bp+"/credentials/list?per_page=3", "")
		r.ok(t, &list)
		if len(list) != 3 || r.ResultInfo.TotalCount != 4 {
			t.Fatalf("list: %d items, total %d", len(list), r.ResultInfo.TotalCount)
		}
		if strings.Contains(string(r.Result), "eyJ") {
			t.Fatal("credential list leaks a token")
		}
		r = a.do("GET", bp+"/credentials/list?per_page=3&page=2", "")
		r.ok(t, &list)
		if len(list) != 1 || list[0].ClientID != "one" || list[0].ExpiresAt == nil || fmt.Sprint(list[0].PublishACL) != "[x/+]" || list[0].SubscribeACL != nil {
			t.Fatalf("oldest credential: %+v", list)
		}
		claims, err := token.Verify(first["one"], mustKeys(t, a, bp), "b.ns.pubsub.test", time.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		var one cred
		a.do("GET", bp+"/credentials/"+claims.ID, "").ok(t, &one)
		if one.JTI != claims.ID || one.ClientID != "one" || parseTime(t, *one.ExpiresAt).Unix() != claims.ExpiresAt {
			t.Fatalf("lookup by jti: %+v vs %+v", one, claims)
		}
		a.do("GET", bp+"/credentials/01ARZ3NDEKTSV4RRFFQ69G5FAV", "").fails(t, 404, 10042, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	})
}

func mustKeys(t *testing.T, a *api, bp string) token.Keys {
	t.Helper()
	k, _ := a.keySet(t, bp)
	return k
}

// jtis mints n credentials and returns their jtis.
func (a *api) jtis(t *testing.T, bp, query string, n int) []string {
	t.Helper()
	keys := mustKeys(t, a, bp)
	_, creds := a.mint(t, bp, fmt.Sprintf("number=%d&%s", n, query))
	var out []string
	for _, tok := range creds {
		c := verifyIndependently(t, tok, keys)
		out = append(out, c["jti"].(string))
	}
	return out
}

func TestRevocations(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "b"}`).ok(t, nil)
		bp := "/namespaces/ns/brokers/b"
		j := a.jtis(t, bp, "", 4)

		type rev struct {
			JTI       string  `json:"jti"`
			RevokedAt string  `json:"revoked_at"`
			ExpiresAt *string `json:"expires_at"`
		}
		list := func() []string {
			var rs []rev
			a.do("GET", bp+"/revocations", "").ok(t, &rs)
			var out []string
			for _, r := range rs {
				parseTime(t, r.RevokedAt)
				out = append(out, r.JTI)
			}
			return out
		}
		a.do("POST", bp+"/revocations?jti="+j[0]+","+j[1], "").ok(t, nil)
		a.do("POST", bp+"/revocations?jti="+j[2]+"&jti="+j[1], "").ok(t, nil)
		if got := list(); len(got) != 3 {
			t.Fatalf("revoked: %v", got)
		}
		a.do("DELETE", bp+"/revocations?jti="+j[1], "").ok(t, nil)
		if got := fmt.Sprint(list()); strings.Contains(got, j[1]) || !strings.Contains(got, j[0]) || !strings.Contains(got, j[2]) {
			t.Fatalf("after unrevoke: %v", got)
		}

		// A revoked token that expires drops off the list by itself.
		short := a.jtis(t, bp, "expiration=60", 1)
		a.do("POST", bp+"/revocations?jti="+short[0], "").ok(t, nil)
		if got := fmt.Sprint(list()); !strings.Contains(got, short[0]) {
			t.Fatalf("short-lived revocation missing: %v", got)
		}
		a.clock.advance(2 * time.Minute)
		if got := fmt.Sprint(list()); strings.Contains(got, short[0]) || !strings.Contains(got, j[0]) {
			t.Fatalf("expired revocation still listed: %v", got)
		}
	})
}

func TestKeyRotation(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "b"}`).ok(t, nil)
		bp, aud := "/namespaces/ns/brokers/b", "b.ns.pubsub.test"
		_, set := a.keySet(t, bp)
		k1, k2 := set.Keys[0].Kid, set.Keys[1].Kid
		_, before := a.mint(t, bp, "")

		var rot struct {
			Keys    []struct{ Kid string } `json:"keys"`
			Current string                 `json:"current"`
			Next    string                 `json:"next"`
			Retired []string               `json:"retired"`
		}
		a.do("POST", bp+"/publickeys/rotate", "").ok(t, &rot)
		if rot.Current != k2 || rot.Next == k1 || rot.Next == k2 || fmt.Sprint(rot.Retired) != "["+k1+"]" || len(rot.Keys) != 4 {
			t.Fatalf("rotation: %+v (k1 %s, k2 %s)", rot, k1, k2)
		}
		keys, _ := a.keySet(t, bp)
		for _, tok := range before {
			if _, err := token.Verify(tok, keys, aud, time.Now(), 0); err != nil {
				t.Fatalf("a token signed before the rotation must keep working: %v", err)
			}
		}
		_, after := a.mint(t, bp, "")
		for _, tok := range after {
			c := verifyIndependently(t, tok, keys)
			_ = c
			if hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0]); !strings.Contains(string(hdr), k2) {
				t.Fatalf("new tokens must be signed by the promoted key %s: %s", k2, hdr)
			}
		}
		a.do("DELETE", bp+"/publickeys/"+k2, "").fails(t, 400, 10044, "rotate first")
		a.do("DELETE", bp+"/publickeys/"+rot.Next, "").fails(t, 400, 10044, "rotate first")
		a.do("DELETE", bp+"/publickeys/nope", "").fails(t, 404, 10020, "nope")
		a.do("DELETE", bp+"/publickeys/"+k1, "").ok(t, nil)
		keys, _ = a.keySet(t, bp)
		for _, tok := range before {
			if _, err := token.Verify(tok, keys, aud, time.Now(), 0); err == nil {
				t.Fatal("a token of a deleted key still verifies")
			}
		}
		for _, tok := range after {
			if _, err := token.Verify(tok, keys, aud, time.Now(), 0); err != nil {
				t.Fatalf("tokens of the current key must still verify: %v", err)
			}
		}
	})
}

// TestCredentialBadInput covers every refusal of minting and revocation.
func TestCredentialBadInput(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "b"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "other"}`).ok(t, nil)
		bp := "/namespaces/ns/brokers/b"
		mine := a.jtis(t, bp, "", 7)
		theirs := a.jtis(t, "/namespaces/ns/brokers/other", "", 1)
		a.do("POST", bp+"/revocations?jti="+strings.Join(mine[:5], ","), "").ok(t, nil) // the test limit is 5

		tests := []struct {
			name, method, path string
			status, code       int
			msg                string
		}{
			{"NumberZero", "GET", bp + "/credentials?number=0", 400, 10040, "number must be between 1 and 100, got 0"},
			{"NumberTooMany", "GET", bp + "/credentials?number=101", 400, 10040, "number must be between 1 and 100, got 101"},
			{"NumberText", "GET", bp + "/credentials?number=abc", 400, 10040, `number must be a whole number from 1 to 100, got "abc"`},
			{"NumberEmpty", "GET", bp + "/credentials?number=", 400, 10040, "number must be a whole number"},
			{"TypeX", "GET", bp + "/credentials?type=X", 400, 10040, `type "X" is not supported; the supported value is "TOKEN"`},
			{"TypeEmpty", "GET", bp + "/credentials?type=", 400, 10040, "type is empty"},
			{"TopicAclBadHash", "GET", bp + "/credentials?topicAcl=" + url.QueryEscape("a/#/b"), 400, 10041, "topicAcl"},
			{"TopicAclBadPlus", "GET", bp + "/credentials?topicAcl=" + url.QueryEscape("a+/b"), 400, 10041, "topicAcl"},
			{"PublishAclBad", "GET", bp + "/credentials?publishAcl=" + url.QueryEscape("x/#y"), 400, 10041, "publishAcl"},
			{"SubscribeAclBad", "GET", bp + "/credentials?subscribeAcl=" + url.QueryEscape("+x"), 400, 10041, "subscribeAcl"},
			{"ExpirationText", "GET", bp + "/credentials?expiration=1h", 400, 10040, `expiration must be a whole number of seconds, or -1 for none; got "1h"`},
			{"ExpirationZero", "GET", bp + "/credentials?expiration=0", 400, 10040, "expiration must be a positive number of seconds, or -1"},
			{"ExpirationMinusTwo", "GET", bp + "/credentials?expiration=-2", 400, 10040, "got -2"},
			{"ClientIDTwice", "GET", bp + "/credentials?clientid=a&clientid=a", 400, 10040, `clientid "a" is given twice`},
			{"ClientIDTooLong", "GET", bp + "/credentials?clientid=" + strings.Repeat("x", 129), 400, 10040, "clientid must be 1 to 128 bytes"},
			{"ClientIDNumberMismatch", "GET", bp + "/credentials?clientid=a&clientid=b&number=3", 400, 10040, "number=3 does not match the 2 clientid values"},
			{"UnknownBroker", "GET", "/namespaces/ns/brokers/nope/credentials", 404, 10020, `broker "nope" not found`},
			{"UnknownNamespace", "GET", "/namespaces/nope/brokers/b/credentials", 404, 10020, `namespace "nope" not found`},
			{"KeysUnknownBroker", "GET", "/namespaces/ns/brokers/nope/publickeys", 404, 10020, `broker "nope" not found`},
			{"RevokeNoJTI", "POST", bp + "/revocations", 400, 10012, "give at least one jti"},
			{"RevokeUnknownJTI", "POST", bp + "/revocations?jti=01ARZ3NDEKTSV4RRFFQ69G5FAV", 404, 10042, "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
			{"RevokeOtherBrokersJTI", "POST", bp + "/revocations?jti=" + theirs[0], 404, 10042, theirs[0]},
			{"RevokeMixedUnknown", "POST", bp + "/revocations?jti=" + mine[5] + ",01ARZ3NDEKTSV4RRFFQ69G5FAV", 404, 10042, "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
			{"RevocationLimit", "POST", bp + "/revocations?jti=" + mine[5], 400, 10043, "limit"},
			{"UnrevokeUnknownJTI", "DELETE", bp + "/revocations?jti=nope", 404, 10042, "nope"},
			{"UnrevokeNoJTI", "DELETE", bp + "/revocations?jti=", 400, 10012, "give at least one jti"},
			{"RevocationsUnknownBroker", "GET", "/namespaces/ns/brokers/nope/revocations", 404, 10020, `broker "nope" not found`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				a.do(tc.method, tc.path, "").fails(t, tc.status, tc.code, tc.msg)
			})
		}
		// The refused revocations changed nothing.
		var rs []struct{ JTI string }
		a.do("GET", bp+"/revocations", "").ok(t, &rs)
		if len(rs) != 5 {
			t.Fatalf("revocations after refusals: %d, want 5", len(rs))
		}
	})
}

// TestMintLimits covers the limits on minting inputs: lifetimes that would
// overflow the time arithmetic, shared-subscription and $SYS ACL entries,
// and ACLs too long for one token. Each answers 400, never 500, and never
// a token with a wrong exp.
func TestMintLimits(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "b"}`).ok(t, nil)
		bp := "/namespaces/ns/brokers/b"
		keys := mustKeys(t, a, bp)

		many := func(n int, format string) string {
			q := url.Values{}
			for i := range n {
				q.Add("topicAcl", fmt.Sprintf(format, i))
			}
			return q.Encode()
		}
		acl := func(param, filter string) string { return url.Values{param: {filter}}.Encode() }
		for _, tc := range []struct {
			name, query string
			code        int
			msg         string
		}{
			{"Expiration1e10", "expiration=10000000000", 10040, "expiration must be at most 315360000 seconds (3650 days), or -1 for no expiration; got 10000000000"},
			{"ExpirationDurationOverflow", "expiration=9223372037", 10040, "at most 315360000 seconds"},
			{"ExpirationMaxInt64", "expiration=9223372036854775807", 10040, "at most 315360000 seconds"},
			{"ExpirationOverInt64", "expiration=9223372036854775808", 10040, "at most 315360000 seconds"},
			{"ExpirationOneOver", "expiration=315360001", 10040, "got 315360001"},
			{"TopicAclShare", acl("topicAcl", "$share/g/#"), 10041, `topicAcl entry 1 "$share/g/#" is a shared subscription`},
			{"TopicAclShareUpper", acl("topicAcl", "$SHARE/g/secret/#"), 10041, "shared subscription"},
			{"PublishAclShare", acl("publishAcl", "$share/g/x"), 10041, "publishAcl entry 1"},
			{"SubscribeAclShareMixed", acl("subscribeAcl", "$Share/g/x"), 10041, "subscribeAcl entry 1"},
			{"TopicAclShareAlone", acl("topicAcl", "$share"), 10041, "shared subscription"},
			{"TopicAclSys", acl("topicAcl", "$SYS/#"), 10041, "$SYS belong to the server"},
			{"SubscribeAclSysLower", acl("subscribeAcl", "$sys/broker/x"), 10041, "$SYS belong to the server"},
			{"ACL600Entries", many(600, "t/%d"), 10041, "topicAcl has 600 entries; the limit is 256"},
			{"ACL257Entries", many(257, "t/%d"), 10041, "topicAcl has 257 entries; the limit is 256"},
			{"ACLFilterTooLong", acl("topicAcl", strings.Repeat("a", 1025)), 10041, "topicAcl entry 1 is 1025 bytes long; the limit is 1024"},
			{"ACLTooLargeForToken", many(256, "devices/0123456789abcdef/%03d/#"), 10040, "the limit is 8192: use fewer or shorter ACL filters"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a.do("GET", bp+"/credentials?"+tc.query, "").fails(t, 400, tc.code, tc.msg)
			})
		}

		t.Run("LongestExpiration", func(t *testing.T) {
			_, creds := a.mint(t, bp, "expiration=315360000")
			for _, tok := range creds {
				c := verifyIndependently(t, tok, keys)
				if life := int64(c["exp"].(float64)) - int64(c["iat"].(float64)); life != 315360000 {
					t.Fatalf("exp - iat = %d, want 315360000", life)
				}
			}
		})
		t.Run("MostEntries", func(t *testing.T) {
			_, creds := a.mint(t, bp, many(256, "t/%d"))
			for _, tok := range creds {
				if c := verifyIndependently(t, tok, keys); len(c["topicAcl"].([]any)) != 256 {
					t.Fatalf("topicAcl has %d entries, want 256", len(c["topicAcl"].([]any)))
				}
			}
		})
		t.Run("OtherDollarTopics", func(t *testing.T) {
			// Only $share and $SYS are refused; "$SYSTEM" starts like
			// $SYS, which the nodes refuse by its first four bytes.
			a.do("GET", bp+"/credentials?"+acl("topicAcl", "$SYSTEM/x"), "").fails(t, 400, 10041, "$SYS")
			a.mint(t, bp, acl("topicAcl", "$shares/x")+"&"+acl("subscribeAcl", "$app/x"))
		})

		// Nothing refused above was stored.
		var list []struct{ JTI string }
		r := a.do("GET", bp+"/credentials/list", "")
		r.ok(t, &list)
		if got := r.ResultInfo.TotalCount; got != 3 {
			t.Fatalf("stored credentials: %d, want the 3 minted", got)
		}
	})
}

// TestBrokerExpirationLimits refuses broker expirations over the limit on
// create and update, and reads a stored one over the limit as the limit.
func TestBrokerExpirationLimits(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
		for _, tc := range []struct {
			name, exp, msg string
		}{
			{"Seconds", "9300000000", "expiration must be at most 315360000 seconds (3650 days), or null for none; got 9300000000"},
			{"OneOver", "315360001", "got 315360001"},
			{"Nanoseconds", "9200000000000000000", "expiration 9200000000000000000 is read as nanoseconds (values over 10^12 are), which is 9200000000 seconds"},
			{"OverInt64", "100000000000000000000", "at most 315360000 seconds (3650 days), or null for none; got 100000000000000000000"},
			{"Exponent", "1e30", `field "expiration" must be a number: a whole number of seconds or null, not 1e30`},
			{"Fraction", "3600.5", `field "expiration" must be a number: a whole number of seconds or null, not 3600.5`},
			{"String", `"3600"`, `field "expiration" must be a number: a whole number of seconds or null, not "3600"`},
			{"MaxInt64", "9223372036854775807", "which is 9223372036 seconds"},
		} {
			t.Run("Create"+tc.name, func(t *testing.T) {
				a.do("POST", "/namespaces/ns/brokers", `{"name": "x", "expiration": `+tc.exp+`}`).fails(t, 400, 10012, tc.msg)
			})
		}
		a.do("POST", "/namespaces/ns/brokers", `{"name": "b", "expiration": 3600}`).ok(t, nil)
		bp := "/namespaces/ns/brokers/b"
		t.Run("Update", func(t *testing.T) {
			a.do("PATCH", bp, `{"expiration": 9300000000}`).fails(t, 400, 10012, "at most 315360000 seconds")
			var b struct{ Expiration *int64 }
			a.do("GET", bp, "").ok(t, &b)
			if b.Expiration == nil || *b.Expiration != 3600 {
				t.Fatalf("a refused update changed the expiration to %v", b.Expiration)
			}
		})
		t.Run("Longest", func(t *testing.T) {
			var b struct{ Expiration *int64 }
			a.do("PATCH", bp, `{"expiration": 315360000}`).ok(t, &b)
			if b.Expiration == nil || *b.Expiration != 315360000 {
				t.Fatalf("expiration %v, want 315360000", b.Expiration)
			}
			a.do("POST", "/namespaces/ns/brokers", `{"name": "ns-form", "expiration": 315360000000000000}`).ok(t, &b)
			if b.Expiration == nil || *b.Expiration != 315360000 {
				t.Fatalf("expiration in nanoseconds: %v, want 315360000", b.Expiration)
			}
		})

		// A broker stored before the limit, with an expiration that
		// overflows time.Duration, reads as the limit everywhere: the API,
		// default mints and the feed to the nodes.
		ctx := context.Background()
		stored, err := st.FindBroker(ctx, a.acct.Account.ID, "ns", "b")
		if err != nil {
			t.Fatal(err)
		}
		huge := int64(9_300_000_000)
		stored.Expiration = &huge
		if err := st.UpdateBroker(ctx, stored); err != nil {
			t.Fatal(err)
		}
		t.Run("StoredReadsAsLimit", func(t *testing.T) {
			var b struct{ Expiration *int64 }
			a.do("GET", bp, "").ok(t, &b)
			if b.Expiration == nil || *b.Expiration != 315360000 {
				t.Fatalf("GET: expiration %v, want 315360000", b.Expiration)
			}
			var list []struct {
				Name       string
				Expiration *int64
			}
			a.do("GET", "/namespaces/ns/brokers", "").ok(t, &list)
			for _, lb := range list {
				if lb.Name == "b" && (lb.Expiration == nil || *lb.Expiration != 315360000) {
					t.Fatalf("list: expiration %v, want 315360000", lb.Expiration)
				}
			}
		})
		t.Run("StoredDefaultMint", func(t *testing.T) {
			keys := mustKeys(t, a, bp)
			_, creds := a.mint(t, bp, "")
			for _, tok := range creds {
				c := verifyIndependently(t, tok, keys)
				if life := int64(c["exp"].(float64)) - int64(c["iat"].(float64)); life != 315360000 {
					t.Fatalf("exp - iat = %d, want 315360000", life)
				}
			}
		})
		t.Run("StoredFeed", func(t *testing.T) {
			errStop := errors.New("stop")
			var got int64 = -1
			err := a.svc.StreamFeed(ctx, 0, func(ev *feed.Event) error {
				for _, fb := range ev.Brokers {
					if fb.Name == "b" {
						got = fb.Expiration
					}
				}
				return errStop
			})
			if !errors.Is(err, errStop) || got != 315360000 {
				t.Fatalf("feed snapshot: expiration %d (%v), want 315360000", got, err)
			}
		})
	})
}
