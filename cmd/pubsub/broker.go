package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

const brokerUsage = `usage: pubsub broker <command> [--namespace NS]
  create <name> [--description TEXT] [--expiration 48h] [--on-publish-url URL]
         [--on-publish-filter F]... [--on-publish-timeout 10] [--on-publish-on-failure drop|pass|retry]
         [--on-publish-mode transform|notify]
               [--self-signed-tokens true] [--fastly-wildcards true]
  list
  get <name>
  update <name> [--description TEXT] [--expiration 7d|none] [--on-publish-url URL|none] [--on-publish-* as on create]
               [--self-signed-tokens true|false] [--fastly-wildcards true|false]
  delete <name>
  issue <name> [-n 10] [--out creds.json] [--topic-acl F]... [--publish-acl F]... [--subscribe-acl F]...
               [--client-id ID]... [--expiration 24h|-1] [--type TOKEN]
  revoke <name> --jti ID [--jti ID]...
  unrevoke <name> --jti ID [--jti ID]...
  revocations <name>
  public-keys <name>
  rotate-keys <name>
  hook-test <name>       send a signed sample batch to the broker's on-publish hook, show its effect
  serve [flags]          run a broker node (also: pubsub broker --flags)
The namespace defaults to $PUBSUB_NAMESPACE, then $DEFAULT_NAMESPACE (as in the guide).
Reads PUBSUB_API_URL, CF_ACCOUNT_ID, CF_API_EMAIL + CF_API_KEY (or CF_API_TOKEN).`

// runBroker is the broker CLI, a client of the REST API, and, with "serve"
// or only flags, the broker node server.
func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" {
		return runBrokerNode(ctx, args, stdout, stderr)
	}
	cmd, args := args[0], args[1:]
	if cmd == "serve" {
		return runBrokerNode(ctx, args, stdout, stderr)
	}
	if cmd == "-h" || cmd == "--help" || cmd == "help" {
		fmt.Fprintln(stdout, brokerUsage)
		return nil
	}
	fs := newFlags("broker "+cmd, stderr)
	ns := fs.String("namespace", envOr("PUBSUB_NAMESPACE", os.Getenv("DEFAULT_NAMESPACE")), "namespace of the broker")
	fs.StringVar(ns, "ns", *ns, "alias of --namespace")
	var opts brokerOpts
	opts.register(fs, cmd)
	name, err := parseWithName(fs, args, cmd != "list")
	if err != nil {
		return err
	}
	if *ns == "" {
		return usageError{"--namespace is required (or set PUBSUB_NAMESPACE)"}
	}
	c, err := newAPIClient()
	if err != nil {
		return err
	}
	brokers := "/namespaces/" + url.PathEscape(*ns) + "/brokers"
	path := brokers + "/" + url.PathEscape(name)
	var raw json.RawMessage
	switch cmd {
	case "create":
		body, err := opts.createBody(name)
		if err != nil {
			return err
		}
		err = c.do(ctx, "POST", brokers, nil, body, &raw)
		if err != nil {
			return err
		}
	case "list":
		err = c.do(ctx, "GET", brokers, url.Values{"per_page": {"100"}}, nil, &raw)
	case "get", "describe":
		err = c.do(ctx, "GET", path, nil, nil, &raw)
	case "update":
		body, err := opts.updateBody()
		if err != nil {
			return err
		}
		if err = c.do(ctx, "PATCH", path, nil, body, &raw); err != nil {
			return err
		}
	case "delete":
		if err = c.do(ctx, "DELETE", path, nil, nil, nil); err == nil {
			fmt.Fprintf(stdout, "Deleted broker %s.\n", name)
			return nil
		}
	case "issue":
		return issueCredentials(ctx, c, path, opts, stdout, stderr)
	case "revoke", "unrevoke":
		if len(opts.jtis) == 0 {
			return usageError{"give at least one --jti"}
		}
		method := map[string]string{"revoke": "POST", "unrevoke": "DELETE"}[cmd]
		if err = c.do(ctx, method, path+"/revocations", url.Values{"jti": opts.jtis}, nil, nil); err == nil {
			fmt.Fprintf(stdout, "%s %d credential(s) of %s.\n", map[string]string{"revoke": "Revoked", "unrevoke": "Unrevoked"}[cmd], len(opts.jtis), name)
			return nil
		}
	case "revocations", "show-revocations":
		err = c.do(ctx, "GET", path+"/revocations", url.Values{"per_page": {"100"}}, nil, &raw)
	case "public-keys":
		err = c.do(ctx, "GET", path+"/publickeys", nil, nil, &raw)
	case "rotate-keys":
		err = c.do(ctx, "POST", path+"/publickeys/rotate", nil, nil, &raw)
	case "hook-test":
		err = c.do(ctx, "POST", path+"/on_publish/test", nil, nil, &raw)
	default:
		return usageError{brokerUsage}
	}
	if err != nil {
		return err
	}
	return printResult(stdout, raw)
}

