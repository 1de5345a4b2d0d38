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
	store := storeFlags(newSettings(fs))
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"--email is required"}
	}
	svc, closeStore, err := app.OpenAdmin(ctx, store())
	if err != nil {
		return err
	}
	defer closeStore()
	na, err := svc.CreateAccount(ctx, *email)
	if err != nil {
		return adminError(err)
	}
	fmt.Fprintf(stdout, `Account created. The key and token are shown only once: store them now.

CF_ACCOUNT_ID=%s
CF_API_EMAIL=%s
CF_API_KEY=%s
CF_API_TOKEN=%s
`, na.Account.ID, na.Account.Email, na.APIKey, na.APIToken)
	return nil
}

// adminError shows an admin the user-facing message of a refusal, and the
// full error of an internal failure (the admin is the operator).
func adminError(err error) error {
	if controlplane.ErrorCode(err) == controlplane.EINTERNAL {
		return err
	}
	return fmt.Errorf("%s", controlplane.ErrorMessage(err))
}
