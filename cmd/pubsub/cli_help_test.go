package main

import (
	"bytes"
	"context"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// noArgsWant is what each command does when given no arguments: its exit
// code and a piece of its output (stdout for success, the error otherwise).
var noArgsWant = map[string]struct {
	code int
	want string
}{
	"":                      {0, "\n  pubsub [command]\n"},
	"controlplane":          {2, "PUBSUB_KEK"},
	"account":               {0, "\n  pubsub account [command]\n"},
	"account create":        {2, "--email is required"},
	"node":                  {0, "\n  pubsub node [command]\n"},
	"node token":            {0, "\n  pubsub node token [command]\n"},
	"node token create":     {2, "--name is required"},
	"namespace":             {0, "\n  pubsub namespace [command]\n"},
	"namespace create":      {2, "pubsub namespace create needs NAME"},
	"namespace list":        {2, "PUBSUB_API_URL (or CLOUDFLARE_API_BASE_URL) is not set"},
	"namespace get":         {2, "pubsub namespace get needs NAME"},
	"namespace delete":      {2, "pubsub namespace delete needs NAME"},
	"broker":                {0, "\n  pubsub broker [command]\n"},
	"broker create":         {2, "pubsub broker create needs NAME"},
	"broker list":           {2, "--namespace is required"},
	"broker get":            {2, "pubsub broker get needs NAME"},
	"broker update":         {2, "pubsub broker update needs NAME"},
	"broker delete":         {2, "pubsub broker delete needs NAME"},
	"broker issue":          {2, "pubsub broker issue needs NAME"},
	"broker revoke":         {2, "pubsub broker revoke needs NAME"},
	"broker unrevoke":       {2, "pubsub broker unrevoke needs NAME"},
	"broker revocations":    {2, "pubsub broker revocations needs NAME"},
	"broker public-keys":    {2, "pubsub broker public-keys needs NAME"},
	"broker rotate-keys":    {2, "pubsub broker rotate-keys needs NAME"},
	"broker hook-test":      {2, "pubsub broker hook-test needs NAME"},
	"broker serve":          {2, "needs --control-plane, --node-token (or --node-token-file) and --cert-dir"},
	"signingkey":            {0, "\n  pubsub signingkey [command]\n"},
	"signingkey create":     {2, "pubsub signingkey create needs BROKER"},
	"signingkey list":       {2, "pubsub signingkey list needs BROKER"},
	"signingkey delete":     {2, "pubsub signingkey delete needs BROKER and ID"},
	"certs":                 {0, "\n  pubsub certs [command]\n"},
	"certs self-signed":     {2, "--dir and --host are required"},
	"healthcheck":           {1, "healthcheck: Get \"http://127.0.0.1:1/readyz\""},
	"version":               {0, "pubsub "},
	"help":                  {0, "\n  pubsub [command]\n"},
	"completion":            {0, "\n  pubsub completion [command]\n"},
	"completion bash":       {0, "bash completion V2 for pubsub"},
	"completion zsh":        {0, "#compdef pubsub"},
	"completion fish":       {0, "fish completion for pubsub"},
	"completion powershell": {0, "powershell completion for pubsub"},
	"dev":                   {0, "Pub/Sub dev stack is running."}, // see runUntilOutput
}

// allCommands lists every command of the tree by its path after "pubsub".
func allCommands() map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		out[strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), "pubsub"))] = c
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	var b bytes.Buffer
	walk(newRootCmd(&b, &b))
	return out
}

