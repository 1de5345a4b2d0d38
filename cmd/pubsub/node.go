package main

import (
	"context"
	"fmt"
	"io"

	"github.com/openpubsub/pubsub/internal/app"
)

// runNode runs admin commands on broker-node credentials, straight against
// the database.
func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: pubsub node token create --name NAME [--database-url URL | --data-dir DIR]"
	if len(args) < 2 || args[0] != "token" || args[1] != "create" {
		return usageError{use}
	}
	fs := newFlags("node token create", stderr)
	name := fs.String("name", "", "a name for the node (required)")
	store := storeFlags(newSettings(fs))
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if *name == "" {
		return usageError{use}
	}
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
