package broker

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// GrantCache remembers the grants of tokens verified recently, keyed by a
// hash of the token, so that a device that reconnects with the same token
// (after a network blip, a node restart, a storm of them) skips the
// signature check, a third of the CPU of a connect. A cached grant is
// used only for the very *Broker it was verified for: a revocation, a key
// change or a new expiration makes a new *Broker, which misses, so the
// cache needs no clearing of its own. It is also checked again against
// the broker (Valid) and its deadline on every use. The zero of *GrantCache
// (nil) caches nothing. It is safe for concurrent use.
type GrantCache struct {
	max int

	mu sync.Mutex
	m  map[[sha256.Size]byte]cachedGrant

	hits, misses atomic.Int64
}

type cachedGrant struct {
	b     *Broker
	g     *Grant
	until time.Time // the grant's deadline on b; zero for none
}

// NewGrantCache returns a cache of at most max grants; max <= 0 returns
// nil, which caches nothing.
func NewGrantCache(max int) *GrantCache {
	if max <= 0 {
		return nil
	}
	return &GrantCache{max: max, m: make(map[[sha256.Size]byte]cachedGrant)}
}

// Authenticate is the package's Authenticate, answered from the cache
// when tok was verified for b before and its grant still stands at now.
func (c *GrantCache) Authenticate(b *Broker, tok string, now time.Time, leeway time.Duration) (*Grant, *Refusal) {
	if c == nil || len(tok) == 0 || len(tok) > MaxTokenLen {
		return Authenticate(b, tok, now, leeway)
	}
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && e.b == b && (e.until.IsZero() || now.Before(e.until)) {
		if r := e.g.Valid(b, now); r != nil {
			return nil, r
		}
		c.hits.Add(1)
		return e.g, nil
	}
	c.misses.Add(1)
	g, r := Authenticate(b, tok, now, leeway)
	if r != nil {
		return nil, r
	}
	c.mu.Lock()
	if _, had := c.m[k]; !had && len(c.m) >= c.max {
		for old := range c.m { // the map's order is as good as any
			delete(c.m, old)
			break
		}
	}
	c.m[k] = cachedGrant{b: b, g: g, until: g.Deadline(b, leeway)}
	c.mu.Unlock()
	return g, nil
}

// Len returns the number of grants cached.
func (c *GrantCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Stats returns how many authentications the cache answered, and how
// many it passed on to a signature check.
func (c *GrantCache) Stats() (hits, misses int64) {
	if c == nil {
		return 0, 0
	}
	return c.hits.Load(), c.misses.Load()
}
