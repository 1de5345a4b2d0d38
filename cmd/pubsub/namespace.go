package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
)

const namespaceUsage = `usage: pubsub namespace <command>
  create <name> [--description TEXT]
  list
  get <name>
  delete <name>
Reads PUBSUB_API_URL, CF_ACCOUNT_ID, CF_API_EMAIL + CF_API_KEY (or CF_API_TOKEN).`

// runNamespace is the namespace CLI, a client of the REST API.
func runNamespace(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{namespaceUsage}
	}
	cmd, args := args[0], args[1:]
	fs := newFlags("namespace "+cmd, stderr)
	desc := fs.String("description", "", "description of the namespace")
	name, err := parseWithName(fs, args, cmd != "list")
	if err != nil {
		return err
	}
	c, err := newAPIClient()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	path := "/namespaces/" + url.PathEscape(name)
	switch cmd {
	case "create":
		err = c.do(ctx, "POST", "/namespaces", nil, map[string]string{"name": name, "description": *desc}, &raw)
	case "list":
		err = c.do(ctx, "GET", "/namespaces", url.Values{"per_page": {"100"}}, nil, &raw)
	case "get", "describe":
		err = c.do(ctx, "GET", path, nil, nil, &raw)
	case "delete":
		if err = c.do(ctx, "DELETE", path, nil, nil, nil); err == nil {
			fmt.Fprintf(stdout, "Deleted namespace %s.\n", name)
			return nil
		}
	default:
		return usageError{namespaceUsage}
	}
	if err != nil {
		return err
	}
	return printResult(stdout, raw)
}

// parseWithName parses flags that may come before or after one positional
// name, as in wrangler ("create my-ns --description x").
func parseWithName(fs interface {
	Parse([]string) error
	Args() []string
}, args []string, needName bool) (string, error) {
	var name string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if rest := fs.Args(); name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
		if len(rest) > 0 {
			return "", usageError{fmt.Sprintf("unexpected arguments %v", rest)}
		}
	} else if len(rest) > 0 {
		return "", usageError{fmt.Sprintf("unexpected arguments %v", rest)}
	}
	if needName && name == "" {
		return "", usageError{"a name is required"}
	}
	return name, nil
}
