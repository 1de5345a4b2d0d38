// Package natstest runs NATS servers in-process for tests: one, or a
// cluster whose routes are on loopback ports chosen by the system.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a running set of NATS servers, routed to each other.
type Cluster struct {
	Servers []*server.Server
	opts    []*server.Options
}

// Start runs n servers (n >= 1), each with JetStream stored in a
// temporary directory, and waits until every route is up. They shut
// down when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	// The cluster ports are picked from listeners closed again before
	// the servers bind them (see start), so another process may take one
	// in between: then the cluster is started again on fresh ports.
	for attempt := 1; ; attempt++ {
		c, err := start(t, n)
		if err == nil {
			return c
		}
		if attempt == 3 {
			t.Fatalf("natstest: %v", err)
		}
		t.Logf("natstest: %v; starting again on other ports", err)
	}
}

// start is one attempt of Start. On failure the servers it started are
// shut down.
func start(t testing.TB, n int) (c *Cluster, err error) {
	c = &Cluster{}
	defer func() {
		if err != nil {
			for _, s := range c.Servers {
				s.Shutdown()
				s.WaitForShutdown()
			}
		}
	}()
	// A JetStream cluster needs its routes configured from the start, so
	// the cluster ports are picked before the servers listen on them.
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return c, err
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
		_ = ln.Close()
	}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			NoLog:      true,
			NoSigs:     true,
			JetStream:  true,
			StoreDir:   t.TempDir(),
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i], PoolSize: -1}
			opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		c.opts = append(c.opts, opts)
		s, err := c.launch(i)
		if err != nil {
			return c, err
		}
		c.Servers = append(c.Servers, s)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range c.Servers {
		for n > 1 && s.NumRoutes() < n-1 {
			if time.Now().After(deadline) {
				return c, fmt.Errorf("server %s has %d routes, want %d", s.Name(), s.NumRoutes(), n-1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// JetStream answers once the servers have elected a meta leader.
	deadline = time.Now().Add(30 * time.Second)
	for n > 1 && !c.jetStreamReady() {
		if time.Now().After(deadline) {
			return c, fmt.Errorf("JetStream elected no meta leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range c.Servers {
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	return c, nil
}

func (c *Cluster) jetStreamReady() bool {
	leader := false
	for _, s := range c.Servers {
		if !s.JetStreamIsCurrent() {
			return false
		}
		leader = leader || s.JetStreamIsLeader()
	}
	return leader
}

// launch starts server i with its options and waits until it takes
// connections; a restarted server listens where it did.
func (c *Cluster) launch(i int) (*server.Server, error) {
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		return nil, err
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("server %d is not ready", i+1)
	}
	c.opts[i].Port = s.Addr().(*net.TCPAddr).Port
	return s, nil
}

// Stop shuts server i down.
func (c *Cluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Restart starts server i again, on the same port and store.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	s, err := c.launch(i)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	c.Servers[i] = s
}

// URL returns the client URL of server i.
func (c *Cluster) URL(i int) string { return c.Servers[i].ClientURL() }

// URLs returns every server's client URL, comma-separated.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Subscriptions counts the subscriptions clients of every server hold
// on subjects that start with prefix.
func (c *Cluster) Subscriptions(t testing.TB, prefix string) int {
	t.Helper()
	n := 0
	for _, s := range c.Servers {
		cz, err := s.Connz(&server.ConnzOptions{Subscriptions: true, Limit: 1 << 16})
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		for _, conn := range cz.Conns {
			for _, subj := range conn.Subs {
				if strings.HasPrefix(subj, prefix) {
					n++
				}
			}
		}
	}
	return n
}

// WaitInterest waits until server i knows of a subscription to subject,
// its own clients' or another server's. A JetStream stream is one too: a
// broker's SSE journal (natsbus.Journal) is an interest in every subject
// of the broker, so wait for a node's interest before making one.
func (c *Cluster) WaitInterest(t testing.TB, i int, subject string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.Servers[i].GlobalAccount().SubscriptionInterest(subject) {
		if time.Now().After(deadline) {
			t.Fatalf("natstest: server %d never learned of interest in %s", i+1, subject)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Poll calls ok until it returns true, failing the test after 10 s.
func Poll(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
