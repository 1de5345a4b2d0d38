package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeTokenFile creates a node token into a file once, keeps it on the
// next run, and starts `broker serve` from it; an empty file, or both
// token flags, are refused with a message that says what to do.
func TestNodeTokenFile(t *testing.T) {
	cleanCLIEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "node-token")
	create := []string{"node", "token", "create", "--name", "compose", "--out", file, "--data-dir", filepath.Join(dir, "store")}
	out, _, err := cli(t, context.Background(), create...)
	if err != nil || !strings.Contains(out, "written to "+file) {
		t.Fatalf("create: %q %v", out, err)
	}
	first, err := os.ReadFile(file)
	if err != nil || !strings.HasPrefix(string(first), "psn_") {
		t.Fatalf("token file: %q %v", first, err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	out, _, err = cli(t, context.Background(), create...)
	if again, _ := os.ReadFile(file); err != nil || !strings.Contains(out, "kept") || string(again) != string(first) {
		t.Fatalf("second create: %q %v, file changed: %v", out, err, string(again) != string(first))
	}

	serve := []string{"broker", "serve", "--control-plane", "http://127.0.0.1:1", "--cert-dir", dir}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--node-token-file", empty}, 1, "is empty; write a token into it with 'pubsub node token create --out"},
		{[]string{"--node-token-file", filepath.Join(dir, "missing")}, 1, "no such file"},
		{[]string{"--node-token-file", file, "--node-token", "psn_x"}, 2, "not both"},
		// The token is read: the node goes on to load its certificates.
		{[]string{"--node-token-file", file}, 1, "certs: no certificates in"},
	} {
		_, _, err := cli(t, context.Background(), append(serve, c.args...)...)
		if exitCode(err) != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: exit %d, %v; want %d and %q", c.args, exitCode(err), err, c.code, c.want)
		}
	}
}

// TestCertsSelfSigned writes a CA and a wildcard pair once and keeps them
// on the next run.
func TestCertsSelfSigned(t *testing.T) {
	cleanCLIEnv(t)
	dir := t.TempDir()
	args := []string{"certs", "self-signed", "--dir", dir, "--host", "*.my-namespace.pubsub.localhost"}
	out, _, err := cli(t, context.Background(), args...)
	if err != nil || !strings.Contains(out, "Wrote "+filepath.Join(dir, "pubsub.crt")) {
		t.Fatalf("first run: %q %v", out, err)
	}
	crt, _ := os.ReadFile(filepath.Join(dir, "pubsub.crt"))
	for _, f := range []string{"pubsub.key", "ca/ca.crt", "ca/ca.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err = cli(t, context.Background(), args...)
	if again, _ := os.ReadFile(filepath.Join(dir, "pubsub.crt")); err != nil || !strings.Contains(out, "kept") || string(again) != string(crt) {
		t.Fatalf("second run: %q %v", out, err)
	}
	_, _, err = cli(t, context.Background(), "certs", "self-signed", "--dir", dir, "--host", "bad host", "--force")
	if err == nil || !strings.Contains(err.Error(), `"bad host" is not a host name`) {
		t.Fatalf("bad host: %v", err)
	}
}
