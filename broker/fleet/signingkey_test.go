package fleet_test

import (
	"context"
	"net"
	"testing"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/fleet"
)

// TestCreateSigningKeyUnreachable: when the control plane cannot be
// reached, a forwarded POST /admin/keys is EUNAVAILABLE (the edge's 503),
// never an error the edge would answer 500.
func TestCreateSigningKeyUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	c, err := fleet.New(fleet.Config{URL: url, Token: "psn_test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateSigningKey(context.Background(), "b1", broker.AccountCredentials{APIToken: "t"})
	if got := broker.ErrorCode(err); got != broker.EUNAVAILABLE {
		t.Fatalf("error %v (code %q), want %q", err, got, broker.EUNAVAILABLE)
	}
}
