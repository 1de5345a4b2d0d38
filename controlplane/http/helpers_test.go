package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	cphttp "github.com/openpubsub/pubsub/controlplane/http"
	"github.com/openpubsub/pubsub/internal/testenv"
)

// testDomain is the broker domain in API tests.
const testDomain = "pubsub.test"

// api is a control plane on an httptest server with one account.
type api struct {
	t     *testing.T
	clock *clock
	srv   *httptest.Server
	// srvAPI is the handler srv serves.
	srvAPI *cphttp.Server
	svc    *controlplane.Service
	acct   *controlplane.NewAccount
}

// response is a decoded envelope.
type response struct {
	Status  int
	Result  json.RawMessage `json:"result"`
	Success bool            `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
	Messages   []any `json:"messages"`
	ResultInfo *struct {
		Page       int `json:"page"`
		PerPage    int `json:"per_page"`
		Count      int `json:"count"`
		TotalCount int `json:"total_count"`
	} `json:"result_info"`
	Header http.Header
}

func newAPI(t *testing.T, st controlplane.Store) *api {
	t.Helper()
	c := &clock{}
	svc, err := controlplane.NewService(st, controlplane.Config{Domain: testDomain, KEK: testenv.KEK, RevocationLimit: 5, Now: c.now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := cphttp.NewServer(svc, log)
	srv := httptest.NewServer(h)
	a := &api{t: t, srv: srv, srvAPI: h, svc: svc, clock: c}
	a.acct = a.newAccount("owner@example.com")
	t.Cleanup(func() {
		srv.Close()
		// Secrets never reach the logs: not the API key or token, not a JWT.
		out := logs.String()
		for _, secret := range []string{a.acct.APIKey, a.acct.APIToken, "eyJ"} {
			if strings.Contains(out, secret) {
				t.Errorf("the server log contains a secret (%.6s...)", secret)
			}
		}
		if !strings.Contains(out, "path=") {
			t.Error("the server logged no request: the secret check above saw nothing")
		}
	})
	return a
}

func (a *api) newAccount(email string) *controlplane.NewAccount {
	a.t.Helper()
	na, err := a.svc.CreateAccount(context.Background(), email)
	if err != nil {
		a.t.Fatal(err)
	}
	return na
}

// base is the account's API prefix.
func (a *api) base() string {
	return a.srv.URL + cphttp.APIPrefix + "/accounts/" + a.acct.Account.ID + "/pubsub"
}

// do sends a request authenticated with the account's key. path is
// relative to the account's pubsub prefix unless it starts with "http".
func (a *api) do(method, path, body string) response {
	a.t.Helper()
	return a.doWith(method, path, body, map[string]string{"X-Auth-Email": a.acct.Account.Email, "X-Auth-Key": a.acct.APIKey})
}

func (a *api) doWith(method, path, body string, hdr map[string]string) response {
	a.t.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = a.base() + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		a.t.Fatalf("%s %s: response is not a JSON envelope: %v\n%s", method, path, err, raw)
	}
	if r.Errors == nil || r.Messages == nil {
		a.t.Fatalf("%s %s: envelope without errors/messages arrays: %s", method, path, raw)
	}
	r.Status, r.Header = res.StatusCode, res.Header
	return r
}

// ok asserts a successful envelope and decodes its result into v.
func (r response) ok(t *testing.T, v any) {
	t.Helper()
	if r.Status != http.StatusOK || !r.Success || len(r.Errors) != 0 {
		t.Fatalf("want 200 success, got %d success=%v errors=%+v", r.Status, r.Success, r.Errors)
	}
	if v != nil {
		if err := json.Unmarshal(r.Result, v); err != nil {
			t.Fatalf("decode result: %v: %s", err, r.Result)
		}
	}
}

// fails asserts an error envelope with this status and numeric code, and a
// message containing msg.
func (r response) fails(t *testing.T, status, code int, msg string) {
	t.Helper()
	if r.Status != status || r.Success || len(r.Errors) != 1 {
		t.Fatalf("want %d with one error, got %d success=%v errors=%+v", status, r.Status, r.Success, r.Errors)
	}
	if got := r.Errors[0].Code; got != code {
		t.Fatalf("error code: got %d, want %d (message %q)", got, code, r.Errors[0].Message)
	}
	if !strings.Contains(r.Errors[0].Message, msg) {
		t.Fatalf("error message %q does not contain %q", r.Errors[0].Message, msg)
	}
	if string(r.Result) != "null" {
		t.Fatalf("error result: got %s, want null", r.Result)
	}
}

// logBuffer collects the server's logs; requests log concurrently.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clock is the service's time: real time plus an offset tests can advance.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// advance moves the service's clock forward.
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// parseTime parses an API timestamp and checks its format.
func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	if len(s) != len("2022-05-11T23:13:08.383232Z") {
		t.Fatalf("timestamp %q is not RFC 3339 UTC with microseconds", s)
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
