package main

import (
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// brokerCmd holds the broker CLI, a client of the REST API, and `serve`,
// the broker node server.
func brokerCmd(stdout, stderr io.Writer) *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:   "broker",
		Short: "Manage brokers and their credentials (REST API client); serve runs a node",
		Long: `broker manages brokers, their credentials and revocations through the REST API,
as ` + "`wrangler pubsub broker`" + ` does. The namespace comes from --namespace (--ns),
else $PUBSUB_NAMESPACE, else $DEFAULT_NAMESPACE (as in the guide).
` + "`pubsub broker serve`" + ` runs a broker node.` + apiEnvHelp,
		Example: `  pubsub broker create example-broker --ns my-namespace --expiration 30d
  pubsub broker issue example-broker --ns my-namespace -n 10000 --out creds.json
  pubsub broker issue example-broker --ns my-namespace --client-id device-a device-b --exp 1y
  pubsub broker revoke example-broker --ns my-namespace --jti 01JD3Q... 01JD3R...
  pubsub broker serve --control-plane https://cp.example.com --node-token psn_... --cert-dir certs`,
	})

	create := apiCommand("create NAME", "Create a broker", `  pubsub broker create example-broker --ns my-namespace
  pubsub broker create example-broker --expiration 30d --on-publish-url https://hooks.example.com/pubsub
  pubsub broker create example-broker --self-signed-tokens --fastly-wildcards
  pubsub broker create example-broker --on-publish-url https://hooks.example.com/pubsub \
    --on-publish-filter 'devices/+/up' --on-publish-on-failure pass --on-publish-mode notify`, exactArgs("NAME"))
	createNS := namespaceFlag(create.Flags())
	createOpts := brokerSettingsFlags(create.Flags(), "longest credential lifetime: seconds or 48h, 30d, 1y, \"6 days\"")
	create.RunE = func(c *cobra.Command, args []string) error {
		body, err := createOpts.createBody(args[0])
		if err != nil {
			return err
		}
		return brokerRequest(c, stdout, *createNS, "", "POST", "", nil, body)
	}

	list := apiCommand("list", "List the brokers of a namespace", "  pubsub broker list --ns my-namespace", exactArgs())
	listNS := namespaceFlag(list.Flags())
	list.RunE = func(c *cobra.Command, args []string) error {
		return brokerRequest(c, stdout, *listNS, "", "GET", "", url.Values{"per_page": {"100"}}, nil)
	}

	get := apiCommand("get NAME", "Show a broker", "  pubsub broker get example-broker --ns my-namespace\n  pubsub broker describe example-broker --ns my-namespace", exactArgs("NAME"))
	get.Aliases = []string{"describe"}
	getNS := namespaceFlag(get.Flags())
	get.RunE = func(c *cobra.Command, args []string) error {
		return brokerRequest(c, stdout, *getNS, args[0], "GET", "", nil, nil)
	}

	update := apiCommand("update NAME", "Change a broker's settings; only the flags given change", `  pubsub broker update example-broker --description "plant 2" --expiration "6 days"
  pubsub broker update example-broker --expiration none --on-publish-url none
  pubsub broker update example-broker --self-signed-tokens=false`, exactArgs("NAME"))
	updateNS := namespaceFlag(update.Flags())
	updateOpts := brokerSettingsFlags(update.Flags(), "longest credential lifetime: seconds or 48h, 30d, 1y, \"6 days\"; none clears it")
	update.RunE = func(c *cobra.Command, args []string) error {
		body, err := updateOpts.updateBody(c.Flags())
		if err != nil {
			return err
		}
		return brokerRequest(c, stdout, *updateNS, args[0], "PATCH", "", nil, body)
	}

	del := apiCommand("delete NAME", "Delete a broker", "  pubsub broker delete example-broker --ns my-namespace", exactArgs("NAME"))
	delNS := namespaceFlag(del.Flags())
	del.RunE = func(c *cobra.Command, args []string) error {
		if err := brokerRequest(c, nil, *delNS, args[0], "DELETE", "", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Deleted broker %s.\n", args[0])
		return nil
	}

	c.AddCommand(create, list, get, update, del, issueCmd(stdout, stderr))
	c.AddCommand(revokeCmds(stdout)...)

	revs := apiCommand("revocations NAME", "List a broker's revoked credentials", "  pubsub broker revocations example-broker\n  pubsub broker show-revocations example-broker", exactArgs("NAME"))
	revs.Aliases = []string{"show-revocations"}
	revsNS := namespaceFlag(revs.Flags())
	revs.RunE = func(c *cobra.Command, args []string) error {
		return brokerRequest(c, stdout, *revsNS, args[0], "GET", "/revocations", url.Values{"per_page": {"100"}}, nil)
	}
	keys := apiCommand("public-keys NAME", "Show the public keys that verify a broker's tokens (JWKS)", "  pubsub broker public-keys example-broker", exactArgs("NAME"))
	keysNS := namespaceFlag(keys.Flags())
	keys.RunE = func(c *cobra.Command, args []string) error {
		return brokerRequest(c, stdout, *keysNS, args[0], "GET", "/publickeys", nil, nil)
	}
	rotate := apiCommand("rotate-keys NAME", "Make a new signing key current; the old one keeps verifying until removed", "  pubsub broker rotate-keys example-broker", exactArgs("NAME"))
	rotateNS := namespaceFlag(rotate.Flags())
	rotate.RunE = func(c *cobra.Command, args []string) error {
		return brokerRequest(c, stdout, *rotateNS, args[0], "POST", "/publickeys/rotate", nil, nil)
	}
	hookTest := apiCommand("hook-test NAME", "Send a signed sample batch to the broker's on-publish hook and show what its answer does", "  pubsub broker hook-test example-broker --ns my-namespace", exactArgs("NAME"))
	hookTestNS := namespaceFlag(hookTest.Flags())
	hookTest.RunE = func(c *cobra.Command, args []string) error {
		return brokerRequest(c, stdout, *hookTestNS, args[0], "POST", "/on_publish/test", nil, nil)
	}
	c.AddCommand(revs, keys, rotate, hookTest, brokerServeCmd(stderr))
	return c
}