// brokerOpts are the flags of the broker subcommands.
type brokerOpts struct {
	description, expiration, onPublish, out, typ string
	hookFailure, hookMode                        string
	hookTimeout                                  int
	hookFilters                                  stringList
	selfSigned, wildcards                        bool
	number, concurrency                          int
	topicACL, publishACL, subscribeACL           stringList
	clientIDs, jtis                              stringList
	set                                          map[string]bool
	visit                                        func()
}

func (o *brokerOpts) register(fs *flag.FlagSet, cmd string) {
	switch cmd {
	case "create", "update":
		fs.StringVar(&o.description, "description", "", "description")
		fs.StringVar(&o.expiration, "expiration", "", "longest credential lifetime: seconds or 48h, 7d ('none' clears)")
		fs.StringVar(&o.onPublish, "on-publish-url", "", "webhook URL called on every publish ('none' clears)")
		fs.Var(&o.hookFilters, "on-publish-filter", "topic filter whose messages go through the hook (repeatable; default all)")
		fs.IntVar(&o.hookTimeout, "on-publish-timeout", 0, "seconds the hook has to answer, 1 to 60 (default 10)")
		fs.StringVar(&o.hookFailure, "on-publish-on-failure", "", "what a failed hook request does: drop (default), pass or retry")
		fs.StringVar(&o.hookMode, "on-publish-mode", "", "transform (default: deliver what the hook answers) or notify (deliver at once, send the hook a copy)")
		fs.BoolVar(&o.selfSigned, "self-signed-tokens", false, "accept self-signed (fastly-style HS256) tokens signed with the broker's signingkeys")
		fs.BoolVar(&o.wildcards, "fastly-wildcards", false, "read self-signed tokens' x-fastly-read/x-fastly-write as MQTT topic filters")
	case "issue":
		fs.IntVar(&o.number, "n", 1, "how many credentials to mint")
		fs.IntVar(&o.number, "number", 1, "alias of -n")
		fs.StringVar(&o.out, "out", "", "write the credentials to this JSON file instead of stdout")
		fs.StringVar(&o.typ, "type", "TOKEN", "credential type")
		fs.StringVar(&o.expiration, "expiration", "", "lifetime: seconds or 24h, 7d; -1 for none")
		fs.IntVar(&o.concurrency, "concurrency", 4, "requests in flight")
		fs.Var(&o.topicACL, "topic-acl", "topic filter allowed both ways (repeatable; default #)")
		fs.Var(&o.publishACL, "publish-acl", "topic filter that narrows publishing (repeatable)")
		fs.Var(&o.subscribeACL, "subscribe-acl", "topic filter that narrows subscribing (repeatable)")
		fs.Var(&o.clientIDs, "client-id", "mint for this client id (repeatable)")
	case "revoke", "unrevoke":
		fs.Var(&o.jtis, "jti", "jti to (un)revoke (repeatable, or comma-separated)")
	}
	o.set = map[string]bool{}
	o.visit = func() { fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true }) }
}

func (o *brokerOpts) createBody(name string) (map[string]any, error) {
	o.visit()
	body := map[string]any{"name": name, "authType": "TOKEN", "description": o.description}
	if o.expiration != "" {
		secs, err := parseLifetime(o.expiration)
		if err != nil {
			return nil, usageError{err.Error()}
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

func (o *brokerOpts) updateBody() (map[string]any, error) {
	o.visit()
	body := map[string]any{}
	if o.set["description"] {
		body["description"] = o.description
	}
	if o.set["expiration"] {
		if o.expiration == "none" {
			body["expiration"] = nil
		} else {
			secs, err := parseLifetime(o.expiration)
			if err != nil {
				return nil, usageError{err.Error()}
			}
			body["expiration"] = secs
		}
	}
	if o.set["on-publish-url"] {
		if o.onPublish == "none" || o.onPublish == "" {
			body["on_publish"] = map[string]any{"url": nil}
		} else {
			body["on_publish"] = o.onPublishBody()
		}
	}
	if o.set["self-signed-tokens"] {
		body["self_signed_tokens"] = o.selfSigned
	}
	if o.set["fastly-wildcards"] {
		body["fastly_wildcards"] = o.wildcards
	}
	if len(body) == 0 {
		return nil, usageError{"nothing to update: give --description, --expiration, --on-publish-url, --self-signed-tokens or --fastly-wildcards"}
	}
	return body, nil
}

// onPublishBody is the on_publish object of the flags: the URL and the
// optional settings given.
func (o *brokerOpts) onPublishBody() map[string]any {
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
