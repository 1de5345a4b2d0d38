package controlplane

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// NewID returns a random 32-hex-character id, the format Cloudflare uses for
// accounts, namespaces and brokers.
func NewID() string {
	return hex.EncodeToString(randomBytes(16))
}

// NewSecret returns a random secret of n bytes, hex encoded.
func NewSecret(n int) string {
	return hex.EncodeToString(randomBytes(n))
}

// HashSecret returns the SHA-256 of a secret. Secrets are random and long,
// so a fast hash is enough; only hashes are ever stored.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

var (
	ulidMu      sync.Mutex
	ulidEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewULID returns a new ULID. ULIDs made in the same millisecond increase
// monotonically, so a batch of client ids sorts in minting order.
func NewULID(now time.Time) string {
	ulidMu.Lock()
	defer ulidMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(now), ulidEntropy).String()
}
