package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// report is a node's report at t0+at, valid for 6 s, with a client list
// and counters for each broker named in brokers.
func report(node string, at time.Duration, brokers ...string) *controlplane.ClientReport {
	r := &controlplane.ClientReport{Node: node, ReceivedAt: t0.Add(at), ExpiresAt: t0.Add(at + 6*time.Second)}
	for _, b := range brokers {
		r.Brokers = append(r.Brokers, controlplane.BrokerReport{
			BrokerID: b,
			Clients:  []byte(`[{"client_id":"` + node + `-` + b + `"}]`),
			Stats:    []byte(`{"broker_id":"` + b + `","messages_in":` + strconv.Itoa(int(at/time.Second)) + `}`),
		})
	}
	return r
}

// put stores r and returns the disconnections its answer carries.
func (f *fixture) put(r *controlplane.ClientReport) []clients.Target {
	f.t.Helper()
	pending, err := f.s.PutClientReport(f.ctx, r)
	if err != nil {
		f.t.Fatalf("PutClientReport(%s): %v", r.Node, err)
	}
	return pending
}

// reported lists the nodes' clients of broker b at t0+at, as node: JSON.
func (f *fixture) reported(b string, at time.Duration) []string {
	f.t.Helper()
	list, err := f.s.ListReportedClients(f.ctx, b, t0.Add(at))
	if err != nil {
		f.t.Fatal(err)
	}
	out := []string{}
	for _, n := range list {
		out = append(out, n.Node+": "+string(n.Clients))
	}
	return out
}

// samples lists the counters of broker b since t0+since at t0+at, as
// node@seconds: JSON.
func (f *fixture) samples(b string, since, at time.Duration) []string {
	f.t.Helper()
	list, err := f.s.ListNodeSamples(f.ctx, b, t0.Add(since), t0.Add(at))
	if err != nil {
		f.t.Fatal(err)
	}
	out := []string{}
	for _, n := range list {
		if n.At.Location() != time.UTC {
			f.t.Fatalf("sample time %v is not UTC", n.At)
		}
		out = append(out, n.Node+"@"+n.At.Sub(norm(t0)).String()+": "+string(n.Stats))
	}
	return out
}

