package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
)

// accountCmd holds admin commands on accounts, run straight against the
// database.
func accountCmd(stdout io.Writer) *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:     "account",
		Short:   "Create accounts (talks to the database directly)",
		Example: "  pubsub account create --email you@example.com --database-url postgres://pubsub@db/pubsub",
	})
	create := &cobra.Command{
		Use:   "create --email EMAIL",
		Short: "Create an account and print its id, API key and API token once",
		Example: `  pubsub account create --email you@example.com
  PUBSUB_DATABASE_URL=postgres://pubsub@db/pubsub pubsub account create --email you@example.com`,
		Args: exactArgs(),
	}
	s := newSettings(create.Flags())
	email := s.String("email", "", "", "the account's email (required)")
	store := storeFlags(s)
	create.RunE = func(c *cobra.Command, args []string) error {
		if err := s.err(); err != nil {
			return err
		}
		if *email == "" {
			return usageError{"--email is required; see 'pubsub account create --help'"}
		}
		ctx := c.Context()
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
	c.AddCommand(create)
	return c
}

// adminError shows an admin the user-facing message of a refusal, and the
// full error of an internal failure (the admin is the operator).
func adminError(err error) error {
	if controlplane.ErrorCode(err) == controlplane.EINTERNAL {
		return err
	}
	return fmt.Errorf("%s", controlplane.ErrorMessage(err))
}
