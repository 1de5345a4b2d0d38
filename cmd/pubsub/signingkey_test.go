package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/internal/app"
)

// TestSigningKeyCLI creates a key of self-signed tokens with the CLI, and
// follows it through the real chain: the control plane seals it into the
// feed, the node opens it, a token signed with it publishes over HTTP;
// deleting it makes the node refuse the token.
func TestSigningKeyCLI(t *testing.T) {
	d := devEnv(t)
	mustCLI(t, "namespace", "create", "ns")
	mustCLI(t, "broker", "create", "b", "--ns", "ns", "--self-signed-tokens")
	var k struct{ ID, Value string }
	if err := json.Unmarshal([]byte(mustCLI(t, "signingkey", "create", "b", "--ns", "ns")), &k); err != nil || len(k.ID) != 8 || len(k.Value) != 40 {
		t.Fatalf("signingkey create: %v %+v", err, k)
	}
	if out := mustCLI(t, "signingkey", "list", "b", "--ns", "ns"); !strings.Contains(out, k.ID) || strings.Contains(out, k.Value) {
		t.Fatalf("signingkey list: %s", out)
	}

	tok := mintHS256(k.ID, k.Value, `{"x-fastly-write":["t"]}`)
	hc := edgeClient(t, d)
	publish := func() int {
		req, _ := http.NewRequest("POST", "https://b.ns.pubsub.localhost/events?topic=t", strings.NewReader("hi"))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := hc.Do(req)
		if err != nil {
			return 0 // the node does not serve the broker yet (TLS)
		}
		res.Body.Close()
		return res.StatusCode
	}
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for got := publish(); got != want; got = publish() {
			if time.Now().After(deadline) {
				t.Fatalf("publish answers %d, want %d (0: no TLS)", got, want)
			}
			time.Sleep(20 * time.Millisecond) // polling the node's view of the feed
		}
	}
	waitStatus(200)
	if out := mustCLI(t, "signingkey", "delete", "b", k.ID, "--ns", "ns"); !strings.Contains(out, "Deleted signing key "+k.ID) {
		t.Fatalf("signingkey delete: %s", out)
	}
	waitStatus(401)
	if _, _, err := cli(t, context.Background(), "signingkey", "delete", "b", k.ID, "--ns", "ns"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("deleting it twice: %v", err)
	}
}

// mintHS256 signs claims as PyJWT does with headers={"kid": kid}.
func mintHS256(kid, value, claims string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(value))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// edgeClient is an HTTPS client of the dev node's edge that trusts the
// dev CA and sends every request to the node, whatever the host.
func edgeClient(t *testing.T, d *app.Dev) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(d.CA.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	addr := d.Node.HTTPSAddrs()[0].String()
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
}

// TestAdminKeys runs fastly's `curl -X POST -H "Fastly-Key: ..."
// https://{DOMAIN}/admin/keys` against the dev node: the node forwards the
// account credentials to the control plane, and the key it returns signs
// tokens the node accepts once the feed brings it.
func TestAdminKeys(t *testing.T) {
	d := devEnv(t)
	mustCLI(t, "namespace", "create", "ns")
	mustCLI(t, "broker", "create", "b", "--ns", "ns", "--self-signed-tokens")
	other, err := d.ControlPlane.Service.CreateAccount(context.Background(), "other@example.com")
	if err != nil {
		t.Fatal(err)
	}
	hc := edgeClient(t, d)
	post := func(target string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", target, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	const adminKeys = "https://b.ns.pubsub.localhost/admin/keys"
	// The node serves the broker (its certificate included) once the
	// feed brings it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := hc.Get("https://b.ns.pubsub.localhost/events?topic=t")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node does not serve the broker: %v", err)
		}
	}
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"OK/FastlyKey", map[string]string{"Fastly-Key": d.Env["CF_API_TOKEN"]}, 200, ""},
		{"OK/Bearer", map[string]string{"Authorization": "Bearer " + d.Env["CF_API_TOKEN"]}, 200, ""},
		{"OK/EmailAndKey", map[string]string{"X-Auth-Email": d.Env["CF_API_EMAIL"], "X-Auth-Key": d.Env["CF_API_KEY"]}, 200, ""},
		{"ErrNoCredentials", nil, 401, "20060"},
		{"ErrBadToken", map[string]string{"Fastly-Key": "not-a-token"}, 401, "20060"},
		{"ErrEmailWithoutKey", map[string]string{"X-Auth-Email": d.Env["CF_API_EMAIL"]}, 401, "20060"},
		{"ErrOtherAccount", map[string]string{"Fastly-Key": other.APIToken}, 403, "20061"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(adminKeys, tc.hdr)
			if status != tc.status || tc.code != "" && !strings.Contains(body, `"code":`+tc.code) {
				t.Fatalf("POST /admin/keys = %d %s; want %d %s", status, body, tc.status, tc.code)
			}
			if status != 200 {
				return
			}
			var k struct{ ID, Value string }
			if err := json.Unmarshal([]byte(body), &k); err != nil || len(k.ID) != 8 || len(k.Value) != 40 {
				t.Fatalf("body %s: want fastly's {\"id\": <8 hex>, \"value\": <40 hex>}", body)
			}
			tok := mintHS256(k.ID, k.Value, `{"x-fastly-write":["t"]}`)
			deadline := time.Now().Add(10 * time.Second)
			for {
				req, _ := http.NewRequest("POST", "https://b.ns.pubsub.localhost/events?topic=t", strings.NewReader("hi"))
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a token of the new key publishes with %d", res.StatusCode)
				}
				time.Sleep(20 * time.Millisecond) // polling the node's view of the feed
			}
		})
	}
	if status, body := post("https://127.0.0.1/admin/keys", map[string]string{"Fastly-Key": d.Env["CF_API_TOKEN"]}); status != 404 {
		t.Fatalf("POST /admin/keys without a broker's host = %d %s; want 404", status, body)
	}
}
