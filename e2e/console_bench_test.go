package e2e

import (
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
	"github.com/openpubsub/pubsub/pkg/clients"
)

// BenchmarkConsolePageLoad loads the console's pages in headless Chromium
// against `pubsub dev`, for a broker among 1,000 (one namespace) with
// 10,000 connected clients, and, in the same run and alternating with
// them, the same pages of a namespace with one broker and no client (the
// baseline). The clients come in one report of a second node: 10,000 real
// connections would measure the load generator on this machine's two
// cores, not the console. Run with -benchtime 1x; it reports the median
// load time of each page in ms, from navigation start to the page's table
// on screen. PUBSUB_CONSOLE_RUNS sets the loads per page (default 20).
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
	nodeTok, err := svc.CreateNodeToken(ctx, "bench-node")
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
	// Two reports, so that the Overview page has rates to chart.
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
