package onpublish

import (
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"net/url"
	"time"

	"github.com/openpubsub/pubsub/pkg/topic"
)

// Mode says whether the hook decides what subscribers get.
type Mode uint8

const (
	// Transform (Cloudflare's behaviour): subscribers get what the hook
	// answers, after it answers.
	Transform Mode = iota
	// Notify: subscribers get the message at once, the hook a copy.
	Notify
)

// Failure is what a failed request (timeout, connection error, a status
// other than 200, an invalid or oversized body) does to its messages.
type Failure uint8

const (
	// FailDrop drops them, as Cloudflare does.
	FailDrop Failure = iota
	// FailPass delivers them unchanged.
	FailPass
	// FailRetry retries a timeout, a connection error or a 5xx with
	// backoff, at most Config.Retries times, then drops them. A 4xx, an
	// invalid or an oversized body is not retried.
	FailRetry
)

// Defaults.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultMaxBatch      = 100
	DefaultMaxBatchBytes = 1 << 20
	DefaultMaxInFlight   = 8
	DefaultRetries       = 3
	// MaxTimeout bounds Config.Timeout, as the API does.
	MaxTimeout = 60 * time.Second
)

// Config is one broker's hook.
type Config struct {
	URL string
	// Broker is the broker's bare FQDN, the messages' "broker" field.
	Broker string
	// KeyID and Key sign the requests; KeyID is the key's kid in the
	// broker's JWKS.
	KeyID string
	Key   ed25519.PrivateKey

	Timeout   time.Duration // per request; 0: DefaultTimeout
	OnFailure Failure
	Mode      Mode
	// Filters are the topic filters whose messages go to the hook; none:
	// every message.
	Filters []string

	MaxBatch      int // messages per request; 0: DefaultMaxBatch
	MaxBatchBytes int // request body bytes, roughly; 0: DefaultMaxBatchBytes
	MaxInFlight   int // requests in flight; 0: DefaultMaxInFlight
	// MaxResponseBytes bounds a response body; 0: 4 × MaxBatchBytes.
	MaxResponseBytes int64
	Retries          int // for FailRetry; 0: DefaultRetries

	// AllowHTTP allows http:// URLs whose host resolves to loopback or
	// private addresses only; https:// is always allowed.
	AllowHTTP bool
	// RootCAs verify https:// hooks; nil: the system's roots.
	RootCAs *x509.CertPool
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Timeout <= 0 {
		out.Timeout = DefaultTimeout
	}
	if out.MaxBatch <= 0 {
		out.MaxBatch = DefaultMaxBatch
	}
	if out.MaxBatchBytes <= 0 {
		out.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if out.MaxInFlight <= 0 {
		out.MaxInFlight = DefaultMaxInFlight
	}
	if out.MaxResponseBytes <= 0 {
		out.MaxResponseBytes = 4 * int64(out.MaxBatchBytes)
	}
	if out.Retries <= 0 {
		out.Retries = DefaultRetries
	}
	return out
}

// check validates a Config: New's errors.
func (c *Config) check() (*url.URL, error) {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || u.Host == "" || u.User != nil:
		return nil, fmt.Errorf("onpublish: %q is not an absolute http(s) URL without credentials", c.URL)
	case u.Scheme == "http" && !c.AllowHTTP:
		return nil, fmt.Errorf("onpublish: %q: http:// hooks are not allowed on this node (--hook-allow-http allows them for loopback and private addresses)", c.URL)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("onpublish: %q: the scheme must be https", c.URL)
	case len(c.Key) != ed25519.PrivateKeySize || c.KeyID == "":
		return nil, fmt.Errorf("onpublish: no signing key")
	case c.Timeout > MaxTimeout:
		return nil, fmt.Errorf("onpublish: timeout %s is over %s", c.Timeout, MaxTimeout)
	}
	for _, f := range c.Filters {
		if err := topic.ValidateFilter(f); err != nil {
			return nil, fmt.Errorf("onpublish: filter %q: %w", f, err)
		}
	}
	return u, nil
}

// Matches reports whether a message on topic name goes to the hook.
func (c *Config) Matches(name string) bool {
	if len(c.Filters) == 0 {
		return true
	}
	for _, f := range c.Filters {
		if topic.Match(f, name) {
			return true
		}
	}
	return false
}
