package broker

import (
	"testing"
	"time"
)

// TestBucket walks a bucket through explicit instants: the burst, the
// refill at the rate, the wait it announces, and the cap at the burst.
func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var b Bucket
	if !b.Full(t0, 2, 3) {
		t.Error("a new bucket is not full")
	}
	for i := 0; i < 3; i++ {
		if !b.Allow(t0, 2, 3) {
			t.Fatalf("publish %d of the burst refused", i+1)
		}
	}
	if b.Allow(t0, 2, 3) {
		t.Fatal("publish past the burst allowed")
	}
	if got, want := b.Wait(t0, 2, 3), 500*time.Millisecond; got != want {
		t.Errorf("Wait = %v, want %v", got, want)
	}
	if b.Allow(t0.Add(400*time.Millisecond), 2, 3) {
		t.Error("allowed before a token came")
	}
	if !b.Allow(t0.Add(500*time.Millisecond), 2, 3) {
		t.Error("refused once a token came")
	}
	if b.Full(t0.Add(1900*time.Millisecond), 2, 3) || !b.Full(t0.Add(2*time.Second), 2, 3) {
		t.Error("Full wrong around the refill")
	}
	// An hour idle refills to the burst, no more.
	later := t0.Add(time.Hour)
	for i := 0; i < 3; i++ {
		if !b.Allow(later, 2, 3) {
			t.Fatalf("publish %d after idling refused", i+1)
		}
	}
	if b.Allow(later, 2, 3) {
		t.Error("the bucket grew past its burst")
	}
	// A clock that steps back takes nothing and gives nothing.
	if b.Allow(later.Add(-time.Minute), 2, 3) {
		t.Error("allowed when time went back")
	}
}
