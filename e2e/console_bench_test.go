package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// BenchmarkConsolePageLoad loads the console's pages in headless Chromium
// against `pubsub dev`, for a broker among 1,000 (one namespace) with
// 10,000 connected clients, and, in the same run and alternating with
// them, the same pages of a namespace with one broker and no client (the
// baseline). The clients come in one report of a second node, or, with
// PUBSUB_CONSOLE_REAL_CLIENTS=10000, are real MQTT sessions over TLS to
// the dev node, opened by the test binary in a process of its own
// (connector_test.go). Run with -benchtime 1x; it reports the median load
// time of each page in ms, from navigation start to the page's table on
// screen. PUBSUB_CONSOLE_RUNS sets the loads per page (default 20).
func BenchmarkConsolePageLoad(b *testing.B) {
	chromium := requireBrowserB(b)
	d := startDev(b, b.TempDir())
	ctx := context.Background()
	svc, acct := d.ControlPlane.Service, d.Env["CF_ACCOUNT_ID"]
	for _, ns := range []string{"bench", "base"} {
		if _, err := svc.CreateNamespace(ctx, acct, ns, ""); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := svc.CreateBroker(ctx, acct, "base", controlplane.BrokerInput{Name: "solo", AuthType: "TOKEN"}); err != nil {
		b.Fatal(err)
	}
	var target *controlplane.Broker
	for i := range 1000 {
		br, err := svc.CreateBroker(ctx, acct, "bench", controlplane.BrokerInput{Name: fmt.Sprintf("broker-%04d", i), AuthType: "TOKEN"})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			target = br
		}
	}
	if n, _ := strconv.Atoi(os.Getenv("PUBSUB_CONSOLE_REAL_CLIENTS")); n > 0 {
		connectClients(b, d, acct, target, n)
	} else {
		reportClients(b, d, target)
	}

	runs := "20"
	if v := os.Getenv("PUBSUB_CONSOLE_RUNS"); v != "" {
		runs = v
	}
	pages := []string{}
	for _, v := range []struct{ name, ns, broker string }{{"base", "base", "solo"}, {"big", "bench", "broker-0000"}} {
		bh := "#/ns/" + v.ns + "/b/" + v.broker
		pages = append(pages,
			v.name+"-namespaces=#/=#namespaces",
			v.name+"-brokers=#/ns/"+v.ns+"=#brokers",
			v.name+"-broker="+bh+"=#endpoints",
			v.name+"-credentials="+bh+"/credentials=#revocations-empty",
			v.name+"-clients="+bh+"/clients=#clients"+map[string]string{"base": "-empty", "big": " tbody tr"}[v.name],
			v.name+"-overview="+bh+"/overview="+map[string]string{"base": "#overview-empty", "big": "#chart-problems canvas"}[v.name],
		)
	}
	wd, _ := os.Getwd()
	b.ResetTimer()
	for range b.N {
		cmd := exec.Command("node", append([]string{filepath.Join(wd, "console", "loadtime.mjs"), "http://" + d.ControlPlane.Addr() + "/console/", acct, d.Env["CF_API_TOKEN"], runs}, pages...)...)
		cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("loadtime.mjs: %v\n%s", err, out)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			if len(f) != 6 || f[0] != "RESULT" {
				b.Fatalf("bad line %q", l)
			}
			// Printed, not logged: the benchmark log keeps only 10 lines.
			fmt.Printf("%-18s median %6s ms  p90 %6s ms  max %6s ms  first %6s ms\n", f[1], f[2], f[3], f[4], f[5])
			med, _ := strconv.ParseFloat(f[2], 64)
			b.ReportMetric(med, f[1]+"-ms")
		}
	}
}

// requireBrowserB is requireBrowser for a benchmark: it skips when the
// browser or playwright-core is missing.
func requireBrowserB(b *testing.B) string {
	b.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		b.Skip("chromium is not installed")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core")); err != nil {
		b.Skip("playwright-core is missing: run `npm ci --prefix e2e`")
	}
	return chromium
}

// reportClients posts 10,000 clients of broker target as a second node
// would, twice, so that the Overview page has rates to chart.
func reportClients(b *testing.B, d *app.Dev, target *controlplane.Broker) {
	b.Helper()
	nodeTok, err := d.ControlPlane.Service.CreateNodeToken(context.Background(), "bench-node")
	if err != nil {
		b.Fatal(err)
	}
	rep := clients.Report{Time: time.Now().UTC(), IntervalMS: 600000}
	for i := range 10000 {
		rep.Clients = append(rep.Clients, clients.Client{
			BrokerID: target.ID, ClientID: fmt.Sprintf("device-%05d", i), JTI: controlplane.NewULID(time.Now()), Transport: "mqtts",
			Remote: fmt.Sprintf("10.0.%d.%d:51234", i/256, i%256), ConnectedAt: time.Now().UTC(),
			Subscriptions: []string{fmt.Sprintf("devices/%05d/cmd", i), "fleet/#"}, Subscribed: 2,
		})
	}
	for i := range 2 {
		rep.Brokers = []clients.BrokerStats{{BrokerID: target.ID, Connections: 10000, MessagesIn: int64(i) * 5000, MessagesOut: int64(i) * 20000}}
		body, _ := json.Marshal(rep)
		req, _ := http.NewRequest("POST", "http://"+d.ControlPlane.Addr()+clients.Path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+nodeTok)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("report: %v %v", err, res)
		}
		res.Body.Close()
	}
}

// connectClients mints n credentials of broker target and opens one MQTT
// session with each from a connector process, then waits until the dev
// node has reported them all to the control plane.
func connectClients(b *testing.B, d *app.Dev, acct string, target *controlplane.Broker, n int) {
	b.Helper()
	ctx := context.Background()
	svc := d.ControlPlane.Service
	var tokens []string
	for len(tokens) < n {
		minted, err := svc.MintCredentials(ctx, acct, "bench", target.Name, controlplane.MintRequest{Number: min(controlplane.MaxMint, n-len(tokens))})
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range minted {
			tokens = append(tokens, m.Token)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), connectorEnv+"="+d.Node.MQTTAddrs()[0].String(), "CONNECTOR_CA="+d.CA.CAFile(), "CONNECTOR_HOST="+target.Hostname(d.ControlPlane.Service.Config().Domain))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	start := time.Now()
	w := bufio.NewWriter(stdin)
	for _, t := range tokens {
		fmt.Fprintln(w, t)
	}
	fmt.Fprintln(w, "END")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, fmt.Sprintf("CONNECTED %d 0", n)) {
		b.Fatalf("connector: %q %v", line, err)
	}
	fmt.Printf("%d MQTT sessions connected in %v\n", n, time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, total, err := svc.ListClients(ctx, acct, "bench", target.Name, "", controlplane.Page{Page: 1, PerPage: 1})
		if err != nil {
			b.Fatal(err)
		}
		st, _ := svc.BrokerStats(ctx, acct, "bench", target.Name)
		if total == n && len(st) == 1 && len(st[0].Samples) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the node reported %d clients of %d", total, n)
		}
		time.Sleep(100 * time.Millisecond) // polling the control plane, with a deadline
	}
}
