// Package e2e runs the service the way users do: the dev stack from
// internal/app on port 0, the guide's curl commands through bash and curl,
// and real JavaScript clients (MQTT.js, jose, Cloudflare's wrangler) through node.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
)

// startDev starts `pubsub dev` in dir on a free port and stops it at the
// end of the test; each option may change its configuration first.
func startDev(t testing.TB, dir string, options ...func(*app.DevConfig)) *app.Dev {
	t.Helper()
	cfg := app.DevConfig{DataDir: dir, Addr: "127.0.0.1:0", Domain: "pubsub.localhost", MQTTAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0"}
	for _, o := range options {
		o(&cfg)
	}
	d, err := app.StartDev(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start dev stack: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// shell runs a bash script after sourcing the dev stack's env file, as a
// user would, and returns its stdout.
func shell(t *testing.T, d *app.Dev, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", "source "+d.EnvFile+"\n"+script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("script failed: %v\n%s\nstderr: %s", err, script, errb.String())
	}
	return out.String()
}

// requireTool finds an external program. Outside CI a missing one skips
// the test; under CI=true it fails, because CI installs everything.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run should have installed it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// requireNodeModules checks that `npm ci` ran in e2e/ (make test does it).
func requireNodeModules(t *testing.T) {
	t.Helper()
	requireTool(t, "node")
	if _, err := os.Stat(filepath.Join("node_modules", "mqtt")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("e2e/node_modules is missing: run `npm ci --prefix e2e` (make test does)")
		}
		t.Skip("e2e/node_modules is missing: run `npm ci --prefix e2e`")
	}
}

// node runs a script in e2e/ with node and returns its stdout.
func node(t *testing.T, stdin string, env []string, args ...string) string {
	t.Helper()
	requireNodeModules(t)
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %v: %v\nstdout: %s\nstderr: %s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// decodeSegment decodes one base64url segment of a JWT.
func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// mustKEK reads the dev stack's key-encryption key from its data dir.
func mustKEK(t *testing.T, dir string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	kek, err := controlplane.ParseKEK(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return kek
}
