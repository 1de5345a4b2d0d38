package main

import (
	"context"
	"fmt"
	"io"
)

// runBrokerNode runs a broker node.
func runBrokerNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return fmt.Errorf("the broker node is not wired into the CLI yet")
}