// cleanCLIEnv points every variable the CLI reads away from real services.
func cleanCLIEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"PUBSUB_API_URL", "CLOUDFLARE_API_BASE_URL", "CF_ACCOUNT_ID", "CLOUDFLARE_ACCOUNT_ID", "CF_API_TOKEN",
		"CLOUDFLARE_API_TOKEN", "CF_API_KEY", "CLOUDFLARE_API_KEY", "CF_API_EMAIL", "CLOUDFLARE_EMAIL", "PUBSUB_NAMESPACE",
		"DEFAULT_NAMESPACE", "PUBSUB_KEK", "PUBSUB_CONTROL_PLANE_URL", "PUBSUB_NODE_TOKEN", "PUBSUB_CERT_DIR", "PUBSUB_DATABASE_URL"} {
		t.Setenv(k, "")
	}
	t.Setenv("PUBSUB_DATA_DIR", t.TempDir())
	t.Setenv("PUBSUB_ADDR", "127.0.0.1:0")
	t.Setenv("PUBSUB_MQTT_ADDRS", "127.0.0.1:0,127.0.0.1:0")
	t.Setenv("PUBSUB_HTTPS_ADDRS", "127.0.0.1:0")
	t.Setenv("PUBSUB_OPS_ADDR", "127.0.0.1:0")
	t.Setenv("PUBSUB_NATS_LISTEN", "127.0.0.1:0")
	t.Setenv("PUBSUB_NATS_URL", "")
	t.Setenv("PUBSUB_HEALTHCHECK_URL", "http://127.0.0.1:1/readyz")
}

var flagName = regexp.MustCompile(`--([a-z0-9-]+)`)

