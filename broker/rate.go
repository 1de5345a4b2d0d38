package broker

import "time"

// Bucket is a token bucket: a client may publish rate messages per
// second on average, with bursts of up to burst. The MQTT node keeps one
// per connection, the HTTP edge one per token (jti), so that
// --message-rate means the same on both. The zero Bucket is full. A
// Bucket is not safe for concurrent use: its owner serializes calls.
type Bucket struct {
	tokens float64
	last   time.Time
}

// Allow takes one token at now and reports whether there was one.
func (b *Bucket) Allow(now time.Time, rate float64, burst int) bool {
	b.refill(now, rate, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Wait returns how long after now the next token comes, zero when one
// is there already.
func (b *Bucket) Wait(now time.Time, rate float64, burst int) time.Duration {
	b.refill(now, rate, burst)
	if b.tokens >= 1 || rate <= 0 {
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// Full reports whether the bucket would be full at now: it has been idle
// long enough that dropping it and starting afresh changes nothing.
func (b *Bucket) Full(now time.Time, rate float64, burst int) bool {
	return b.last.IsZero() || b.tokens+now.Sub(b.last).Seconds()*rate >= float64(burst)
}

func (b *Bucket) refill(now time.Time, rate float64, burst int) {
	switch {
	case b.last.IsZero():
		b.tokens = float64(burst)
	case now.After(b.last):
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	default:
		return // time did not move on
	}
	b.last = now
}
