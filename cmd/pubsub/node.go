package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/openpubsub/pubsub/internal/app"
)

// nodeCmd holds admin commands on broker-node credentials, run straight
// against the database.
func nodeCmd(stdout io.Writer) *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:     "node",
		Short:   "Manage broker nodes' credentials (talks to the database directly)",
		Example: "  pubsub node token create --name node-1",
	})
	token := groupCmd(&cobra.Command{
		Use:     "token",
		Short:   "Node tokens, which broker nodes present to the control plane",
		Example: "  pubsub node token create --name node-1",
	})
	create := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create a node token and print it once",
		Example: `  pubsub node token create --name node-1
  pubsub node token create --name node-2 --database-url postgres://pubsub@db/pubsub
  pubsub node token create --name fleet --out /run/pubsub/node-token   # for --node-token-file`,
		Args: exactArgs(),
	}
	s := newSettings(create.Flags())
	name := s.String("name", "", "", "a name for the node (required)")
	out := s.String("out", "", "", "write the token to this `FILE` (mode 0600) instead of printing it; a FILE that already holds a token is kept, and no token is created")
	store := storeFlags(s)
	create.RunE = func(c *cobra.Command, args []string) error {
		if err := s.err(); err != nil {
			return err
		}
		if *name == "" {
			return usageError{"--name is required; see 'pubsub node token create --help'"}
		}
		if *out != "" {
			if old, err := os.ReadFile(*out); err == nil && len(bytes.TrimSpace(old)) > 0 {
				fmt.Fprintf(stdout, "%s already holds a node token; kept\n", *out)
				return nil
			}
		}
		ctx := c.Context()
		svc, closeStore, err := app.OpenAdmin(ctx, store())
		if err != nil {
			return err
		}
		defer closeStore()
		tok, err := svc.CreateNodeToken(ctx, *name)
		if err != nil {
			return adminError(err)
		}
		if *out != "" {
			if err := os.WriteFile(*out, []byte(tok+"\n"), 0o600); err != nil {
				return fmt.Errorf("the token was created but not written (create another): %w", err)
			}
			fmt.Fprintf(stdout, "Node token for %q written to %s (pass it to `pubsub broker serve --node-token-file`)\n", *name, *out)
			return nil
		}
		fmt.Fprintf(stdout, "Node token for %q (shown only once; pass it to `pubsub broker serve --node-token` or PUBSUB_NODE_TOKEN):\n%s\n", *name, tok)
		return nil
	}
	token.AddCommand(create)
	c.AddCommand(token)
	return c
}
