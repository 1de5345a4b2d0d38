package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The guide's commands for steps 3, 4 and 5, with only the base URL
// changed from https://api.cloudflare.com/client/v4 to $PUBSUB_API_URL.
const (
	guideStep3 = `curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" -H "Content-Type: application/json" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces" --data '{"name": "my-namespace" }'`
	guideStep4 = `export DEFAULT_NAMESPACE="my-namespace"
curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" -H "Content-Type: application/json" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/${DEFAULT_NAMESPACE}/brokers" --data '{"name": "example-broker", "authType": "TOKEN" }'`
	guideStep5 = `export DEFAULT_NAMESPACE="my-namespace"
export BROKER_NAME="example-broker"
curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" -H "Content-Type: application/json" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/${DEFAULT_NAMESPACE}/brokers/${BROKER_NAME}/credentials?number=2&type=TOKEN&topicAcl=#"`
)

type envelope struct {
	Result   json.RawMessage `json:"result"`
	Success  bool            `json:"success"`
	Errors   []any           `json:"errors"`
	Messages []any           `json:"messages"`
}

func decode(t *testing.T, out string, result any) {
	t.Helper()
	var e envelope
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("not an envelope: %v\n%s", err, out)
	}
	if !e.Success || len(e.Errors) != 0 || e.Messages == nil {
		t.Fatalf("not a success: %s", out)
	}
	if err := json.Unmarshal(e.Result, result); err != nil {
		t.Fatalf("result: %v\n%s", err, out)
	}
}

var (
	hex32   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	stamp   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
	brokerU = regexp.MustCompile(`^example-broker[0-9A-HJKMNP-TV-Z]{26}$`)
)

// TestGuideWithCurl runs the guide's steps 3 to 5 with bash and curl against
// the dev stack, and checks the answers have the shape the guide shows. The
// two tokens are then verified with jose, an independent JWT library.
func TestGuideWithCurl(t *testing.T) {
	requireTool(t, "curl")
	d := startDev(t, t.TempDir())

	var ns map[string]any
	decode(t, shell(t, d, guideStep3), &ns)
	if !hex32.MatchString(ns["id"].(string)) || ns["name"] != "my-namespace" || ns["description"] != "" ||
		!stamp.MatchString(ns["created_on"].(string)) || ns["created_on"] != ns["modified_on"] {
		t.Fatalf("step 3: %v", ns)
	}

	var b map[string]any
	decode(t, shell(t, d, guideStep4), &b)
	if !hex32.MatchString(b["id"].(string)) || b["name"] != "example-broker" || b["authType"] != "TOKEN" ||
		b["expiration"] != nil || b["endpoint"] != fmt.Sprintf("mqtts://example-broker.my-namespace.pubsub.localhost:%d", d.Node.MQTTPort()) ||
		!stamp.MatchString(b["created_on"].(string)) {
		t.Fatalf("step 4: %v", b)
	}

	var creds map[string]string
	decode(t, shell(t, d, guideStep5), &creds)
	if len(creds) != 2 {
		t.Fatalf("step 5: want 2 credentials, got %v", creds)
	}
	var tokens []string
	for id, tok := range creds {
		if !brokerU.MatchString(id) || !strings.HasPrefix(tok, "eyJhbGciOiJFZERTQSIsImtpZCI6") {
			t.Fatalf("step 5: %q: %q", id, tok)
		}
		tokens = append(tokens, tok)
	}

	// jose verifies both tokens against the broker's JWKS.
	jwks := shell(t, d, `curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers/example-broker/publickeys" | jq -c .result`)
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, []byte(jwks), 0o600); err != nil {
		t.Fatal(err)
	}
	out := node(t, strings.Join(tokens, "\n")+"\n", nil, "verify-jose.mjs", jwksFile, "example-broker.my-namespace.pubsub.localhost")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("jose verified %d tokens: %s", len(lines), out)
	}
	for _, line := range lines {
		var v struct {
			Header  map[string]any `json:"header"`
			Payload map[string]any `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		if v.Header["alg"] != "EdDSA" || len(v.Header) != 2 || creds[v.Payload["sub"].(string)] == "" {
			t.Fatalf("jose: %s", line)
		}
		if acl, _ := json.Marshal(v.Payload["topicAcl"]); string(acl) != `["#"]` {
			t.Fatalf("topicAcl: %s", acl)
		}
	}
}

// TestRestartKeepsEverything stops the dev stack and starts it again on
// the same data dir: the account, namespace, broker, keys and credentials
// are all still there, and the env file still works.
func TestRestartKeepsEverything(t *testing.T) {
	requireTool(t, "curl")
	dir := t.TempDir()
	d := startDev(t, dir)
	shell(t, d, guideStep3)
	shell(t, d, guideStep4)
	shell(t, d, guideStep5)
	keysBefore := shell(t, d, `curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers/example-broker/publickeys"`)
	accountBefore := d.Env["CF_ACCOUNT_ID"]
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d = startDev(t, dir)
	if d.Env["CF_ACCOUNT_ID"] != accountBefore {
		t.Fatalf("the restart made a new account: %s != %s", d.Env["CF_ACCOUNT_ID"], accountBefore)
	}
	t.Logf("restart took %v", time.Since(start))
	var list []map[string]any
	decode(t, shell(t, d, `curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers"`), &list)
	if len(list) != 1 || list[0]["name"] != "example-broker" {
		t.Fatalf("brokers after restart: %v", list)
	}
	if keysAfter := shell(t, d, `curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers/example-broker/publickeys"`); keysAfter != keysBefore {
		t.Fatalf("keys changed across the restart:\n%s\n%s", keysBefore, keysAfter)
	}
	var creds []map[string]any
	decode(t, shell(t, d, `curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers/example-broker/credentials/list"`), &creds)
	if len(creds) != 2 {
		t.Fatalf("credentials after restart: %d", len(creds))
	}
}
