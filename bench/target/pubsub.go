package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/bench/load"
	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
)

// Domain, Namespace and BrokerName name the one broker the suite loads.
const (
	Domain     = "pubsub.localhost"
	Namespace  = "bench"
	BrokerName = "b"
	// BrokerHost is its hostname, the SNI name clients send.
	BrokerHost = BrokerName + "." + Namespace + "." + Domain
	// TopicACL is the ACL of every minted token: a real filter, so every
	// publish and subscription runs the matcher rather than the shortcut
	// for "#" (deliveries need no check: see the fork's ACLCoversFilters).
	TopicACL = "bench/#"
)

// PubSub is the Pub/Sub stack: a control plane process (embedded store)
// and one or more broker node processes following its feed, all from the
// pubsub binary. Start and Stop restart only the nodes; the control plane,
// its account and the tokens already minted outlive them.
type PubSub struct {
	Bin    string // the pubsub binary
	Dir    string // scratch space
	Certs  *Certs
	Nodes  int      // broker nodes to run; default 1
	Env    []string // extra environment of the node processes (GOMEMLIMIT, ...)
	Flags  []string // extra flags of `pubsub broker serve`
	LogDir string

	cp      *process
	apiURL  string
	account string
	email   string
	key     string
	tokens  []string // node tokens, one per node
	nodes   []*process
	ports   []int // MQTT port of each node
	ops     []int // ops port of each node

	mu     sync.Mutex
	minted []load.ClientSpec // credentials minted so far, reused across rounds
	used   int
}

// Name implements Broker.
func (p *PubSub) Name() string { return "pubsub" }

// setup creates the account and node tokens, then starts the control
// plane with the broker the suite uses.
func (p *PubSub) setup(ctx context.Context) error {
	if p.cp != nil {
		return nil
	}
	if p.Nodes == 0 {
		p.Nodes = 1
	}
	data := filepath.Join(p.Dir, "cp")
	svc, closeStore, err := app.OpenAdmin(ctx, app.StoreConfig{DataDir: data})
	if err != nil {
		return err
	}
	na, err := svc.CreateAccount(ctx, "bench@example.com")
	if err != nil {
		closeStore()
		return err
	}
	for i := range 2 {
		tok, err := svc.CreateNodeToken(ctx, fmt.Sprintf("bench-node-%d", i+1))
		if err != nil {
			closeStore()
			return err
		}
		p.tokens = append(p.tokens, tok)
	}
	closeStore()
	p.account, p.email, p.key = na.Account.ID, na.Account.Email, na.APIKey

	port, err := FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p.cp, err = startProcess(filepath.Join(p.LogDir, "pubsub-controlplane.log"), []string{"PUBSUB_KEK=" + controlplane.NewKEK()},
		p.Bin, "controlplane", "--addr", addr, "--data-dir", data, "--domain", Domain, "--log-level", "warn")
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitHTTP(wctx, p.cp, "http://"+addr+"/healthz"); err != nil {
		return err
	}
	p.apiURL = "http://" + addr + "/client/v4/accounts/" + p.account + "/pubsub"
	if err := p.api(ctx, "POST", "/namespaces", `{"name":"`+Namespace+`"}`, nil); err != nil {
		return err
	}
	return p.api(ctx, "POST", "/namespaces/"+Namespace+"/brokers", `{"name":"`+BrokerName+`","authType":"TOKEN"}`, nil)
}

// Start starts the control plane on first use, then fresh node processes,
// and waits until each has applied its configuration.
func (p *PubSub) Start(ctx context.Context) error {
	if err := p.setup(ctx); err != nil {
		return err
	}
	p.ports, p.ops = nil, nil
	for i := range p.Nodes {
		mqtt, err := FreePort()
		if err != nil {
			return err
		}
		ops, err := FreePort()
		if err != nil {
			return err
		}
		https, err := FreePort()
		if err != nil {
			return err
		}
		args := []string{"broker", "serve", "--https-addr", "127.0.0.1:" + strconv.Itoa(https), "--control-plane", strings.TrimSuffix(p.apiURL, "/client/v4/accounts/"+p.account+"/pubsub"),
			"--node-token", p.tokens[i], "--data-dir", filepath.Join(p.Dir, fmt.Sprintf("node%d", i+1)),
			"--mqtt-addr", "127.0.0.1:" + strconv.Itoa(mqtt), "--ops-addr", "127.0.0.1:" + strconv.Itoa(ops),
			"--cert-dir", p.Certs.Dir, "--log-level", "warn"}
		args = append(args, p.Flags...)
		proc, err := startProcess(filepath.Join(p.LogDir, fmt.Sprintf("pubsub-node%d.log", i+1)), p.Env, p.Bin, args...)
		if err != nil {
			p.Stop()
			return err
		}
		p.nodes = append(p.nodes, proc)
		p.ports, p.ops = append(p.ports, mqtt), append(p.ops, ops)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = waitHTTP(wctx, proc, fmt.Sprintf("http://127.0.0.1:%d/readyz", ops))
		cancel()
		if err != nil {
			p.Stop()
			return err
		}
	}
	return nil
}

