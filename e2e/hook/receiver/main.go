// Command receiver is an on-publish hook in Go, with the standard library
// only: it verifies each request against the broker's JWKS, upper-cases
// the payloads that start with "up:", drops those that contain "drop",
// and delivers the others unchanged.
//
//	PUBSUB_JWKS="$(pubsub broker public-keys my-broker)" go run ./e2e/hook/receiver
//
// It listens on 127.0.0.1:$PORT (any free port by default) and prints
// "listening on http://127.0.0.1:<port>/": set that as the broker's
// on_publish.url (`pubsub dev` allows http:// hooks on loopback).
package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// message is one message of a hook request. Fields the hook does not
// change are kept as they came, so the answer echoes them.
type message struct {
	Mid                    int64   `json:"mid"`
	Broker                 string  `json:"broker"`
	Topic                  string  `json:"topic"`
	ClientID               string  `json:"clientId"`
	JTI                    string  `json:"jti,omitempty"`
	ReceivedAt             int64   `json:"receivedAt"`
	ContentType            *string `json:"contentType"`
	PayloadFormatIndicator int     `json:"payloadFormatIndicator"`
	// Payload is a string when PayloadFormatIndicator is 1, else base64.
	Payload string `json:"payload"`
}

// keys reads a JWK Set into Ed25519 public keys by kid.
func keys(jwks string) (map[string]ed25519.PublicKey, error) {
	var set struct {
		Keys []struct{ Kid, X string } `json:"keys"`
	}
	if err := json.Unmarshal([]byte(jwks), &set); err != nil {
		return nil, fmt.Errorf("PUBSUB_JWKS: %w", err)
	}
	out := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("PUBSUB_JWKS: key %q is not an Ed25519 key", k.Kid)
		}
		out[k.Kid] = x
	}
	return out, nil
}

// verify checks X-Signature-Ed25519 over X-Signature-Timestamp followed
// by the body, with the key X-Signature-Key-Id names, and refuses
// timestamps more than 5 minutes away (replays).
func verify(r *http.Request, body []byte, pubs map[string]ed25519.PublicKey) bool {
	ts := r.Header.Get("X-Signature-Timestamp")
	pub, ok := pubs[r.Header.Get("X-Signature-Key-Id")]
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("X-Signature-Ed25519"))
	secs, terr := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || terr != nil || time.Since(time.Unix(secs, 0)).Abs() > 5*time.Minute {
		return false
	}
	return ed25519.Verify(pub, append([]byte(ts), body...), sig)
}

func handler(pubs map[string]ed25519.PublicKey) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil || !verify(r, body, pubs) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var msgs []message
		if err := json.Unmarshal(body, &msgs); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		out := []message{}
		for _, m := range msgs {
			payload := []byte(m.Payload)
			if m.PayloadFormatIndicator != 1 {
				payload, _ = base64.StdEncoding.DecodeString(m.Payload)
			}
			switch {
			case bytes.Contains(payload, []byte("drop")):
				continue // left out: dropped
			case bytes.HasPrefix(payload, []byte("up:")):
				upper := strings.ToUpper(string(payload))
				if m.PayloadFormatIndicator == 1 {
					m.Payload = upper
				} else {
					m.Payload = base64.StdEncoding.EncodeToString([]byte(upper))
				}
			}
			out = append(out, m)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}

func main() {
	pubs, err := keys(os.Getenv("PUBSUB_JWKS"))
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	srv := &http.Server{Handler: handler(pubs), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
