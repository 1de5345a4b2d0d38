package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/openpubsub/pubsub/broker/certs"
)

// certsCmd holds the certificate helpers of a node outside `pubsub dev`.
func certsCmd(stdout io.Writer) *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:     "certs",
		Short:   "Certificates for broker nodes",
		Example: "  pubsub certs self-signed --dir certs --host '*.my-namespace.pubsub.example.com'",
	})
	self := &cobra.Command{
		Use:   "self-signed --dir DIR --host NAME",
		Short: "Make a local CA and a certificate for a node's --cert-dir, once",
		Long: `Make a local certificate authority in DIR/ca (ca.crt, ca.key) and one
certificate for the given host names (wildcards such as
*.my-namespace.example.com allowed) in DIR/pubsub.crt and DIR/pubsub.key,
which a node serves with --cert-dir DIR. Clients trust DIR/ca/ca.crt
(mosquitto_pub --cafile, curl --cacert). For trials and private networks;
on the internet use certificates from a public CA.

A pair already in DIR is kept (the command succeeds and says so), so it
can run at every start of a container; --force replaces it.`,
		Example: `  pubsub certs self-signed --dir certs --host '*.my-namespace.pubsub.example.com'
  pubsub certs self-signed --dir certs --host '*.ns-a.example.com' --host '*.ns-b.example.com' --force`,
		Args: exactArgs(),
	}
	s := newSettings(self.Flags())
	dir := s.String("dir", "PUBSUB_CERT_DIR", "", "the node's certificate directory (required)")
	hosts := s.Addrs("host", "PUBSUB_CERT_HOSTS", "", "host name or wildcard the certificate covers, repeatable (required)")
	force := s.Bool("force", "", false, "replace a pair already in DIR")
	self.RunE = func(c *cobra.Command, args []string) error {
		if err := s.err(); err != nil {
			return err
		}
		if *dir == "" || len(*hosts) == 0 {
			return usageError{"--dir and --host are required; see 'pubsub certs self-signed --help'"}
		}
		crt := filepath.Join(*dir, "pubsub.crt")
		if _, err := os.Stat(crt); err == nil && !*force {
			fmt.Fprintf(stdout, "%s exists; kept (--force replaces it)\n", crt)
			return nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		ca, err := certs.OpenDevCA(filepath.Join(*dir, "ca"))
		if err != nil {
			return err
		}
		if err := ca.WritePair(*dir, "pubsub", *hosts); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote %s (and its key) for %v; clients trust %s\n", crt, *hosts, ca.CAFile())
		return nil
	}
	c.AddCommand(self)
	return c
}
