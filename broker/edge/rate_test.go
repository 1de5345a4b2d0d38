package edge

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterBound checks the named overflow policy of the per-token
// buckets: refilled buckets go first, and past the bound the least
// recently used one goes and is counted.
func TestLimiterBound(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLimiter(1, 2, 3)
	for i := range 3 {
		if ok, _ := l.allow(fmt.Sprint("jti-", i), t0); !ok {
			t.Fatalf("first publish of jti-%d refused", i)
		}
	}
	// jti-0 is used again, so jti-1 is the least recently used.
	l.allow("jti-0", t0)
	if ok, wait := l.allow("jti-0", t0); ok || wait != time.Second {
		t.Fatalf("jti-0 past its burst: ok %v, wait %v; want refused, 1s", ok, wait)
	}
	l.allow("jti-3", t0)
	if _, kept := l.byJTI["jti-1"]; kept || len(l.byJTI) != 3 || l.evictions() != 1 {
		t.Fatalf("kept %v, want jti-1 dropped, 3 kept, 1 eviction (got %d)", l.byJTI, l.evictions())
	}
	// Two seconds on, every bucket has refilled: a new one drops them
	// all, without counting.
	l.allow("jti-4", t0.Add(2*time.Second))
	if len(l.byJTI) != 1 || l.evictions() != 1 {
		t.Fatalf("kept %d buckets, %d evictions; want 1, 1", len(l.byJTI), l.evictions())
	}
	// jti-0 starts afresh, which is what keeping its refilled bucket gave.
	if ok, _ := l.allow("jti-0", t0.Add(2*time.Second)); !ok {
		t.Fatal("jti-0 refused after refilling")
	}
}
