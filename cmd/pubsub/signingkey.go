package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

const signingKeyUsage = `usage: pubsub signingkey <command> <broker> [--namespace NS]
  create <broker>        a key of self-signed (fastly-style HS256) tokens; its value is shown once
  list <broker>          ids and creation times, never values
  delete <broker> <id>   ends every session whose token it signed
Self-signed tokens work once the broker has them enabled:
  pubsub broker update <broker> --self-signed-tokens true [--fastly-wildcards true]
The namespace defaults to $PUBSUB_NAMESPACE, then $DEFAULT_NAMESPACE.
Reads PUBSUB_API_URL, CF_ACCOUNT_ID, CF_API_EMAIL + CF_API_KEY (or CF_API_TOKEN).`

// runSigningKey manages a broker's keys of self-signed tokens through the
// REST API's signingkeys resource.
func runSigningKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, signingKeyUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	fs := newFlags("signingkey "+cmd, stderr)
	ns := fs.String("namespace", envOr("PUBSUB_NAMESPACE", os.Getenv("DEFAULT_NAMESPACE")), "namespace of the broker")
	fs.StringVar(ns, "ns", *ns, "alias of --namespace")
	// Positional arguments may come before or after the flags.
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	want := map[string]int{"create": 1, "list": 1, "delete": 2}[cmd]
	switch {
	case want == 0:
		return usageError{signingKeyUsage}
	case len(pos) != want:
		return usageError{fmt.Sprintf("signingkey %s takes %d argument(s), got %d\n%s", cmd, want, len(pos), signingKeyUsage)}
	case *ns == "":
		return usageError{"--namespace is required (or set PUBSUB_NAMESPACE)"}
	}
	c, err := newAPIClient()
	if err != nil {
		return err
	}
	path := "/namespaces/" + url.PathEscape(*ns) + "/brokers/" + url.PathEscape(pos[0]) + "/signingkeys"
	var raw json.RawMessage
	switch cmd {
	case "create":
		err = c.do(ctx, "POST", path, nil, nil, &raw)
	case "list":
		err = c.do(ctx, "GET", path, nil, nil, &raw)
	case "delete":
		if err = c.do(ctx, "DELETE", path+"/"+url.PathEscape(pos[1]), nil, nil, nil); err == nil {
			fmt.Fprintf(stdout, "Deleted signing key %s of %s.\n", pos[1], pos[0])
			return nil
		}
	}
	if err != nil {
		return err
	}
	return printResult(stdout, raw)
}
