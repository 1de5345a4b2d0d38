package onpublish

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// BenchmarkHookThroughput measures the hook client alone: publishers
// goroutines, each waiting for its message's verdict as an MQTT client's
// read goroutine does, against a local plain-HTTP hook that answers each
// request with its body. It reports messages a second and the mean batch.
func BenchmarkHookThroughput(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	for _, bc := range []struct{ pubs, inFlight int }{{1, 8}, {64, 1}, {64, 2}, {64, 4}, {64, 8}, {256, 2}, {256, 8}} {
		pubs := bc.pubs
		b.Run("publishers="+strconvItoa(int64(pubs))+"/inflight="+strconvItoa(int64(bc.inFlight)), func(b *testing.B) {
			h, err := New(Config{URL: srv.URL, Broker: "b.ns.example", KeyID: "k", Key: priv, AllowHTTP: true, MaxInFlight: bc.inFlight}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			per := max(1, b.N/pubs)
			payload := make([]byte, 64)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range pubs {
				wg.Go(func() {
					m := &Message{Topic: "bench", ClientID: "c", ReceivedAt: 1, Payload: payload}
					for range per {
						if r := h.Publish(m); r.Verdict != Deliver {
							b.Errorf("verdict %+v", r)
							return
						}
					}
				})
			}
			wg.Wait()
			d := time.Since(start)
			b.StopTimer()
			n := per * pubs
			b.ReportMetric(float64(n)/d.Seconds(), "msgs/s")
			b.ReportMetric(float64(n)/float64(h.Stats().Requests[OutcomeOK].Load()), "msgs/request")
		})
	}
}
