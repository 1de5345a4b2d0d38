package token_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/openpubsub/pubsub/pkg/token"
)

func Example() {
	// The control plane holds the private key and publishes the JWK Set.
	pub, priv, _ := ed25519.GenerateKey(nil)
	set := token.JWKSet{Keys: []token.JWK{token.NewJWK(pub)}}
	now := time.Now()
	tok, err := token.Sign(priv, token.Thumbprint(pub), &token.Claims{
		Subject:   "01HDQFD5Y8HWBFGFBBZPSWQ22M",
		ID:        "01HDQFD5Y8HWBFGFBBZPSWQ22N",
		Audience:  "my-broker.my-namespace.pubsub.example",
		IssuedAt:  now.Unix(),
		ExpiresAt: now.Add(time.Hour).Unix(),
		TopicACL:  []string{"#"},
	})
	if err != nil {
		panic(err)
	}

	// A broker node turns the JWK Set into Keys once, then verifies each
	// CONNECT offline.
	keys, err := set.ParseKeys()
	if err != nil {
		panic(err)
	}
	c, err := token.Verify(tok, keys, "my-broker.my-namespace.pubsub.example", now, time.Minute)
	fmt.Println(c.Subject, err)

	_, err = token.Verify(tok, keys, "other-broker.my-namespace.pubsub.example", now, time.Minute)
	var e *token.Error
	if errors.As(err, &e) {
		fmt.Println(e.Reason, e.Message)
	}
	// Output:
	// 01HDQFD5Y8HWBFGFBBZPSWQ22M <nil>
	// audience token audience is not this broker
}
