package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// badEnv is a value that does not parse for every typed environment
// variable of the server commands.
var badEnv = map[string]string{
	"PUBSUB_MQTT_PORT":                 "abc",
	"PUBSUB_REVOCATION_LIMIT":          "1k",
	"PUBSUB_SELF_SIGNED_LEEWAY":        "86401",
	"PUBSUB_LOG_LEVEL":                 "verbose",
	"PUBSUB_LOG_FORMAT":                "yaml",
	"PUBSUB_MAX_RETAINED_MESSAGES":     "lots",
	"PUBSUB_MAX_RETAINED_BYTES":        "64MB",
	"PUBSUB_MAX_PACKET_SIZE":           "-1",
	"PUBSUB_CONNECT_TIMEOUT":           "10",
	"PUBSUB_MIN_KEEPALIVE":             "70000",
	"PUBSUB_MAX_KEEPALIVE":             "x",
	"PUBSUB_MESSAGE_RATE":              "fast",
	"PUBSUB_MAX_SESSION_EXPIRY":        "1 day",
	"PUBSUB_MAX_TOPIC_LEVELS":          "8.5",
	"PUBSUB_MAX_SUBSCRIPTIONS":         "none",
	"PUBSUB_WRITE_TIMEOUT":             "5 s",
	"PUBSUB_TOKEN_CACHE":               "off",
	"PUBSUB_SSE_MAX_TOPICS":            "ten",
	"PUBSUB_SSE_REPLAY_COUNT":          "all",
	"PUBSUB_SSE_REPLAY_AGE":            "forever",
	"PUBSUB_SSE_KEEPALIVE":             "15",
	"PUBSUB_SSE_CLIENT_QUEUE":          "1e3",
	"PUBSUB_CLIENTS_INTERVAL":          "soon",
	"PUBSUB_HEALTHCHECK_TIMEOUT":       "3",
	"PUBSUB_DEV_NODES":                 "two",
	"PUBSUB_NATS_RECEIVE_BUFFER":       "8k",
	"PUBSUB_NATS_REPLICAS":             "all",
	"PUBSUB_NATS_SSE_JOURNAL_MESSAGES": "10k",
	"PUBSUB_NATS_SSE_JOURNAL_BYTES":    "16MiB",
	"PUBSUB_NATS_RECONNECT_BUFFER":     "8MiB",
	"PUBSUB_HOOK_ALLOW_HTTP":           "yes",
	"PUBSUB_HOOK_MAX_INFLIGHT":         "many",
	"PUBSUB_HOOK_MAX_BATCH":            "1,000",
}

// freeFormEnv are the variables that take any string.
var freeFormEnv = map[string]bool{
	"PUBSUB_DATA_DIR": true, "PUBSUB_ADDR": true, "PUBSUB_DOMAIN": true, "PUBSUB_MQTT_ADDRS": true,
	"PUBSUB_HTTPS_ADDRS": true, "PUBSUB_OPS_ADDR": true, "PUBSUB_ALLOWED_ORIGINS": true, "PUBSUB_DATABASE_URL": true,
	"PUBSUB_CONTROL_PLANE_URL": true, "PUBSUB_NODE_TOKEN": true, "PUBSUB_CERT_DIR": true, "PUBSUB_DEFAULT_CERT": true,
	"PUBSUB_HEALTHCHECK_URL": true, "PUBSUB_NATS_URL": true, "PUBSUB_NATS_CREDS": true, "PUBSUB_NATS_CA": true,
	"PUBSUB_NATS_NODE_ID": true, "PUBSUB_NATS_LISTEN": true, "PUBSUB_HOOK_CA": true, "PUBSUB_NODE_TOKEN_FILE": true, "PUBSUB_CERT_HOSTS": true,
}

// serverCommands are the commands that start something.
var serverCommands = [][]string{{"dev"}, {"controlplane"}, {"broker", "serve"}, {"healthcheck"}}

var envRef = regexp.MustCompile(`\((PUBSUB_[A-Z0-9_]+)`)

// commandEnv lists the environment variables a command's help names.
func commandEnv(t *testing.T, cmd []string) []string {
	t.Helper()
	var out, errOut strings.Builder
	err := run(context.Background(), append(append([]string{}, cmd...), "-h"), &out, &errOut)
	if exitCode(err) != 0 {
		t.Fatalf("%s -h: %v", cmd, err)
	}
	var names []string
	for _, m := range envRef.FindAllStringSubmatch(out.String()+errOut.String(), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("%s -h names no environment variable:\n%s%s", cmd, out.String(), errOut.String())
	}
	return names
}

