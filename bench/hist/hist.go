// Package hist records latencies in a log-linear histogram: 64 linear
// buckets per power of two, so any recorded value is known to within
// 1/64 (1.6%) of itself, from 1 ns to centuries, in 3,776 fixed buckets.
// Recording is one atomic add and never allocates, so thousands of
// subscriber goroutines can share one histogram; snapshots are sparse and
// merge by addition, which is how worker processes send theirs to the
// parent.
package hist

import (
	"math"
	"math/bits"
	"sort"
	"sync/atomic"
	"time"
)

// subBits is log2 of the linear buckets per power of two.
const subBits = 6

const (
	subCount   = 1 << subBits
	numBuckets = subCount + (64-subBits-1)*subCount + subCount
)

// bucketOf returns the bucket of v: values below 64 have one bucket each;
// above, a value of bit length L falls in group L-7, split 64 ways.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return subCount + shift*subCount + int(v>>uint(shift)) - subCount
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := uint((i - subCount) / subCount)
	m := uint64(subCount + (i-subCount)%subCount)
	return m << shift, (m+1)<<shift - 1
}

// Histogram is a concurrent latency histogram. The zero value is empty
// and ready.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	max    atomic.Int64
}

// Record adds one latency. Negative values (a clock step) count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(uint64(v))].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Snapshot returns the histogram's counts so far, and with reset empties
// it (counts recorded meanwhile land in either the snapshot or the
// histogram, never both, never neither).
func (h *Histogram) Snapshot(reset bool) Snapshot {
	var s Snapshot
	for i := range h.counts {
		var c uint64
		if reset {
			c = h.counts[i].Swap(0)
		} else {
			c = h.counts[i].Load()
		}
		if c > 0 {
			s.Buckets = append(s.Buckets, [2]uint64{uint64(i), c})
			s.Count += c
		}
	}
	if reset {
		s.Max = h.max.Swap(0)
	} else {
		s.Max = h.max.Load()
	}
	return s
}

// Snapshot is a sparse copy of a histogram, fit for JSON.
type Snapshot struct {
	// Buckets are (bucket index, count) pairs in increasing index order.
	Buckets [][2]uint64 `json:"b,omitempty"`
	Count   uint64      `json:"n"`
	Max     int64       `json:"max"` // nanoseconds
}

// Merge adds o's counts to s.
func (s *Snapshot) Merge(o Snapshot) {
	m := map[uint64]uint64{}
	for _, b := range s.Buckets {
		m[b[0]] += b[1]
	}
	for _, b := range o.Buckets {
		m[b[0]] += b[1]
	}
	s.Buckets = s.Buckets[:0]
	for i, c := range m {
		s.Buckets = append(s.Buckets, [2]uint64{i, c})
	}
	sort.Slice(s.Buckets, func(a, b int) bool { return s.Buckets[a][0] < s.Buckets[b][0] })
	s.Count += o.Count
	s.Max = max(s.Max, o.Max)
}

// Quantile returns the value at quantile q (0 < q <= 1): the smallest
// recorded value v such that at least q of all values are at most v, to
// within the bucket's resolution. It answers the midpoint of the bucket
// (the exact maximum for q = 1), and 0 for an empty snapshot.
func (s Snapshot) Quantile(q float64) time.Duration {
	if s.Count == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(s.Max)
	}
	rank := uint64(math.Ceil(q * float64(s.Count)))
	rank = max(rank, 1)
	var seen uint64
	for _, b := range s.Buckets {
		seen += b[1]
		if seen >= rank {
			lo, hi := bucketRange(int(b[0]))
			mid := lo + (hi-lo)/2
			return time.Duration(min(int64(mid), s.Max))
		}
	}
	return time.Duration(s.Max)
}

// CDF returns (value, cumulative fraction) points at the upper end of
// each non-empty bucket, for drawing.
func (s Snapshot) CDF() (vals []time.Duration, fracs []float64) {
	var seen uint64
	for _, b := range s.Buckets {
		seen += b[1]
		_, hi := bucketRange(int(b[0]))
		vals = append(vals, time.Duration(min(int64(hi), s.Max)))
		fracs = append(fracs, float64(seen)/float64(s.Count))
	}
	return vals, fracs
}
