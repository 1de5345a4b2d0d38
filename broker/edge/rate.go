package edge

import (
	"container/list"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

// maxRateBuckets bounds the rate buckets one broker's hub keeps. A bucket
// that has refilled is dropped first, since forgetting it changes
// nothing; past the bound the least recently used bucket is dropped
// whatever its state (that token starts afresh with a full burst), and
// counted.
const maxRateBuckets = 10000

// limiter applies the node's message rate to HTTP publishes: one token
// bucket per token (jti), shared by every publish made with it, as an
// MQTT connection has one for its PUBLISH packets.
type limiter struct {
	rate  float64
	burst int
	max   int

	mu      sync.Mutex
	byJTI   map[string]*list.Element // of *rateBucket
	lru     list.List                // most recently used first
	evicted int64                    // buckets dropped before they refilled
}

type rateBucket struct {
	jti string
	b   broker.Bucket
}

func newLimiter(rate float64, burst, max int) *limiter {
	return &limiter{rate: rate, burst: burst, max: max, byJTI: map[string]*list.Element{}}
}

// allow takes one token from jti's bucket at now; when there is none it
// returns how long until there is.
func (l *limiter) allow(jti string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byJTI[jti]
	if e == nil {
		l.evict(now)
		e = l.lru.PushFront(&rateBucket{jti: jti})
		l.byJTI[jti] = e
	} else {
		l.lru.MoveToFront(e)
	}
	b := &e.Value.(*rateBucket).b
	if b.Allow(now, l.rate, l.burst) {
		return true, 0
	}
	return false, b.Wait(now, l.rate, l.burst)
}

// evict drops the least recently used buckets that have refilled, and
// makes room for one more.
func (l *limiter) evict(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		rb := e.Value.(*rateBucket)
		full := rb.b.Full(now, l.rate, l.burst)
		if !full && l.lru.Len() < l.max {
			return
		}
		if !full {
			l.evicted++
		}
		l.lru.Remove(e)
		delete(l.byJTI, rb.jti)
	}
}

// evictions returns how many buckets were dropped before they refilled.
func (l *limiter) evictions() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.evicted
}
