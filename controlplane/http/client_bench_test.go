package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	cphttp "github.com/openpubsub/pubsub/controlplane/http"
	"github.com/openpubsub/pubsub/internal/testenv"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// BenchmarkClients measures, through a real HTTP client and one request
// at a time, what the console's Clients page asks for with 10,000
// clients of one broker reported by one node: a page of 50, a search, and
// a node's report of those 10,000; listing 20 brokers of 100 is the
// baseline, in the same run. SQLite store.
func BenchmarkClients(b *testing.B) {
	st := testenv.OpenStore(b, "sqlite")
	svc, err := controlplane.NewService(st, controlplane.Config{Domain: testDomain, KEK: testenv.KEK}, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(cphttp.NewServer(svc, nil))
	b.Cleanup(srv.Close)
	na, err := svc.CreateAccount(b.Context(), "bench@example.com")
	if err != nil {
		b.Fatal(err)
	}
	a := &benchAPI{
		base: srv.URL + cphttp.APIPrefix + "/accounts/" + na.Account.ID + "/pubsub",
		hdr:  http.Header{"X-Auth-Email": {na.Account.Email}, "X-Auth-Key": {na.APIKey}, "Content-Type": {"application/json"}},
		c:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
	}
	a.must(b, "POST", "/namespaces", `{"name": "bench"}`)
	for i := range 100 {
		a.must(b, "POST", "/namespaces/bench/brokers", fmt.Sprintf(`{"name": "b%d"}`, i))
	}
	br, err := svc.FindBroker(b.Context(), na.Account.ID, "bench", "b0")
	if err != nil {
		b.Fatal(err)
	}
	nodeTok, err := svc.CreateNodeToken(b.Context(), "bench-node")
	if err != nil {
		b.Fatal(err)
	}
	rep := clients.Report{Time: time.Now().UTC(), IntervalMS: 600000}
	for i := range 10000 {
		rep.Clients = append(rep.Clients, clients.Client{
			BrokerID: br.ID, ClientID: fmt.Sprintf("device-%05d", i), JTI: controlplane.NewULID(time.Now()), Transport: "mqtts",
			Remote: fmt.Sprintf("10.0.%d.%d:51234", i/256, i%256), ConnectedAt: time.Now().UTC(),
			Subscriptions: []string{fmt.Sprintf("devices/%05d/cmd", i), "fleet/#"}, Subscribed: 2,
		})
	}
	report, err := json.Marshal(rep)
	if err != nil {
		b.Fatal(err)
	}
	post := func() (time.Duration, error) {
		req, _ := http.NewRequest("POST", srv.URL+clients.Path, bytes.NewReader(report))
		req.Header.Set("Authorization", "Bearer "+nodeTok)
		start := time.Now()
		res, err := a.c.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return 0, fmt.Errorf("status %d", res.StatusCode)
		}
		return time.Since(start), nil
	}
	if _, err := post(); err != nil {
		b.Fatal(err)
	}
	for _, op := range []struct{ name, path string }{
		{"ListBrokers20of100", "/namespaces/bench/brokers?per_page=20"},
		{"ListClients50of10000", "/namespaces/bench/brokers/b0/clients?per_page=50&page=100"},
		{"SearchClients10000", "/namespaces/bench/brokers/b0/clients?per_page=50&search=device-0999"},
	} {
		b.Run(op.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				status, d, err := a.call("GET", op.path, "")
				if err != nil || status != 200 {
					b.Fatalf("%d %v", status, err)
				}
				lat = append(lat, d)
			}
			reportLatency(b, lat)
		})
	}
	b.Run("Report10000", func(b *testing.B) {
		b.SetBytes(int64(len(report)))
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			d, err := post()
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, d)
		}
		reportLatency(b, lat)
	})
}
