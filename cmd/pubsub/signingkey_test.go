package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
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

	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","kid":"`+k.ID+`","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(`{"x-fastly-write":["t"]}`))
	mac := hmac.New(sha256.New, []byte(k.Value))
	mac.Write([]byte(signed))
	tok := signed + "." + enc.EncodeToString(mac.Sum(nil))

	pem, err := os.ReadFile(d.CA.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	addr := d.Node.HTTPSAddrs()[0].String()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
	publish := func() int {
		req, _ := http.NewRequest("POST", "https://b.ns.pubsub.localhost/events?topic=t", strings.NewReader("hi"))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for got := publish(); got != want; got = publish() {
			if time.Now().After(deadline) {
				t.Fatalf("publish answers %d, want %d", got, want)
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