// brokerRequest calls a broker resource (name empty: the namespace's
// broker collection) and prints the result unless stdout is nil.
func brokerRequest(c *cobra.Command, stdout io.Writer, ns, name, method, sub string, query url.Values, body any) error {
	if err := needNamespace(ns); err != nil {
		return err
	}
	path := "/namespaces/" + url.PathEscape(ns) + "/brokers"
	if name != "" {
		path += "/" + url.PathEscape(name)
	}
	path += sub
	if stdout == nil {
		cl, err := newAPIClient()
		if err != nil {
			return err
		}
		return cl.do(c.Context(), method, path, query, body, nil)
	}
	return apiPrint(c, stdout, method, path, query, body)
}

// revokeCmds are revoke and unrevoke.
func revokeCmds(stdout io.Writer) []*cobra.Command {
	var out []*cobra.Command
	for _, v := range []struct{ verb, method, done, short string }{
		{"revoke", "POST", "Revoked", "Revoke credentials by jti; their sessions end at once"},
		{"unrevoke", "DELETE", "Unrevoked", "Lift revocations by jti"},
	} {
		c := apiCommand(v.verb+" NAME --jti JTI...", v.short, fmt.Sprintf(`  pubsub broker %[1]s example-broker --jti 01JD3Q...
  pubsub broker %[1]s example-broker --jti 01JD3Q... 01JD3R...   # as wrangler: the list follows the flag
  pubsub broker %[1]s example-broker --jti 01JD3Q...,01JD3R...`, v.verb), exactArgs("NAME"))
		ns := namespaceFlag(c.Flags())
		jtis := c.Flags().StringSlice("jti", nil, "jti to "+v.verb+": repeatable, comma- or space-separated")
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(*jtis) == 0 {
				return usageErrorf("give at least one --jti; see '%s --help'", c.CommandPath())
			}
			if err := brokerRequest(c, nil, *ns, args[0], v.method, "/revocations", url.Values{"jti": *jtis}, nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %d credential(s) of %s.\n", v.done, len(*jtis), args[0])
			return nil
		}
		out = append(out, c)
	}
	return out
}

