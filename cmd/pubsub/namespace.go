package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// apiEnvHelp is the environment the API clients read, for their help.
const apiEnvHelp = `

Reads PUBSUB_API_URL (or CLOUDFLARE_API_BASE_URL), CF_ACCOUNT_ID (or
CLOUDFLARE_ACCOUNT_ID), and CF_API_TOKEN (or CLOUDFLARE_API_TOKEN), or
CF_API_EMAIL + CF_API_KEY (or CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY).`

// namespaceCmd is the namespace CLI, a client of the REST API.
func namespaceCmd(stdout io.Writer) *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:   "namespace",
		Short: "Create, list, describe and delete namespaces (REST API client)",
		Long:  "namespace manages namespaces through the REST API, as `wrangler pubsub namespace` does." + apiEnvHelp,
		Example: `  pubsub namespace create my-namespace --description "devices of the plant"
  pubsub namespace list
  pubsub namespace describe my-namespace
  pubsub namespace delete my-namespace`,
	})
	create := apiCommand("create NAME", "Create a namespace", "  pubsub namespace create my-namespace --description \"devices of the plant\"", exactArgs("NAME"))
	desc := create.Flags().String("description", "", "description of the namespace")
	create.RunE = func(c *cobra.Command, args []string) error {
		return apiPrint(c, stdout, "POST", "/namespaces", nil, map[string]string{"name": args[0], "description": *desc})
	}
	list := apiCommand("list", "List the namespaces of the account", "  pubsub namespace list", exactArgs())
	list.RunE = func(c *cobra.Command, args []string) error {
		return apiPrint(c, stdout, "GET", "/namespaces", url.Values{"per_page": {"100"}}, nil)
	}
	get := apiCommand("get NAME", "Show a namespace", "  pubsub namespace get my-namespace\n  pubsub namespace describe my-namespace", exactArgs("NAME"))
	get.Aliases = []string{"describe"}
	get.RunE = func(c *cobra.Command, args []string) error {
		return apiPrint(c, stdout, "GET", "/namespaces/"+url.PathEscape(args[0]), nil, nil)
	}
	del := apiCommand("delete NAME", "Delete a namespace (it must have no brokers)", "  pubsub namespace delete my-namespace", exactArgs("NAME"))
	del.RunE = func(c *cobra.Command, args []string) error {
		cl, err := newAPIClient()
		if err != nil {
			return err
		}
		if err := cl.do(c.Context(), "DELETE", "/namespaces/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Deleted namespace %s.\n", args[0])
		return nil
	}
	c.AddCommand(create, list, get, del)
	return c
}

// apiCommand is a leaf command of an API client.
func apiCommand(use, short, example string, args cobra.PositionalArgs) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Long: short + "." + apiEnvHelp, Example: example, Args: args,
		ValidArgsFunction: cobra.NoFileCompletions}
}

// apiPrint sends a request and prints its result as indented JSON.
func apiPrint(c *cobra.Command, stdout io.Writer, method, path string, query url.Values, body any) error {
	cl, err := newAPIClient()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cl.do(c.Context(), method, path, query, body, &raw); err != nil {
		return err
	}
	return printResult(stdout, raw)
}

// namespaceFlag adds --namespace and its alias --ns, by default
// $PUBSUB_NAMESPACE, then $DEFAULT_NAMESPACE (the guide's variable).
func namespaceFlag(fs *pflag.FlagSet) *string {
	def := envOr("PUBSUB_NAMESPACE", os.Getenv("DEFAULT_NAMESPACE"))
	ns := fs.String("namespace", def, "namespace of the broker (PUBSUB_NAMESPACE, DEFAULT_NAMESPACE)")
	fs.StringVar(ns, "ns", def, "alias of --namespace")
	return ns
}

// needNamespace checks that a namespace was given.
func needNamespace(ns string) error {
	if ns == "" {
		return usageError{"--namespace is required (or set PUBSUB_NAMESPACE)"}
	}
	return nil
}

// envOr returns the environment variable's value, or def when it is unset
// or empty.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
