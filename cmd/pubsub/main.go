// Command pubsub is the one Pub/Sub binary: servers (dev, controlplane,
// broker serve), admin commands that talk to the database (account, node),
// and API clients in the style of wrangler (namespace, broker, signingkey).
//
// The command line is built with spf13/cobra: every command has its own
// --help with examples, mistakes in the command line exit 2 with one
// message, and `pubsub completion` writes shell completion scripts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

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
	case err == nil || errors.Is(err, flag.ErrHelp) || errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// usageError marks an error in the command line or the configuration.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usageErrorf formats a usageError.
func usageErrorf(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// run runs a command line; main and the tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(greedyLists(args))
	return root.ExecuteContext(ctx)
}

// newRootCmd builds the whole command tree.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "pubsub",
		Short: "A self-hostable, Cloudflare-compatible Pub/Sub (MQTT v5) service",
		Long: `pubsub is the one binary of Pub/Sub: the servers (dev, controlplane, broker
serve), admin commands that talk to the database (account, node), and API
clients in the style of wrangler (namespace, broker, signingkey).

The API clients read PUBSUB_API_URL (or CLOUDFLARE_API_BASE_URL),
CF_ACCOUNT_ID (or CLOUDFLARE_ACCOUNT_ID), and CF_API_TOKEN (or
CLOUDFLARE_API_TOKEN) or CF_API_EMAIL + CF_API_KEY (or CLOUDFLARE_EMAIL +
CLOUDFLARE_API_KEY). After ` + "`pubsub dev`" + `, source .pubsub/env to set them all.`,
		Example: `  pubsub dev
  source .pubsub/env
  pubsub namespace create my-namespace
  pubsub broker create example-broker --ns my-namespace --expiration 30d
  pubsub broker issue example-broker --ns my-namespace -n 10 --out creds.json`,
		Version:       buildVersion(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("pubsub {{.Version}}\n")
	root.SetOut(stdout) // before the completion command captures it
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see '%s --help')", err, c.CommandPath())
	})
	groupCmd(root)
	root.AddGroup(&cobra.Group{ID: "server", Title: "Servers:"}, &cobra.Group{ID: "admin", Title: "Admin (talks to the database directly):"},
		&cobra.Group{ID: "api", Title: "API clients, in the style of wrangler:"}, &cobra.Group{ID: "ops", Title: "Operations:"})
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("server", devCmd(stdout, stderr), controlPlaneCmd(stderr))
	add("admin", accountCmd(stdout), nodeCmd(stdout))
	add("ops", certsCmd(stdout))
	add("api", namespaceCmd(stdout), brokerCmd(stdout, stderr), signingKeyCmd(stdout))
	add("ops", healthcheckCmd(stdout), versionCmd(stdout))
	root.SetHelpCommand(helpCmd(root))
	root.InitDefaultHelpCmd()
	root.SetCompletionCommandGroupID("ops")
	root.InitDefaultCompletionCmd()
	if comp, _, err := root.Find([]string{"completion"}); err == nil && comp != root {
		groupCmd(comp)
		comp.Example = "  source <(pubsub completion bash)\n  pubsub completion zsh > \"${fpath[1]}/_pubsub\"\n  pubsub completion fish > ~/.config/fish/completions/pubsub.fish"
		for _, sh := range comp.Commands() {
			sh.Args = exactArgs()
			if sh.Example == "" {
				sh.Example = "  pubsub completion " + sh.Name() + " > pubsub." + sh.Name()
			}
		}
	}
	return root
}

// helpCmd is `pubsub help [command...]`; an unknown topic is a usage
// error, not the root's help.
func helpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  pubsub help broker issue",
		GroupID: "ops",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return usageErrorf("unknown help topic %q; see 'pubsub --help'", strings.Join(args, " "))
			}
			return cmd.Help()
		},
	}
}

// groupCmd makes c a command that only holds subcommands: alone it prints
// its help, and an unknown subcommand is a usage error (cobra would
// otherwise print the help and succeed).
func groupCmd(c *cobra.Command) *cobra.Command {
	c.Args = cobra.ArbitraryArgs
	c.DisableFlagsInUseLine = true
	c.SuggestionsMinimumDistance = 2
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		if args[0] == "help" { // pubsub broker help [issue]
			if sub, _, err := c.Find(args[1:]); err == nil && len(args) <= 2 {
				return sub.Help()
			}
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
		}
		return usageErrorf("%s; see '%s --help'", msg, c.CommandPath())
	}
	return c
}

// exactArgs accepts exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf("%s needs %s; see '%s --help'", c.CommandPath(), strings.Join(names[len(args):], " and "), c.CommandPath())
		case len(args) > len(names):
			return usageErrorf("%s takes %d argument(s), got unexpected %q; see '%s --help'", c.CommandPath(), len(names), args[len(names):], c.CommandPath())
		}
		return nil
	}
}

// greedyFlags are wrangler's list flags, which take every following word
// that is not a flag: `--jti a b` is `--jti a --jti b`.
var greedyFlags = map[string]bool{"--jti": true, "--client-id": true}

// greedyLists rewrites wrangler's space-separated lists into repeated
// flags. Positional arguments must then come before such a list, as in
// wrangler.
func greedyLists(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" {
			return append(out, args[i+1:]...)
		}
		if !greedyFlags[a] || i+1 >= len(args) {
			continue
		}
		i++
		out = append(out, args[i]) // the flag's first value, whatever it is
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
			out = append(out, a, args[i])
		}
	}
	return out
}
