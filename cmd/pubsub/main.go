// Command pubsub is the one Pub/Sub binary: servers (dev, controlplane,
// broker), admin commands that talk to the database (account, node), and
// API clients in the style of wrangler (namespace, broker).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `pubsub: a self-hostable, Cloudflare-compatible Pub/Sub (MQTT) service.

Servers:
  pubsub dev            control plane (and broker node) on loopback, embedded store in .pubsub/
  pubsub controlplane   the REST API on Postgres (--database-url) or the embedded store

  pubsub broker serve    a broker node: MQTT v5 over TLS, config pushed from the control plane

Admin (talks to the database directly):
  pubsub account create --email you@example.com
  pubsub node token create --name NAME

API clients, in the style of wrangler (read PUBSUB_API_URL, CF_ACCOUNT_ID,
CF_API_EMAIL + CF_API_KEY or CF_API_TOKEN):
  pubsub namespace create|list|get|delete
  pubsub broker create|list|get|update|delete|issue|revoke|unrevoke|revocations|public-keys|rotate-keys
  pubsub signingkey create|list|delete   keys of self-signed (fastly-style) tokens

Operations:
  pubsub healthcheck --url URL   exits 0 when URL (default a node's /readyz) answers 200

Run "pubsub <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "pubsub:", err)
	}
	os.Exit(exitCode(err))
}

// exitCode is 0 on success and for help, 2 for a mistake in the command
// line or the configuration, and 1 for any other failure.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// usageError marks an error in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run dispatches a command line. Tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "controlplane":
		return runControlPlane(ctx, args[1:], stdout, stderr)
	case "account":
		return runAccount(ctx, args[1:], stdout, stderr)
	case "node":
		return runNode(ctx, args[1:], stdout, stderr)
	case "namespace":
		return runNamespace(ctx, args[1:], stdout, stderr)
	case "broker":
		return runBroker(ctx, args[1:], stdout, stderr)
	case "signingkey":
		return runSigningKey(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// envOr returns the environment variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