var clientReportTests = []test{
	{"PutClientReport/ReplacesAndLists", func(t *testing.T, f *fixture) {
		equal(t, "clients before any report", f.reported("b1", 0), []string{})
		f.put(report("node-b", 0, "b1"))
		f.put(report("node-a", 0, "b1", "b2"))
		equal(t, "b1's clients", f.reported("b1", time.Second), []string{
			`node-a: [{"client_id":"node-a-b1"}]`, `node-b: [{"client_id":"node-b-b1"}]`,
		})
		equal(t, "b2's clients", f.reported("b2", time.Second), []string{`node-a: [{"client_id":"node-a-b2"}]`})
		// node-a's next report has no client of b2, and counters only.
		r := report("node-a", 2*time.Second, "b1")
		r.Brokers = append(r.Brokers, controlplane.BrokerReport{BrokerID: "b2", Stats: []byte(`{"broker_id":"b2"}`)})
		f.put(r)
		equal(t, "b2's clients after", f.reported("b2", 3*time.Second), []string{})
		equal(t, "b1's clients after", len(f.reported("b1", 3*time.Second)), 2)
		equal(t, "an unknown broker's clients", f.reported("nope", 3*time.Second), []string{})
	}},
	{"ListReportedClients/Expired", func(t *testing.T, f *fixture) {
		f.put(report("node-a", 0, "b1"))
		f.put(report("node-b", 4*time.Second, "b1"))
		// node-a's report expires at 6 s, node-b's at 10 s.
		equal(t, "at 5.9 s", len(f.reported("b1", 5900*time.Millisecond)), 2)
		equal(t, "at 6 s", f.reported("b1", 6*time.Second), []string{`node-b: [{"client_id":"node-b-b1"}]`})
		equal(t, "at 10 s", f.reported("b1", 10*time.Second), []string{})
	}},
	{"ListNodeSamples/History", func(t *testing.T, f *fixture) {
		equal(t, "samples before any report", f.samples("b1", 0, 0), []string{})
		for _, at := range []time.Duration{0, 2 * time.Second, 4 * time.Second} {
			f.put(report("node-b", at, "b1"))
			f.put(report("node-a", at, "b1", "b2"))
		}
		equal(t, "b1 since 2 s", f.samples("b1", 2*time.Second, 5*time.Second), []string{
			`node-a@2s: {"broker_id":"b1","messages_in":2}`, `node-a@4s: {"broker_id":"b1","messages_in":4}`,
			`node-b@2s: {"broker_id":"b1","messages_in":2}`, `node-b@4s: {"broker_id":"b1","messages_in":4}`,
		})
		equal(t, "b2", len(f.samples("b2", 0, 5*time.Second)), 3)
		// Two reports at the same time keep their order.
		r := report("node-a", 4*time.Second, "b2")
		r.Brokers[0].Stats = []byte(`{"broker_id":"b2","messages_in":5}`)
		f.put(r)
		got := f.samples("b2", 4*time.Second, 5*time.Second)
		equal(t, "b2 at 4 s", got, []string{`node-a@4s: {"broker_id":"b2","messages_in":4}`, `node-a@4s: {"broker_id":"b2","messages_in":5}`})
		// A node whose report expired has no samples shown; node-b's
		// expires at 10 s, node-a's (last at 4 s) too.
		equal(t, "b1 at 10 s", f.samples("b1", 0, 10*time.Second), []string{})
		// It reports again: its history is back.
		f.put(report("node-b", 20*time.Second, "b1"))
		equal(t, "b1 at 21 s", len(f.samples("b1", 0, 21*time.Second)), 4)
	}},
	{"QueueDisconnect/OldestFirstOnce", func(t *testing.T, f *fixture) {
		f.put(report("node-a", 0, "b1"))
		f.put(report("node-b", 0, "b1"))
		for _, c := range []struct {
			node, client string
		}{{"node-a", "c2"}, {"node-b", "c9"}, {"node-a", "c1"}, {"node-a", "c3"}} {
			n, err := f.s.QueueDisconnect(f.ctx, c.node, clients.Target{BrokerID: "b1", ClientID: c.client}, 3)
			ok(t, err)
			if n >= 3 {
				t.Fatalf("queue of %s full at %d", c.node, n)
			}
		}
		// node-a has 3: the bound refuses a fourth, and queues nothing.
		n, err := f.s.QueueDisconnect(f.ctx, "node-a", clients.Target{BrokerID: "b1", ClientID: "c4"}, 3)
		ok(t, err)
		equal(t, "queued before the refused one", n, 3)
		equal(t, "node-a's answer", f.put(report("node-a", time.Second, "b1")), []clients.Target{
			{BrokerID: "b1", ClientID: "c2"}, {BrokerID: "b1", ClientID: "c1"}, {BrokerID: "b1", ClientID: "c3"},
		})
		equal(t, "node-a's next answer", len(f.put(report("node-a", 2*time.Second, "b1"))), 0)
		equal(t, "node-b's answer", f.put(report("node-b", 2*time.Second)), []clients.Target{{BrokerID: "b1", ClientID: "c9"}})
	}},
	{"DeleteExpiredClientReports/OK", func(t *testing.T, f *fixture) {
		f.put(report("node-a", 0, "b1"))
		f.put(report("node-b", 4*time.Second, "b1"))
		_, err := f.s.QueueDisconnect(f.ctx, "node-a", clients.Target{BrokerID: "b1", ClientID: "x"}, 10)
		ok(t, err)
		_, err = f.s.QueueDisconnect(f.ctx, "node-b", clients.Target{BrokerID: "b1", ClientID: "y"}, 10)
		ok(t, err)
		// At 7 s node-a's report has expired; samples before 2 s go.
		ok(t, f.s.DeleteExpiredClientReports(f.ctx, t0.Add(7*time.Second), t0.Add(2*time.Second)))
		// Read as of 0 s, deleted rows show: node-a's are gone.
		equal(t, "b1's clients", f.reported("b1", 0), []string{`node-b: [{"client_id":"node-b-b1"}]`})
		equal(t, "b1's samples", f.samples("b1", -time.Hour, 0), []string{`node-b@4s: {"broker_id":"b1","messages_in":4}`})
		// node-a reports again: its queued disconnection went with its
		// report, and its sample at 0 s with the others before 2 s.
		equal(t, "node-a's answer", len(f.put(report("node-a", 8*time.Second))), 0)
		equal(t, "node-b's answer", f.put(report("node-b", 8*time.Second)), []clients.Target{{BrokerID: "b1", ClientID: "y"}})
		equal(t, "b1's samples at 9 s", f.samples("b1", -time.Hour, 9*time.Second), []string{`node-b@4s: {"broker_id":"b1","messages_in":4}`})
		ok(t, f.s.DeleteExpiredClientReports(f.ctx, t0.Add(time.Hour), t0.Add(time.Hour)))
		equal(t, "b1's samples after all expired", f.samples("b1", -time.Hour, 0), []string{})
	}},
}
