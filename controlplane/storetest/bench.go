package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// BatchSize is the number of credentials per CreateCredentials call in
// BenchCreateCredentials: the API mints in batches of up to 100.
const BatchSize = 100

// BenchCreateCredentials measures CreateCredentials, the store's part of
// the minting hot path. One operation is one batch of BatchSize
// credentials; the "creds/s" metric is the credential throughput. It runs
// two sub-benchmarks: serial (one caller) and parallel (GOMAXPROCS callers
// at once, as concurrent API requests). open must return a fresh store.
func BenchCreateCredentials(b *testing.B, open func(b *testing.B) controlplane.Store) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			s := open(b)
			w := benchWorld(b, s)
			var seq atomic.Int64
			batch := func() []*controlplane.Credential {
				n := seq.Add(1)
				exp := time.Now().Add(time.Hour)
				creds := make([]*controlplane.Credential, BatchSize)
				for i := range creds {
					creds[i] = &controlplane.Credential{
						JTI: fmt.Sprintf("jti-%d-%d", n, i), BrokerID: w.ID, ClientID: fmt.Sprintf("client-%d", i),
						KeyID: "kid", IssuedAt: time.Now(), ExpiresAt: &exp,
						TopicACL: []string{"devices/+/telemetry"}, PublishACL: []string{"devices/1/telemetry"},
					}
				}
				return creds
			}
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.CreateCredentials(ctx, batch()); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for range b.N {
					if err := s.CreateCredentials(ctx, batch()); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*BatchSize)/time.Since(start).Seconds(), "creds/s")
		})
	}
}

// BenchFindBroker measures FindBroker, which every API request on a broker
// makes, serially and in parallel, with 100 namespaces of 10 brokers in
// the store.
func BenchFindBroker(b *testing.B, open func(b *testing.B) controlplane.Store) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			s := open(b)
			f := &fixture{t: b, s: s, ctx: context.Background()}
			a := f.account("bench@example.com")
			for i := range 100 {
				ns := f.namespace(a, fmt.Sprintf("ns-%d", i))
				for j := range 10 {
					f.broker(ns, fmt.Sprintf("broker-%d", j))
				}
			}
			ctx := context.Background()
			var seq atomic.Int64
			find := func() error {
				n := seq.Add(1)
				br, err := s.FindBroker(ctx, a.ID, fmt.Sprintf("ns-%d", n%100), fmt.Sprintf("broker-%d", n%10))
				if err == nil && br.ID == "" {
					err = fmt.Errorf("FindBroker returned a broker without an id")
				}
				return err
			}
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := find(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for range b.N {
					if err := find(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// benchWorld creates an account, a namespace and a broker.
func benchWorld(b *testing.B, s controlplane.Store) *controlplane.Broker {
	f := &fixture{t: b, s: s, ctx: context.Background()}
	return f.broker(f.namespace(f.account("bench@example.com"), "bench"), "bench")
}