// TestBadEnvironment: every typed environment variable of every server
// command, set to a value that does not parse, stops the command before
// it starts anything, exit code 2, with the variable and the value.
func TestBadEnvironment(t *testing.T) {
	for _, cmd := range serverCommands {
		for _, name := range commandEnv(t, cmd) {
			bad, ok := badEnv[name]
			if !ok {
				if !freeFormEnv[name] {
					t.Errorf("%s: %s has no bad value in badEnv", strings.Join(cmd, " "), name)
				}
				continue
			}
			t.Run(strings.Join(cmd, "_")+"/"+name, func(t *testing.T) {
				t.Setenv("PUBSUB_DATA_DIR", t.TempDir())
				t.Setenv("PUBSUB_ADDR", "127.0.0.1:0")
				t.Setenv("PUBSUB_MQTT_ADDRS", "127.0.0.1:0")
				t.Setenv("PUBSUB_HTTPS_ADDRS", "127.0.0.1:0")
				t.Setenv("PUBSUB_OPS_ADDR", "127.0.0.1:0")
				t.Setenv("PUBSUB_NATS_LISTEN", "127.0.0.1:0")
				t.Setenv("PUBSUB_HEALTHCHECK_URL", "http://127.0.0.1:1/")
				t.Setenv(name, bad)
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // a command that wrongly starts returns at once
				_, _, err := cli(t, ctx, cmd...)
				if got, want := exitCode(err), 2; got != want {
					t.Fatalf("exit code %d (%v), want %d", got, err, want)
				}
				if want := name + `="` + bad + `"`; !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not name %s", err, want)
				}
			})
		}
	}
}

// TestBadKEK names the variable but never echoes the secret.
func TestBadKEK(t *testing.T) {
	t.Setenv("PUBSUB_DATA_DIR", t.TempDir())
	t.Setenv("PUBSUB_KEK", "not-hex-secret")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := cli(t, ctx, "controlplane", "--addr", "127.0.0.1:0")
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "PUBSUB_KEK") || strings.Contains(err.Error(), "not-hex-secret") {
		t.Fatalf("bad KEK: %v", err)
	}
}

// TestSettingsValues: each kind of setting refuses what does not parse,
// from the environment and from the command line alike.
func TestSettingsValues(t *testing.T) {
	for _, tc := range []struct {
		name, env, bad, want string
		def                  func(s *settings)
	}{
		{"Bool", "PUBSUB_T_BOOL", "yes please", "not a boolean", func(s *settings) { s.Bool("b", "PUBSUB_T_BOOL", false, "") }},
		{"Duration", "PUBSUB_T_DUR", "3", "not a duration", func(s *settings) { s.Duration("b", "PUBSUB_T_DUR", 0, "") }},
		{"Int", "PUBSUB_T_INT", "ten", "not an integer", func(s *settings) { s.Int("b", "PUBSUB_T_INT", 0, "") }},
		{"IntRange", "PUBSUB_T_INT", "99999999999999999999", "out of range", func(s *settings) { s.Int("b", "PUBSUB_T_INT", 0, "") }},
		{"IntRange", "PUBSUB_T_R", "70000", "out of range (1 to 65535)", func(s *settings) { s.IntRange("b", "PUBSUB_T_R", 1, 1, 65535, "") }},
		{"IntRangeSyntax", "PUBSUB_T_R", "port", "not an integer", func(s *settings) { s.IntRange("b", "PUBSUB_T_R", 1, 1, 65535, "") }},
		{"Uint16", "PUBSUB_T_U16", "65536", "out of range (0 to 65535)", func(s *settings) { s.Uint16("b", "PUBSUB_T_U16", 0, "") }},
		{"Uint32", "PUBSUB_T_U32", "-1", "not a non-negative integer", func(s *settings) { s.Uint32("b", "PUBSUB_T_U32", 0, "") }},
		{"Float", "PUBSUB_T_F", "1/2", "not a number", func(s *settings) { s.Float64("b", "PUBSUB_T_F", 0, "") }},
		{"Choice", "PUBSUB_T_C", "c", "want one of a, b", func(s *settings) { s.Choice("b", "PUBSUB_T_C", "a", []string{"a", "b"}, "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.bad)
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			s := newSettings(fs)
			tc.def(s)
			if err := s.err(); err == nil || !strings.Contains(err.Error(), tc.env+`="`+tc.bad+`": `+tc.want) {
				t.Errorf("environment: %v", err)
			}
			if err := fs.Parse([]string{"--b=" + tc.bad}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("flag: %v", err)
			}
		})
	}
}

// TestSettingsGood: values that parse are taken, the flag over the
// environment, and a list flag replaces the environment's list.
func TestSettingsGood(t *testing.T) {
	t.Setenv("PUBSUB_T_BOOL", "true")
	t.Setenv("PUBSUB_T_LIST", "a,b")
	t.Setenv("PUBSUB_T_DUR", "90s")
	t.Setenv("PUBSUB_T_C", "WARN")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	s := newSettings(fs)
	b := s.Bool("b", "PUBSUB_T_BOOL", false, "")
	l := s.Addrs("l", "PUBSUB_T_LIST", "x", "")
	d := s.Duration("d", "PUBSUB_T_DUR", 0, "")
	c := s.Choice("c", "PUBSUB_T_C", "info", []string{"info", "warn"}, "")
	if err := s.err(); err != nil {
		t.Fatal(err)
	}
	if !*b || strings.Join(*l, " ") != "a b" || d.String() != "1m30s" || *c != "warn" {
		t.Fatalf("from the environment: %v %v %v %v", *b, *l, *d, *c)
	}
	if err := fs.Parse([]string{"--b=false", "--l", "c", "--l", "d,e", "--d", "2m"}); err != nil {
		t.Fatal(err)
	}
	if *b || strings.Join(*l, " ") != "c d e" || d.String() != "2m0s" {
		t.Fatalf("from flags: %v %v %v", *b, *l, *d)
	}
}
