package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/testenv"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// TestSigningKeys creates, lists and deletes keys of self-signed tokens,
// and checks that their secrets reach a node only through its feed,
// sealed for its token.
func TestSigningKeys(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) { testSigningKeys(t, st) })
}

func testSigningKeys(t *testing.T, st controlplane.Store) {
	a := newAPI(t, st)
	a.do("POST", "/namespaces", `{"name":"ns"}`).ok(t, nil)
	var b struct {
		ID               string `json:"id"`
		SelfSignedTokens bool   `json:"self_signed_tokens"`
		FastlyWildcards  bool   `json:"fastly_wildcards"`
	}
	a.do("POST", "/namespaces/ns/brokers", `{"name":"b","self_signed_tokens":true}`).ok(t, &b)
	if !b.SelfSignedTokens || b.FastlyWildcards {
		t.Fatalf("broker = %+v, want self_signed_tokens only", b)
	}
	keys := "/namespaces/ns/brokers/b/signingkeys"

	var k struct{ ID, Value string }
	a.do("POST", keys, "").ok(t, &k)
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(k.ID) || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(k.Value) {
		t.Fatalf("key = %+v, want fastly's 8-hex id and 40-hex value", k)
	}
	t.Run("ListHidesValues", func(t *testing.T) {
		r := a.do("GET", keys, "")
		if strings.Contains(string(r.Result), k.Value) {
			t.Fatal("the list shows a key's value")
		}
		var list []struct {
			ID        string `json:"id"`
			CreatedOn string `json:"created_on"`
		}
		r.ok(t, &list)
		if len(list) != 1 || list[0].ID != k.ID || list[0].CreatedOn == "" {
			t.Fatalf("list = %+v, want the one key with its creation time", list)
		}
	})
	t.Run("FeedSealsSecrets", func(t *testing.T) {
		tok, err := a.svc.CreateNodeToken(context.Background(), "node-1")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+feed.Path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		line, err := bufio.NewReader(res.Body).ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(line), k.Value) {
			t.Fatal("the feed carries a secret in the clear")
		}
		var ev feed.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		if err := feed.NewSecretBoxForToken("psn_other").OpenSecrets(&ev); err == nil {
			t.Fatal("another node token opened the secrets")
		}
		if err := feed.NewSecretBoxForToken(tok).OpenSecrets(&ev); err != nil {
			t.Fatal(err)
		}
		fb := ev.Brokers[0]
		if !fb.SelfSignedTokens || len(fb.HMACKeys) != 1 || fb.HMACKeys[0].ID != k.ID || string(fb.HMACKeys[0].Secret) != k.Value {
			t.Fatalf("feed broker = %+v, want the key with its value", fb)
		}
	})
	t.Run("RevokeCustomerJTI", func(t *testing.T) {
		a.do("POST", "/namespaces/ns/brokers/b/revocations?jti=customer-1", "").ok(t, nil)
		var list []struct {
			JTI string `json:"jti"`
		}
		a.do("GET", "/namespaces/ns/brokers/b/revocations", "").ok(t, &list)
		if len(list) != 1 || list[0].JTI != "customer-1" {
			t.Fatalf("revocations = %+v, want customer-1", list)
		}
		a.do("DELETE", "/namespaces/ns/brokers/b/revocations?jti=customer-1", "").ok(t, nil)
		// A broker without self-signed tokens knows every jti it has.
		a.do("POST", "/namespaces/ns/brokers", `{"name":"plain"}`).ok(t, nil)
		r := a.do("POST", "/namespaces/ns/brokers/plain/revocations?jti=customer-1", "")
		if r.Status != http.StatusNotFound {
			t.Fatalf("revoking an unknown jti of a plain broker: %d, want 404", r.Status)
		}
		r = a.do("POST", "/namespaces/ns/brokers/b/revocations?jti="+strings.Repeat("j", 257), "")
		if r.Status != http.StatusBadRequest {
			t.Fatalf("revoking a 257-byte jti: %d, want 400", r.Status)
		}
	})
	t.Run("Disable", func(t *testing.T) {
		a.do("PATCH", "/namespaces/ns/brokers/b", `{"self_signed_tokens":false,"fastly_wildcards":true}`).ok(t, &b)
		if b.SelfSignedTokens || !b.FastlyWildcards {
			t.Fatalf("broker = %+v after PATCH", b)
		}
		st, err := a.svc.Store().FindBrokerState(context.Background(), b.ID, a.clock.now())
		if err != nil {
			t.Fatal(err)
		}
		if len(st.HMACKeys) != 0 {
			t.Fatalf("a disabled broker's state holds %d keys, want none", len(st.HMACKeys))
		}
	})
	t.Run("Delete", func(t *testing.T) {
		a.do("DELETE", keys+"/"+k.ID, "").ok(t, nil)
		a.do("DELETE", keys+"/"+k.ID, "").fails(t, 404, 10020, `signing key "`+k.ID+`" not found`)
	})
	t.Run("ErrOtherAccount", func(t *testing.T) {
		other := a.newAccount("other@example.com")
		r := a.doWith("POST", keys, "", map[string]string{"Authorization": "Bearer " + other.APIToken})
		if r.Status != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", r.Status)
		}
	})
}
