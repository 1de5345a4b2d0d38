package hist

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	// Every bucket's range starts right after the previous one ends, and
	// bucketOf maps both ends back to the bucket.
	var next uint64
	for i := 0; i < numBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, subCount)
		}
		next = hi + 1
		if hi == math.MaxUint64 {
			if i != numBuckets-1 {
				t.Fatalf("the range ends at bucket %d of %d", i, numBuckets)
			}
			return
		}
	}
	t.Fatalf("the buckets end at %d, short of the uint64 range", next)
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"Empty", nil, 0.5, 0},
		{"One", []time.Duration{5 * time.Millisecond}, 0.99, 5 * time.Millisecond},
		{"SmallExact", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"SmallP90", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"Max", []time.Duration{1, 2, 3 * time.Second}, 1, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			if got := h.Snapshot(false).Quantile(tc.q); !near(got, tc.want) {
				t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// near allows the histogram's resolution of 1/64.
func near(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= float64(want)/subCount
}

func TestQuantileAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		// Log-normal-ish: most around 200µs, a long tail to seconds.
		vals[i] = time.Duration(math.Exp(r.NormFloat64()*1.5+12.2)) + 1
		h.Record(vals[i])
	}
	slices.Sort(vals)
	s := h.Snapshot(false)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(math.Ceil(q*float64(len(vals))))-1]
		if got := s.Quantile(q); !near(got, want) {
			t.Errorf("p%v = %v, exact %v", q*100, got, want)
		}
	}
	if got, want := time.Duration(s.Max), vals[len(vals)-1]; got != want {
		t.Errorf("max %v, want %v", got, want)
	}
}

func TestMergeAndJSON(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	sa := a.Snapshot(false)
	raw, err := json.Marshal(b.Snapshot(false))
	if err != nil {
		t.Fatal(err)
	}
	var sb Snapshot
	if err := json.Unmarshal(raw, &sb); err != nil {
		t.Fatal(err)
	}
	sa.Merge(sb)
	want := all.Snapshot(false)
	if sa.Count != want.Count || sa.Max != want.Max || !slices.Equal(sa.Buckets, want.Buckets) {
		t.Errorf("merged %+v\nwant %+v", sa, want)
	}
}

func TestConcurrentRecordAndReset(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	const per, workers = 10_000, 8
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := 0; i < per; i++ {
				h.Record(time.Duration(i) * time.Microsecond)
			}
		})
	}
	var total uint64
	for i := 0; i < 5; i++ {
		total += h.Snapshot(true).Count
	}
	wg.Wait()
	total += h.Snapshot(true).Count
	if total != per*workers {
		t.Errorf("counted %d, recorded %d", total, per*workers)
	}
}

func TestNegativeIsZero(t *testing.T) {
	var h Histogram
	h.Record(-time.Second)
	if s := h.Snapshot(false); s.Count != 1 || s.Quantile(0.5) != 0 {
		t.Errorf("snapshot %+v", s)
	}
}

func TestCDF(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	vals, fracs := h.Snapshot(false).CDF()
	if len(vals) != len(fracs) || len(vals) == 0 {
		t.Fatalf("%d values, %d fractions", len(vals), len(fracs))
	}
	if fracs[len(fracs)-1] != 1 || !slices.IsSorted(fracs) || !slices.IsSorted(vals) {
		t.Errorf("CDF not monotone up to 1: %v", fracs)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			d = d*7 + 13
			h.Record(d % time.Second)
		}
	})
}
