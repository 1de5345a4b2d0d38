package main

import (
	"fmt"
	"io"

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
  pubsub node token create --name node-2 --database-url postgres://pubsub@db/pubsub`,
		Args: exactArgs(),
	}
	s := newSettings(create.Flags())
	name := s.String("name", "", "", "a name for the node (required)")
	store := storeFlags(s)
	create.RunE = func(c *cobra.Command, args []string) error {
		if err := s.err(); err != nil {
			return err
		}
		if *name == "" {
			return usageError{"--name is required; see 'pubsub node token create --help'"}
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
		fmt.Fprintf(stdout, "Node token for %q (shown only once; pass it to `pubsub broker serve --node-token` or PUBSUB_NODE_TOKEN):\n%s\n", *name, tok)
		return nil
	}
	token.AddCommand(create)
	c.AddCommand(token)
	return c
}
