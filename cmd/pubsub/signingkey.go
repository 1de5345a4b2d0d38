package main

import (
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"
)

// signingKeyCmd manages a broker's keys of self-signed tokens through the
// REST API's signingkeys resource.
func signingKeyCmd(stdout io.Writer) *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:   "signingkey",
		Short: "Manage the keys of a broker's self-signed (fastly-style) tokens (REST API client)",
		Long: `signingkey manages the HS256 keys with which clients sign their own tokens,
as fastly/pubsub does. Self-signed tokens work once the broker has them enabled:
  pubsub broker update BROKER --self-signed-tokens [--fastly-wildcards]
The namespace comes from --namespace (--ns), else $PUBSUB_NAMESPACE, else
$DEFAULT_NAMESPACE.` + apiEnvHelp,
		Example: `  pubsub signingkey create example-broker --ns my-namespace
  pubsub signingkey list example-broker --ns my-namespace
  pubsub signingkey delete example-broker 1a2b3c4d --ns my-namespace`,
	})
	path := func(ns, broker string) string {
		return "/namespaces/" + url.PathEscape(ns) + "/brokers/" + url.PathEscape(broker) + "/signingkeys"
	}
	create := apiCommand("create BROKER", "Create a key; its value is shown once", "  pubsub signingkey create example-broker --ns my-namespace", exactArgs("BROKER"))
	createNS := namespaceFlag(create.Flags())
	create.RunE = func(c *cobra.Command, args []string) error {
		if err := needNamespace(*createNS); err != nil {
			return err
		}
		return apiPrint(c, stdout, "POST", path(*createNS, args[0]), nil, nil)
	}
	list := apiCommand("list BROKER", "List a broker's keys: ids and creation times, never values", "  pubsub signingkey list example-broker --ns my-namespace", exactArgs("BROKER"))
	listNS := namespaceFlag(list.Flags())
	list.RunE = func(c *cobra.Command, args []string) error {
		if err := needNamespace(*listNS); err != nil {
			return err
		}
		return apiPrint(c, stdout, "GET", path(*listNS, args[0]), nil, nil)
	}
	del := apiCommand("delete BROKER ID", "Delete a key; every session whose token it signed ends", "  pubsub signingkey delete example-broker 1a2b3c4d --ns my-namespace", exactArgs("BROKER", "ID"))
	delNS := namespaceFlag(del.Flags())
	del.RunE = func(c *cobra.Command, args []string) error {
		if err := needNamespace(*delNS); err != nil {
			return err
		}
		cl, err := newAPIClient()
		if err != nil {
			return err
		}
		if err := cl.do(c.Context(), "DELETE", path(*delNS, args[0])+"/"+url.PathEscape(args[1]), nil, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Deleted signing key %s of %s.\n", args[1], args[0])
		return nil
	}
	c.AddCommand(create, list, del)
	return c
}