// brokerSettings are the flags of broker create and update.
type brokerSettings struct {
	description, expiration, onPublish string
	hookFailure, hookMode              string
	hookTimeout                        int
	hookFilters                        stringList
	selfSigned, wildcards              bool
}

func brokerSettingsFlags(fs *pflag.FlagSet, expirationHelp string) *brokerSettings {
	o := &brokerSettings{}
	fs.StringVar(&o.description, "description", "", "description")
	fs.StringVar(&o.expiration, "expiration", "", expirationHelp)
	fs.StringVar(&o.onPublish, "on-publish-url", "", "webhook URL called on every publish ('none' clears)")
	fs.Var(&o.hookFilters, "on-publish-filter", "topic filter whose messages go through the hook (repeatable; default all)")
	fs.IntVar(&o.hookTimeout, "on-publish-timeout", 0, "seconds the hook has to answer, 1 to 60 (default 10)")
	fs.StringVar(&o.hookFailure, "on-publish-on-failure", "", "what a failed hook request does: drop (default), pass or retry")
	fs.StringVar(&o.hookMode, "on-publish-mode", "", "transform (default: deliver what the hook answers) or notify (deliver at once, send the hook a copy)")
	fs.BoolVar(&o.selfSigned, "self-signed-tokens", false, "accept self-signed (fastly-style HS256) tokens signed with the broker's signingkeys")
	fs.BoolVar(&o.wildcards, "fastly-wildcards", false, "read self-signed tokens' x-fastly-read/x-fastly-write as MQTT topic filters")
	return o
}

func (o *brokerSettings) createBody(name string) (map[string]any, error) {
	body := map[string]any{"name": name, "authType": "TOKEN", "description": o.description}
	if o.expiration != "" {
		secs, err := parseLifetime(o.expiration)
		if err != nil {
			return nil, usageError{"--expiration: " + err.Error()}
		}
		body["expiration"] = secs
	}
	if o.onPublish != "" {
		body["on_publish"] = o.onPublishBody()
	}
	if o.selfSigned {
		body["self_signed_tokens"] = true
	}
	if o.wildcards {
		body["fastly_wildcards"] = true
	}
	return body, nil
}

func (o *brokerSettings) updateBody(fs *pflag.FlagSet) (map[string]any, error) {
	body := map[string]any{}
	if fs.Changed("description") {
		body["description"] = o.description
	}
	if fs.Changed("expiration") {
		if o.expiration == "none" {
			body["expiration"] = nil
		} else {
			secs, err := parseLifetime(o.expiration)
			if err != nil {
				return nil, usageError{"--expiration: " + err.Error()}
			}
			body["expiration"] = secs
		}
	}
	if fs.Changed("on-publish-url") {
		if o.onPublish == "none" || o.onPublish == "" {
			body["on_publish"] = map[string]any{"url": nil}
		} else {
			body["on_publish"] = o.onPublishBody()
		}
	}
	if fs.Changed("self-signed-tokens") {
		body["self_signed_tokens"] = o.selfSigned
	}
	if fs.Changed("fastly-wildcards") {
		body["fastly_wildcards"] = o.wildcards
	}
	if len(body) == 0 {
		return nil, usageError{"nothing to update: give --description, --expiration, --on-publish-url, --self-signed-tokens or --fastly-wildcards"}
	}
	return body, nil
}

// onPublishBody is the on_publish object of the flags: the URL and the
// optional settings given.
func (o *brokerSettings) onPublishBody() map[string]any {
	op := map[string]any{"url": o.onPublish}
	if len(o.hookFilters) > 0 {
		op["filters"] = []string(o.hookFilters)
	}
	if o.hookTimeout != 0 {
		op["timeout"] = o.hookTimeout
	}
	if o.hookFailure != "" {
		op["on_failure"] = o.hookFailure
	}
	if o.hookMode != "" {
		op["mode"] = o.hookMode
	}
	return op
}
