package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCmd asks a server's health endpoint and fails unless it
// answers 200: the probe of a container image that has no curl.
func healthcheckCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a health endpoint answers 200 (for container probes)",
		Example: `  pubsub healthcheck                                   # a node's ops /readyz on 127.0.0.1:9090
  pubsub healthcheck --url http://127.0.0.1:8080/healthz  # the control plane`,
		Args: exactArgs(),
	}
	s := newSettings(c.Flags())
	url := s.String("url", "PUBSUB_HEALTHCHECK_URL", "http://127.0.0.1:9090/readyz",
		"the endpoint to ask: a node's ops /readyz or /healthz, or the control plane's /healthz")
	timeout := s.Duration("timeout", "PUBSUB_HEALTHCHECK_TIMEOUT", 3*time.Second, "how long to wait for the answer")
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := s.err(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context(), *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
		if err != nil {
			return usageErrorf("--url %q: %v", *url, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthcheck: %s answered %s: %s", *url, resp.Status, body)
		}
		fmt.Fprintf(stdout, "%s: %s\n", *url, resp.Status)
		return nil
	}
	return c
}
