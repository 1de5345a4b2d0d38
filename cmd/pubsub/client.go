package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// apiClient calls the REST API with the same environment variables as the
// guide's curl commands (PUBSUB_API_URL, CF_ACCOUNT_ID, and CF_API_EMAIL +
// CF_API_KEY or CF_API_TOKEN) or wrangler's (CLOUDFLARE_API_BASE_URL,
// CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY or
// CLOUDFLARE_API_TOKEN); a CF_ or PUBSUB_ variable wins over wrangler's.
type apiClient struct {
	base    string // .../client/v4/accounts/<id>/pubsub
	email   string
	key     string
	token   string
	http    *http.Client
	verbose io.Writer
}

// apiError is an error envelope from the API.
type apiError struct {
	Status int
	Code   int
	Msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d, code %d)", e.Msg, e.Status, e.Code)
}

func newAPIClient() (*apiClient, error) {
	base := strings.TrimRight(envOr("PUBSUB_API_URL", os.Getenv("CLOUDFLARE_API_BASE_URL")), "/")
	acct := envOr("CF_ACCOUNT_ID", os.Getenv("CLOUDFLARE_ACCOUNT_ID"))
	c := &apiClient{
		email: envOr("CF_API_EMAIL", os.Getenv("CLOUDFLARE_EMAIL")), key: envOr("CF_API_KEY", os.Getenv("CLOUDFLARE_API_KEY")),
		token: envOr("CF_API_TOKEN", os.Getenv("CLOUDFLARE_API_TOKEN")),
		http:  &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	switch {
	case base == "":
		return nil, usageError{"PUBSUB_API_URL (or CLOUDFLARE_API_BASE_URL) is not set (for `pubsub dev`: source .pubsub/env)"}
	case acct == "":
		return nil, usageError{"CF_ACCOUNT_ID (or CLOUDFLARE_ACCOUNT_ID) is not set"}
	case c.token == "" && (c.email == "" || c.key == ""):
		return nil, usageError{"set CF_API_TOKEN (or CLOUDFLARE_API_TOKEN), or CF_API_EMAIL and CF_API_KEY (or CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY)"}
	}
	c.base = base + "/accounts/" + url.PathEscape(acct) + "/pubsub"
	return c, nil
}

// do sends a request and decodes the envelope's result into out (if not nil).
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" && c.email != "" {
		req.Header.Set("X-Auth-Email", c.email)
		req.Header.Set("X-Auth-Key", c.key)
	} else {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var env struct {
		Result  json.RawMessage `json:"result"`
		Success bool            `json:"success"`
		Errors  []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s %s: HTTP %d and no JSON envelope: %w", method, path, res.StatusCode, err)
	}
	if !env.Success {
		e := &apiError{Status: res.StatusCode, Msg: "request failed"}
		if len(env.Errors) > 0 {
			e.Code, e.Msg = env.Errors[0].Code, env.Errors[0].Message
		}
		return e
	}
	if out != nil {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = env.Result
			return nil
		}
		return json.Unmarshal(env.Result, out)
	}
	return nil
}

// printResult prints an API result as indented JSON.
func printResult(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
