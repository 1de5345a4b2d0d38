package main

import (
	"context"
	"fmt"
	"io"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
)

// runAccount runs admin commands on accounts, straight against the database.
func runAccount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: pubsub account create --email you@example.com [--database-url URL | --data-dir DIR]"}
	}
	fs := newFlags("account create", stderr)
	email := fs.String("email", "", "the account's email (required)")
	store := storeFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"--email is required"}
	}
	st, err := app.OpenStore(ctx, store())
	if err != nil {
		return err
	}
	defer st.Close()
	// Account creation needs no keys; a throwaway KEK satisfies the service.
	kek, _ := controlplane.ParseKEK(controlplane.NewKEK())
	svc, err := controlplane.NewService(st, controlplane.Config{Domain: "unused.invalid", KEK: kek}, nil)
	if err != nil {
		return err
	}
	na, err := svc.CreateAccount(ctx, *email)
	if controlplane.ErrorCode(err) == controlplane.EINTERNAL {
		return err
	} else if err != nil {
		return fmt.Errorf("%s", controlplane.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, `Account created. The key and token are shown only once: store them now.

CF_ACCOUNT_ID=%s
CF_API_EMAIL=%s
CF_API_KEY=%s
CF_API_TOKEN=%s
`, na.Account.ID, na.Account.Email, na.APIKey, na.APIToken)
	return nil
}