// Stop stops the node processes.
func (p *PubSub) Stop() {
	for _, n := range p.nodes {
		n.stop()
	}
	p.nodes = nil
}

// Close stops the nodes and the control plane.
func (p *PubSub) Close() {
	p.Stop()
	p.cp.stop()
	p.cp = nil
}

// Target implements Broker: the first node.
func (p *PubSub) Target() load.Target { return p.NodeTarget(0) }

// NodeTarget is node i's MQTT listener.
func (p *PubSub) NodeTarget(i int) load.Target {
	return load.Target{Addr: "127.0.0.1:" + strconv.Itoa(p.ports[i]), ServerName: BrokerHost, CertDER: p.Certs.LeafDER}
}

// PID implements Broker: the first node's process.
func (p *PubSub) PID() int {
	if len(p.nodes) == 0 {
		return 0
	}
	return p.nodes[0].pid()
}

// HeapBytes implements Broker, from the first node's /metrics.
func (p *PubSub) HeapBytes() (int64, bool) {
	if len(p.ops) == 0 {
		return 0, false
	}
	return scrapeGauge(fmt.Sprintf("http://127.0.0.1:%d/metrics", p.ops[0]), "go_memstats_heap_inuse_bytes")
}

// CollectGarbage implements Broker, on the first node.
func (p *PubSub) CollectGarbage() bool {
	return len(p.ops) > 0 && forceGC(p.ops[0])
}

// Clients implements Broker: n tokens minted through the API (reusing
// ones minted for earlier rounds, each at most once per round), with
// topicAcl bench/#.
func (p *PubSub) Clients(ctx context.Context, n int) ([]load.ClientSpec, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.minted) < n {
		batch := min(controlplane.MaxMint, n-len(p.minted))
		var res map[string]string
		q := url.Values{"number": {strconv.Itoa(batch)}, "type": {"TOKEN"}, "topicAcl": {TopicACL}, "expiration": {"-1"}}
		if err := p.api(ctx, "POST", "/namespaces/"+Namespace+"/brokers/"+BrokerName+"/credentials?"+q.Encode(), "", &res); err != nil {
			return nil, err
		}
		for id, tok := range res {
			p.minted = append(p.minted, load.ClientSpec{ID: id, Password: tok})
		}
	}
	return append([]load.ClientSpec(nil), p.minted[:n]...), nil
}

// FreshClients mints n tokens no other round uses, for revocation.
func (p *PubSub) FreshClients(ctx context.Context, n int) ([]load.ClientSpec, error) {
	var out []load.ClientSpec
	for len(out) < n {
		var res map[string]string
		q := url.Values{"number": {strconv.Itoa(min(controlplane.MaxMint, n-len(out)))}, "type": {"TOKEN"}, "topicAcl": {TopicACL}, "expiration": {"3600"}}
		if err := p.api(ctx, "POST", "/namespaces/"+Namespace+"/brokers/"+BrokerName+"/credentials?"+q.Encode(), "", &res); err != nil {
			return nil, err
		}
		for id, tok := range res {
			out = append(out, load.ClientSpec{ID: id, Password: tok})
		}
	}
	return out, nil
}

// Revoke revokes one token's jti over the API and returns when the API
// answered.
func (p *PubSub) Revoke(ctx context.Context, jti string) (time.Time, error) {
	err := p.api(ctx, "POST", "/namespaces/"+Namespace+"/brokers/"+BrokerName+"/revocations?jti="+url.QueryEscape(jti), "", nil)
	return time.Now(), err
}

// Profile saves a pprof profile of the first node to path: "heap", or
// "profile" for a CPU profile of the given length. It blocks that long.
func (p *PubSub) Profile(kind string, d time.Duration, path string) error {
	if len(p.ops) == 0 {
		return errors.New("no node is running")
	}
	return fetchProfile(p.ops[0], kind, d, path)
}

// fetchProfile saves a profile from the /debug/pprof/ of the ops server
// on the port to path (see PubSub.Profile).
func fetchProfile(port int, kind string, d time.Duration, path string) error {
	u := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s", port, kind)
	if kind == "profile" {
		u += "?seconds=" + strconv.Itoa(max(1, int(d.Seconds())))
	}
	c := http.Client{Timeout: d + 30*time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var apiClient = &http.Client{Timeout: 30 * time.Second}

// api calls the control plane's API and decodes the envelope's result.
func (p *PubSub) api(ctx context.Context, method, path, body string, result any) error {
	req, err := http.NewRequestWithContext(ctx, method, p.apiURL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Email", p.email)
	req.Header.Set("X-Auth-Key", p.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if result == nil {
		return nil
	}
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Result, result)
}
