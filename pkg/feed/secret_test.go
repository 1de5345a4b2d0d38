package feed

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestSecretBox checks that secrets cross the feed sealed and open only
// for the node they were sealed for, and only for their own key.
func TestSecretBox(t *testing.T) {
	cp := NewSecretBox(sha256Of("psn_node-a"))
	node := NewSecretBoxForToken("psn_node-a")
	other := NewSecretBoxForToken("psn_node-b")
	secret := "0123456789abcdef0123456789abcdef01234567"
	ev := Event{Type: TypeSnapshot, Brokers: []Broker{{ID: "b1", HMACKeys: []HMACKey{{ID: "1a2b3c4d", Secret: []byte(secret)}}}}}
	cp.SealSecrets(&ev)
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) {
		t.Fatalf("the wire form holds the secret in the clear: %s", raw)
	}

	t.Run("OK", func(t *testing.T) {
		var got Event
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if err := node.OpenSecrets(&got); err != nil {
			t.Fatalf("OpenSecrets: %v", err)
		}
		if got, want := string(got.Brokers[0].HMACKeys[0].Secret), secret; got != want {
			t.Fatalf("secret = %q, want %q", got, want)
		}
	})
	t.Run("ErrSealed/OtherNode", func(t *testing.T) {
		var got Event
		_ = json.Unmarshal(raw, &got)
		if err := other.OpenSecrets(&got); !errors.Is(err, ErrSealed) {
			t.Fatalf("err = %v, want ErrSealed", err)
		}
	})
	t.Run("ErrSealed/MovedToAnotherKey", func(t *testing.T) {
		sealed := ev.Brokers[0].HMACKeys[0].Sealed
		if _, err := node.Open(sealed, "b1", "ffffffff"); !errors.Is(err, ErrSealed) {
			t.Fatalf("err = %v, want ErrSealed", err)
		}
		if _, err := node.Open("not base64!", "b1", "1a2b3c4d"); !errors.Is(err, ErrSealed) {
			t.Fatalf("err = %v, want ErrSealed", err)
		}
	})
	t.Run("OK/BrokerEvent", func(t *testing.T) {
		one := Event{Type: TypeBroker, Broker: &Broker{ID: "b1", HMACKeys: []HMACKey{{ID: "k", Secret: []byte("s")}}}}
		cp.SealSecrets(&one)
		if one.Broker.HMACKeys[0].Secret != nil || one.Broker.HMACKeys[0].Sealed == "" {
			t.Fatalf("SealSecrets left %+v", one.Broker.HMACKeys[0])
		}
		if err := node.OpenSecrets(&one); err != nil || string(one.Broker.HMACKeys[0].Secret) != "s" {
			t.Fatalf("OpenSecrets = %v, secret %q", err, one.Broker.HMACKeys[0].Secret)
		}
	})
	t.Run("OK/TicketKeys", func(t *testing.T) {
		key := strings.Repeat("t", TicketKeySize)
		one := Event{Type: TypeTicketKeys, TicketKeys: []HMACKey{{ID: "k1", Secret: []byte(key)}}}
		cp.SealSecrets(&one)
		if one.TicketKeys[0].Secret != nil || one.TicketKeys[0].Sealed == "" {
			t.Fatalf("SealSecrets left %+v", one.TicketKeys[0])
		}
		sealed := one.TicketKeys[0].Sealed
		if err := node.OpenSecrets(&one); err != nil || string(one.TicketKeys[0].Secret) != key {
			t.Fatalf("OpenSecrets = %v, secret %q", err, one.TicketKeys[0].Secret)
		}
		// A ticket key moved into a broker's HMAC keys does not open.
		moved := Event{Type: TypeBroker, Broker: &Broker{ID: "b1", HMACKeys: []HMACKey{{ID: "k1", Sealed: sealed}}}}
		if err := node.OpenSecrets(&moved); !errors.Is(err, ErrSealed) {
			t.Fatalf("err = %v, want ErrSealed", err)
		}
	})
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
