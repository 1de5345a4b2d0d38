package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestWranglerStyle drives the CLI as a wrangler user would: only
// wrangler's CLOUDFLARE_* variables set, wrangler's verbs (describe,
// show-revocations), flags (--exp, --client-id a b, --jti a b) and
// durations (1y, "6 days", 30d).
func TestWranglerStyle(t *testing.T) {
	d := devEnv(t)
	for _, k := range []string{"PUBSUB_API_URL", "CF_ACCOUNT_ID", "CF_API_TOKEN", "CF_API_KEY", "CF_API_EMAIL", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"} {
		t.Setenv(k, "")
	}
	if d.Env["CLOUDFLARE_API_TOKEN"] == "" || d.Env["CLOUDFLARE_API_BASE_URL"] != d.Env["PUBSUB_API_URL"] || d.Env["CLOUDFLARE_ACCOUNT_ID"] != d.Env["CF_ACCOUNT_ID"] {
		t.Fatalf("the env file lacks wrangler's variables: %v", d.Env)
	}
	mustCLI(t, "namespace", "create", "wr-ns")
	if out := mustCLI(t, "namespace", "describe", "wr-ns"); !strings.Contains(out, `"name": "wr-ns"`) {
		t.Fatalf("namespace describe: %s", out)
	}
	if out := mustCLI(t, "broker", "create", "wr-broker", "--ns", "wr-ns", "--expiration", "1y"); !strings.Contains(out, `"expiration": 31536000`) {
		t.Fatalf("broker create --expiration 1y (365 days): %s", out)
	}
	mustCLI(t, "broker", "update", "wr-broker", "--ns", "wr-ns", "--expiration", "6 days")
	if out := mustCLI(t, "broker", "describe", "wr-broker", "--ns", "wr-ns"); !strings.Contains(out, `"expiration": 518400`) {
		t.Fatalf("broker describe after --expiration \"6 days\": %s", out)
	}
	var creds map[string]string
	if err := json.Unmarshal([]byte(mustCLI(t, "broker", "issue", "wr-broker", "--ns", "wr-ns", "--client-id", "device-a", "device-b", "--exp", "30d")), &creds); err != nil || len(creds) != 2 || creds["device-a"] == "" || creds["device-b"] == "" {
		t.Fatalf("issue --client-id a b: %v %v", err, creds)
	}
	creds = nil
	if err := json.Unmarshal([]byte(mustCLI(t, "broker", "issue", "wr-broker", "--ns", "wr-ns", "--jti", "device-c")), &creds); err != nil || len(creds) != 1 || creds["device-c"] == "" {
		t.Fatalf("issue --jti c: %v %v", err, creds)
	}
	var list []struct{ JTI string }
	c, err := newAPIClient()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.do(context.Background(), "GET", "/namespaces/wr-ns/brokers/wr-broker/credentials/list", nil, nil, &list); err != nil || len(list) != 3 {
		t.Fatalf("credentials/list: %v %d", err, len(list))
	}
	mustCLI(t, "broker", "revoke", "wr-broker", "--ns", "wr-ns", "--jti", list[0].JTI, list[1].JTI)
	out := mustCLI(t, "broker", "show-revocations", "wr-broker", "--ns", "wr-ns")
	if !strings.Contains(out, list[0].JTI) || !strings.Contains(out, list[1].JTI) || strings.Contains(out, list[2].JTI) {
		t.Fatalf("show-revocations after revoke --jti a b: %s", out)
	}

	// The global key, wrangler's other way to sign in.
	t.Setenv("CLOUDFLARE_API_TOKEN", "")
	t.Setenv("CLOUDFLARE_API_KEY", d.Env["CF_API_KEY"])
	t.Setenv("CLOUDFLARE_EMAIL", d.Env["CF_API_EMAIL"])
	if out := mustCLI(t, "namespace", "list"); !strings.Contains(out, "wr-ns") {
		t.Fatalf("namespace list with CLOUDFLARE_API_KEY: %s", out)
	}
}
