package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/pkg/clients"
)

// Clients returns every MQTT session connected to the node (over TLS or
// WebSocket) and every SSE stream open on it, of every broker it serves.
// Each server's lock is held only to copy its connections; sessions are
// read after.
func (n *Node) Clients() []clients.Client {
	var out []clients.Client
	_ = n.eachClient(func(c *clients.Client) error {
		out = append(out, *c)
		return nil
	})
	return out
}

// eachClient calls fn with each client Clients returns, one at a time, so
// that a report of tens of thousands of idle connections never holds them
// all (and their JSON) in memory at once. It stops at fn's first error.
func (n *Node) eachClient(fn func(*clients.Client) error) error {
	for _, c := range n.edge.Streams() {
		if err := fn(&c); err != nil {
			return err
		}
	}
	for _, s := range n.serverList() {
		for _, c := range s.connList() {
			sess := c.sess.Load()
			if sess == nil || !sess.established.Load() {
				continue
			}
			cl := s.clientOf(c, sess)
			if err := fn(&cl); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeReport writes the JSON of a clients.Report of the node, its clients
// streamed one by one.
func (n *Node) writeReport(w io.Writer, interval time.Duration) error {
	bw := bufio.NewWriterSize(w, 16<<10)
	head, err := json.Marshal(clients.Report{Time: time.Now().UTC(), IntervalMS: interval.Milliseconds()})
	if err != nil {
		return err
	}
	// The head ends with "clients":null,"brokers":null}: cut it there.
	cut := bytes.LastIndex(head, []byte(`"clients":`))
	if cut < 0 {
		return fmt.Errorf("unexpected report head %s", head)
	}
	bw.Write(head[:cut])
	bw.WriteString(`"clients":[`)
	enc := json.NewEncoder(bw)
	first := true
	if err := n.eachClient(func(c *clients.Client) error {
		if !first {
			bw.WriteByte(',')
		}
		first = false
		return enc.Encode(c)
	}); err != nil {
		return err
	}
	bw.WriteString(`],"brokers":`)
	if err := enc.Encode(n.BrokerStats()); err != nil {
		return err
	}
	bw.WriteString("}")
	return bw.Flush()
}

// BrokerStats returns the counters of each broker server running on the
// node, as /metrics has them.
func (n *Node) BrokerStats() []clients.BrokerStats {
	servers := n.serverList()
	out := make([]clients.BrokerStats, 0, len(servers))
	for _, s := range servers {
		st := clients.BrokerStats{
			BrokerID:    s.id,
			Connections: atomic.LoadInt64(&s.mochi.Info.ClientsConnected),
			MessagesIn:  atomic.LoadInt64(&s.mochi.Info.MessagesReceived),
			MessagesOut: atomic.LoadInt64(&s.mochi.Info.MessagesSent),
			Dropped:     atomic.LoadInt64(&s.mochi.Info.MessagesDropped) + atomic.LoadInt64(&s.mochi.Info.InflightDropped) + s.m.droppedQoS0.Load(),
			Denied:      s.m.aclPublish.Load() + s.m.aclSubscribe.Load(),
		}
		for i := range s.m.refusals {
			st.Refused += s.m.refusals[i].Load()
		}
		st.Hook = s.hookStats() // onpublish.go
		out = append(out, st)
	}
	return out
}

// connList copies the server's connections.
func (s *server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// clientOf describes one connected session.
func (s *server) clientOf(c *conn, sess *session) clients.Client {
	cl := clients.Client{
		BrokerID: s.id, ClientID: sess.clientID, JTI: sess.grant.JTI, Transport: clients.TransportWebSocket,
		Remote: sess.cl.Net.Remote, ConnectedAt: c.since.UTC(), Inflight: sess.cl.State.Inflight.Len(),
	}
	in, out := sess.cl.Counters.MessagesReceived.Load(), sess.cl.Counters.MessagesSent.Load()
	cl.MessagesIn, cl.MessagesOut = &in, &out
	if _, ok := c.Conn.(*tls.Conn); ok {
		cl.Transport = clients.TransportMQTTS
	}
	subs := sess.cl.State.Subscriptions.GetAll()
	cl.Subscribed = len(subs)
	cl.Subscriptions = make([]string, 0, min(len(subs), clients.MaxSubscriptions))
	for f := range subs {
		cl.Subscriptions = append(cl.Subscriptions, f)
	}
	slices.Sort(cl.Subscriptions)
	if len(cl.Subscriptions) > clients.MaxSubscriptions {
		cl.Subscriptions = cl.Subscriptions[:clients.MaxSubscriptions]
	}
	return cl
}

// operatorDisconnect is the DISCONNECT an operator's request sends:
// 0x98, administrative action.
var operatorDisconnect = packets.Code{Code: 0x98, Reason: "disconnected by an operator"}

// Disconnect disconnects the connected MQTT sessions of client id
// clientID of broker brokerID with DISCONNECT 0x98, and reports how many
// there were. Like a disconnection for any other reason, it keeps no
// will. SSE streams are not ended: revoking their token ends them.
func (n *Node) Disconnect(brokerID, clientID string) int {
	var s *server
	n.mu.Lock()
	if sl := n.servers[brokerID]; sl != nil {
		s = sl.srv // nil while starting: no client yet
	}
	n.mu.Unlock()
	if s == nil {
		return 0
	}
	count := 0
	for _, c := range s.connList() {
		sess := c.sess.Load()
		if sess == nil || sess.clientID != clientID || !sess.established.Load() {
			continue
		}
		count++
		s.m.disconnected("operator")
		s.log.Info("disconnecting client", "client_id", clientID, "jti", sess.grant.JTI, "reason", "operator", "code", operatorDisconnect.Code)
		if sess.cl.Net.Conn != nil {
			_ = sess.cl.Net.Conn.SetWriteDeadline(time.Now().Add(disconnectWriteTimeout))
		}
		_ = s.mochi.DisconnectClient(sess.cl, operatorDisconnect)
	}
	return count
}

// ReportClients posts the node's connected clients to the control plane
// at baseURL every interval until ctx ends, and disconnects the clients
// each answer names. A failed report is logged and retried at the next
// tick: the control plane forgets a node that stays silent.
func (n *Node) ReportClients(ctx context.Context, baseURL, nodeToken string, interval time.Duration) {
	hc := &http.Client{Timeout: max(interval, 5*time.Second)}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		err := n.reportClients(ctx, hc, baseURL, nodeToken, interval)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			n.log.Warn("reporting connected clients to the control plane", "error", err)
			failing = true
		case err == nil && failing:
			n.log.Info("reporting connected clients again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) reportClients(ctx context.Context, hc *http.Client, baseURL, nodeToken string, interval time.Duration) error {
	// The body is written as the request sends it; the transport closes
	// pr when it is done, which stops the writer.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(n.writeReport(pw, interval)) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+clients.Path, pr)
	if err != nil {
		pr.Close()
		return err
	}
	req.Header.Set("Authorization", "Bearer "+nodeToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	var env struct {
		Result clients.Answer `json:"result"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("status %d, not a JSON envelope: %w", res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK {
		if len(env.Errors) > 0 {
			return fmt.Errorf("status %d: %s", res.StatusCode, env.Errors[0].Message)
		}
		return fmt.Errorf("status %d", res.StatusCode)
	}
	for _, t := range env.Result.Disconnect {
		n.Disconnect(t.BrokerID, t.ClientID)
	}
	return nil
}