// helpFlags returns the flag names of a help text's "Flags:" section.
func helpFlags(help string) []string {
	_, section, ok := strings.Cut(help, "\nFlags:\n")
	if !ok {
		return nil
	}
	section, _, _ = strings.Cut(section, "\n\n")
	var names []string
	for _, line := range strings.Split(section, "\n") {
		if m := flagName.FindStringSubmatch(line); m != nil && strings.HasPrefix(strings.TrimSpace(line), "-") {
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	return names
}

// TestEveryCommand runs every command of the tree with --help, with no
// arguments and with an unknown flag, and checks exit codes and output.
func TestEveryCommand(t *testing.T) {
	cmds := allCommands()
	for path, c := range cmds {
		args := strings.Fields(path)
		name := strings.ReplaceAll(path, " ", "_")
		if name == "" {
			name = "pubsub"
		}
		t.Run(name+"/help", func(t *testing.T) {
			cleanCLIEnv(t)
			out, errOut, err := cli(t, context.Background(), append(args, "--help")...)
			if code := exitCode(err); code != 0 || errOut != "" {
				t.Fatalf("exit code %d (%v), stderr %q", code, err, errOut)
			}
			if !strings.Contains(out, "Usage:\n  pubsub") || !strings.Contains(out, "\nExamples:\n  ") {
				t.Fatalf("no usage line or no examples:\n%s", out)
			}
			c.InitDefaultHelpFlag()
			c.InitDefaultVersionFlag()
			var want []string
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if !f.Hidden {
					want = append(want, f.Name)
				}
			})
			sort.Strings(want)
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				// A backquoted word would become the flag's value name.
				if name, _ := pflag.UnquoteUsage(f); strings.Contains(name, " ") {
					t.Errorf("--%s shows its value as %q", f.Name, name)
				}
			})
			if got := helpFlags(out); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("help lists flags %v, want the command's own %v:\n%s", got, want, out)
			}
		})
		t.Run(name+"/noargs", func(t *testing.T) {
			cleanCLIEnv(t)
			w, ok := noArgsWant[path]
			if !ok {
				t.Fatalf("noArgsWant has no entry for %q", path)
			}
			var out string
			var err error
			if path == "dev" {
				out, err = runUntilOutput(t, w.want, args...)
			} else {
				out, _, err = cli(t, context.Background(), args...)
			}
			if got := exitCode(err); got != w.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, w.code)
			}
			got := out
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, w.want) {
				t.Fatalf("output %q does not contain %q", got, w.want)
			}
		})
		t.Run(name+"/badflag", func(t *testing.T) {
			cleanCLIEnv(t)
			out, errOut, err := cli(t, context.Background(), append(args, "--no-such-flag")...)
			if got := exitCode(err); got != 2 {
				t.Fatalf("exit code %d (%v), want 2", got, err)
			}
			if want := "unknown flag: --no-such-flag (see 'pubsub " + strings.TrimSpace(path+" --help'"); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q, want %q", err, want)
			}
			if out != "" || errOut != "" {
				t.Fatalf("the error must be reported once, by main; got stdout %q stderr %q", out, errOut)
			}
		})
	}
	for path := range noArgsWant {
		if cmds[path] == nil {
			t.Errorf("noArgsWant names %q, which is no command", path)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runUntilOutput runs a server command until its stdout shows want, then
// stops it as Ctrl-C would, and returns its output and error.
func runUntilOutput(t *testing.T, want string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &out, &errOut) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			return out.String(), err
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: no %q after 30s; stderr:\n%s", args, want, errOut.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	return out.String(), <-done
}

// TestGreedyLists: wrangler's space-separated lists become repeated flags.
func TestGreedyLists(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"broker issue b --client-id a b c --ns n", "broker issue b --client-id a --client-id b --client-id c --ns n"},
		{"broker revoke b --jti x y", "broker revoke b --jti x --jti y"},
		{"broker revoke b --jti x", "broker revoke b --jti x"},
		{"broker revoke b --jti=x y", "broker revoke b --jti=x y"},
		{"broker revoke b --jti -x y", "broker revoke b --jti -x --jti y"},
		{"broker revoke b -- --jti x y", "broker revoke b -- --jti x y"},
		{"broker revoke b --jti", "broker revoke b --jti"},
	} {
		if got := strings.Join(greedyLists(strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestParseLifetime: wrangler's durations, with a year of 365 days.
func TestParseLifetime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"3600", 3600}, {"-1", -1}, {"90s", 90}, {"30m", 1800}, {"48h", 172800}, {"30d", 2592000}, {"2w", 1209600},
		{"1y", 31536000}, {"1mo", 2592000}, {"2 months", 5184000}, {"6 days", 518400}, {"1 year", 31536000}, {"12 Hours", 43200}, {"1.5d", 129600}, {"1h30m", 5400},
	} {
		if got, err := parseLifetime(tc.in); err != nil || got != tc.want {
			t.Errorf("%q: got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "abc", "1 fortnight", "0.5s", "500ms", "d", "1e300y"} {
		if got, err := parseLifetime(in); err == nil {
			t.Errorf("%q: got %d, want an error", in, got)
		}
	}
}

// TestVersion: `pubsub version` and `pubsub --version` print the version
// set with -ldflags "-X main.version=...".
func TestVersion(t *testing.T) {
	old := version
	version = "v9.8.7"
	t.Cleanup(func() { version = old })
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := cli(t, context.Background(), args...)
		if err != nil || !strings.HasPrefix(out, "pubsub v9.8.7") {
			t.Errorf("%v: %q, %v", args, out, err)
		}
	}
}

// TestCompletion asks cobra's completion entry point, which the shell
// scripts of `pubsub completion` call, for commands and flags.
func TestCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "bro"}, []string{"broker"}},
		{[]string{"__complete", "broker", "is"}, []string{"issue"}},
		{[]string{"__complete", "broker", "describe", "b", "--n"}, []string{"--namespace", "--ns"}},
		{[]string{"__complete", "broker", "issue", "b", "--exp"}, []string{"--exp", "--expiration"}},
		{[]string{"__complete", "completion", ""}, []string{"bash", "fish", "powershell", "zsh"}},
	} {
		out, _, err := cli(t, context.Background(), tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if line == "" || strings.HasPrefix(line, ":") {
				continue
			}
			name, _, _ := strings.Cut(line, "\t")
			got = append(got, name)
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%v: got %v, want %v", tc.args, got, tc.want)
		}
	}
}
