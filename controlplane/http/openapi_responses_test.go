package http_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/openpubsub/pubsub/controlplane"
	cphttp "github.com/openpubsub/pubsub/controlplane/http"
	"github.com/openpubsub/pubsub/internal/testenv"
	"github.com/openpubsub/pubsub/pkg/clients"
	"github.com/openpubsub/pubsub/pkg/feed"
)

func init() {
	// Each line of the feed is one JSON value, which is what the checker
	// is given: the feed's schema describes one event.
	openapi3filter.RegisterBodyDecoder(feed.ContentType, openapi3filter.JSONBodyDecoder)
	// OpenMetrics is text, checked as a string like text/plain.
	openapi3filter.RegisterBodyDecoder("application/openmetrics-text", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	})
}

// exchange is one real request to the control plane and its answer.
type exchange struct {
	method, path, body string
	header             http.Header
	status             int
	respHeader         http.Header
	respBody           []byte
}

// specChecker checks recorded exchanges against the OpenAPI document with
// kin-openapi's openapi3filter, and records which operation answered
// which status.
type specChecker struct {
	doc      *openapi3.T
	router   routers.Router
	covered  map[string]map[int]bool // operationId -> status
	failures int
}

func newSpecChecker(t *testing.T, raw []byte) *specChecker {
	t.Helper()
	doc, err := loadSpec(raw)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	// Route by path alone: the recorded requests went to a test server,
	// not to the document's servers. The /client/v4 prefix is stripped
	// before routing, as those servers' URLs end with it.
	doc.Servers = nil
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specChecker{doc: doc, router: router, covered: map[string]map[int]bool{}}
}

// check validates one exchange: the response always (its status must be
// documented for the operation, its body must match the schema), and the
// request too when it succeeded, since a request the API accepts must be
// one the document allows.
func (c *specChecker) check(ex *exchange) error {
	u, err := url.Parse(ex.path)
	if err != nil {
		return err
	}
	u.Path = strings.TrimPrefix(u.Path, cphttp.APIPrefix)
	req, err := http.NewRequest(ex.method, "http://api.test"+u.String(), strings.NewReader(ex.body))
	if err != nil {
		return err
	}
	req.Header = ex.header.Clone()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("the document has no operation for it: %w", err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	ctx := context.Background()
	if ex.status == http.StatusOK {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("request: %w", err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: ex.status, Header: ex.respHeader, Options: opts}
	out.SetBodyBytes(ex.respBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	op := route.Operation.OperationID
	if c.covered[op] == nil {
		c.covered[op] = map[int]bool{}
	}
	c.covered[op][ex.status] = true
	return nil
}

// recorder sends requests to a test server and keeps each exchange.
type recorder struct {
	t         *testing.T
	a         *api
	nodeToken string
	log       []*exchange
}

// auth is the account's global API key.
func (r *recorder) auth() http.Header {
	return http.Header{"X-Auth-Email": {r.a.acct.Account.Email}, "X-Auth-Key": {r.a.acct.APIKey}}
}

// do sends method path (relative to the account's pubsub prefix unless it
// starts with "/client" or "/node", or is /healthz or /metrics) and fails the test unless
// the answer has the given status.
func (r *recorder) do(status int, method, path, body string, header http.Header) *exchange {
	r.t.Helper()
	if !strings.HasPrefix(path, "/client") && !strings.HasPrefix(path, "/node") && path != "/healthz" && path != cphttp.MetricsPath {
		path = cphttp.APIPrefix + "/accounts/" + r.a.acct.Account.ID + "/pubsub" + path
	}
	ex := &exchange{method: method, path: path, body: body, header: http.Header{}}
	for k, v := range header {
		ex.header[k] = v
	}
	if body != "" {
		ex.header.Set("Content-Type", "application/json")
	}
	req, err := http.NewRequest(method, r.a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header = ex.header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") == feed.ContentType {
		// The feed never ends: keep its first event.
		ex.respBody, err = bufio.NewReader(res.Body).ReadBytes('\n')
	} else {
		ex.respBody, err = io.ReadAll(res.Body)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	ex.status, ex.respHeader = res.StatusCode, res.Header
	if ex.status != status {
		r.t.Fatalf("%s %s: status %d, want %d: %s", method, path, ex.status, status, ex.respBody)
	}
	r.log = append(r.log, ex)
	return ex
}

// recordEveryRoute drives every route of the API through its success and
// its documented refusals, as a user would, and returns what it saw.
func recordEveryRoute(t *testing.T) []*exchange {
	t.Helper()
	a := newAPI(t, testenv.OpenStore(t, "sqlite"))
	nodeToken, err := a.svc.CreateNodeToken(context.Background(), "node-1")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{t: t, a: a, nodeToken: nodeToken}
	key := r.auth()
	bearer := http.Header{"Authorization": {"Bearer " + a.acct.APIToken}}
	big := `{"name": "big", "description": "` + strings.Repeat("x", 1<<20) + `"}`

	// Namespaces.
	r.do(200, "POST", "/namespaces", `{"name": "ns", "description": "the namespace"}`, key)
	r.do(200, "POST", "/namespaces", `{"name": "empty"}`, bearer)
	r.do(400, "POST", "/namespaces", `{"name": `, key)
	r.do(400, "POST", "/namespaces", `{"name": "ns"}`, key) // taken
	r.do(413, "POST", "/namespaces", big, key)
	r.do(200, "GET", "/namespaces?page=1&per_page=1", "", key)
	r.do(400, "GET", "/namespaces?per_page=0", "", key)
	r.do(200, "GET", "/namespaces/ns", "", key)

	// Brokers.
	r.do(200, "POST", "/namespaces/ns/brokers", `{"name": "b", "authType": "TOKEN", "description": "a broker", "expiration": 86400, "on_publish": {"url": "https://hooks.example.com/p", "filters": ["a/#"], "timeout": 5, "on_failure": "retry", "mode": "transform"}}`, key)
	r.do(200, "POST", "/namespaces/ns/brokers", `{"name": "plain", "auth_type": "TOKEN"}`, key)
	r.do(400, "POST", "/namespaces/ns/brokers", `{"name": "-bad-"}`, key)
	r.do(413, "POST", "/namespaces/ns/brokers", big, key)
	r.do(200, "GET", "/namespaces/ns/brokers", "", key)
	r.do(400, "GET", "/namespaces/ns/brokers?page=0", "", key)
	brokerB := r.do(200, "GET", "/namespaces/ns/brokers/b", "", key)
	r.do(200, "GET", "/namespaces/ns/brokers/plain", "", key) // expiration and on_publish null
	r.do(200, "PATCH", "/namespaces/ns/brokers/b", `{"description": "changed", "expiration": null}`, key)
	r.do(200, "PATCH", "/namespaces/ns/brokers/plain", `{"on_publish": {"url": null}}`, key)
	r.do(400, "PATCH", "/namespaces/ns/brokers/b", `{"expiration": "soon"}`, key)
	r.do(413, "PATCH", "/namespaces/ns/brokers/b", big, key)

	// Credentials.
	bp := "/namespaces/ns/brokers/b"
	r.do(200, "GET", bp+"/credentials?number=2&type=TOKEN&topicAcl=%23", "", key)
	r.do(200, "GET", bp+"/credentials?"+url.Values{"clientid": {"dev-a", "dev-b"}, "number": {"1"}, "publishAcl": {"up/#"}, "subscribeAcl": {"down/+"}, "expiration": {"3600"}}.Encode(), "", key)
	r.do(200, "POST", bp+"/credentials?number=1", "", bearer)
	r.do(400, "GET", bp+"/credentials?number=0", "", key)
	r.do(400, "POST", bp+"/credentials?topicAcl="+url.QueryEscape("a/#/b"), "", key)
	jtis := a.jtis(t, bp, "", 2)
	r.do(200, "GET", bp+"/credentials/list?per_page=5", "", key)
	r.do(400, "GET", bp+"/credentials/list?page=x", "", key)
	r.do(200, "GET", bp+"/credentials/"+jtis[0], "", key)
	r.do(404, "GET", bp+"/credentials/01ARZ3NDEKTSV4RRFFQ69G5FAV", "", key)

	// Keys.
	keys := r.do(200, "GET", bp+"/publickeys", "", key)
	r.do(200, "POST", bp+"/publickeys/rotate", "", key)
	set, _ := a.keySet(t, bp)
	current := jsonField(t, keys.respBody, "result", "keys", "0", "kid") // the old current key, now retired
	next := jsonField(t, keys.respBody, "result", "keys", "1", "kid")    // the old next key, now current
	if _, ok := set[current]; !ok {
		t.Fatalf("the retired key %s is gone from %v", current, set)
	}
	r.do(400, "DELETE", bp+"/publickeys/"+next, "", key) // in use
	r.do(200, "DELETE", bp+"/publickeys/"+current, "", key)
	r.do(404, "DELETE", bp+"/publickeys/"+current, "", key)

	// The on-publish hook test, against a local receiver that drops all.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "[]") }))
	t.Cleanup(hook.Close)
	a.srvAPI.AllowHTTPHooks(true)
	r.do(200, "POST", "/namespaces/ns/brokers", `{"name": "hooked", "on_publish": {"url": "`+hook.URL+`"}}`, key)
	r.do(200, "POST", "/namespaces/ns/brokers/hooked/on_publish/test", "", key)
	r.do(400, "POST", "/namespaces/ns/brokers/plain/on_publish/test", "", key)

	// Keys of self-signed tokens; a broker holds at most MaxHMACKeys.
	r.do(200, "GET", bp+"/signingkeys", "", key)
	hk := r.do(200, "POST", bp+"/signingkeys", "", key)
	hkID := jsonField(t, hk.respBody, "result", "id")
	r.do(200, "DELETE", bp+"/signingkeys/"+hkID, "", key)
	r.do(404, "DELETE", bp+"/signingkeys/"+hkID, "", key)
	r.do(200, "POST", "/namespaces/ns/brokers", `{"name": "keys"}`, key)
	for range controlplane.MaxHMACKeys - 1 {
		if _, _, err := a.svc.CreateHMACKey(context.Background(), a.acct.Account.ID, "ns", "keys"); err != nil {
			t.Fatal(err)
		}
	}
	r.do(200, "POST", "/namespaces/ns/brokers/keys/signingkeys", "", key)
	r.do(400, "POST", "/namespaces/ns/brokers/keys/signingkeys", "", key)
	nodeKeys := http.Header{"Authorization": {"Bearer " + nodeToken}}
	forB := `{"broker_id": "` + jsonField(t, brokerB.respBody, "result", "id") + `"`
	r.do(200, "POST", "/node/v1/signingkeys", forB+`, "api_token": "`+a.acct.APIToken+`"}`, nodeKeys)
	r.do(200, "POST", "/node/v1/signingkeys", forB+`, "email": "`+a.acct.Account.Email+`", "api_key": "`+a.acct.APIKey+`"}`, nodeKeys)
	r.do(400, "POST", "/node/v1/signingkeys", forB, nodeKeys)
	r.do(403, "POST", "/node/v1/signingkeys", forB+`}`, nodeKeys)
	r.do(403, "POST", "/node/v1/signingkeys", forB+`, "api_token": "`+a.acct.APIToken+`"}`, http.Header{"Authorization": {"Bearer not-a-node-token"}})
	r.do(404, "POST", "/node/v1/signingkeys", `{"broker_id": "00000000000000000000000000000000", "api_token": "`+a.acct.APIToken+`"}`, nodeKeys)

	// Revocations.
	r.do(200, "POST", bp+"/revocations?jti="+jtis[0]+","+jtis[1], "", key)
	r.do(400, "POST", bp+"/revocations", "", key)
	r.do(404, "POST", bp+"/revocations?jti=01ARZ3NDEKTSV4RRFFQ69G5FAV", "", key)
	r.do(200, "GET", bp+"/revocations?page=1&per_page=10", "", key)
	r.do(400, "GET", bp+"/revocations?per_page=1000", "", key)
	r.do(200, "DELETE", bp+"/revocations?jti="+jtis[1], "", key)
	r.do(400, "DELETE", bp+"/revocations?jti=", "", key)
	r.do(404, "DELETE", bp+"/revocations?jti=nope", "", key)

	// Connected clients and counters, as a node reports them (client_test.go).
	brokerID := jsonField(t, brokerB.respBody, "result", "id")
	report := `{"time": "2026-12-07T10:00:00Z", "interval_ms": 2000, "clients": [{"broker_id": "` + brokerID + `", "client_id": "dev-1", "jti": "j1", "transport": "mqtts", "remote_addr": "10.0.0.1:5000", "connected_at": "2026-12-07T09:59:00Z", "subscriptions": ["a/#"], "subscribed": 1, "inflight": 0}], "brokers": [{"broker_id": "` + brokerID + `", "connections": 1, "messages_in": 5, "messages_out": 7, "dropped": 0, "refused": 0, "denied": 0}]}`
	r.do(200, "POST", clients.Path, report, nodeKeys)
	r.do(200, "POST", clients.Path, report, nodeKeys)
	r.do(400, "POST", clients.Path, `{"time": "2026-12-07T10:00:00Z", "interval_ms": 0, "clients": []}`, nodeKeys)
	r.do(403, "POST", clients.Path, report, http.Header{"Authorization": {"Bearer not-a-node-token"}})
	r.do(413, "POST", clients.Path, `{"pad": "`+strings.Repeat("x", clients.MaxReportBytes)+`"}`, nodeKeys)
	r.do(200, "GET", bp+"/clients?search=dev&per_page=10", "", key)
	r.do(400, "GET", bp+"/clients?per_page=0", "", key)
	r.do(200, "GET", bp+"/stats", "", key)
	r.do(200, "POST", bp+"/clients/disconnect", `{"client_id": "dev-1"}`, key)
	r.do(400, "POST", bp+"/clients/disconnect", `{}`, key)
	r.do(404, "POST", bp+"/clients/disconnect", `{"client_id": "gone"}`, key)
	r.do(413, "POST", bp+"/clients/disconnect", big, key)

	// The feed and the health check.
	node := http.Header{"Authorization": {"Bearer " + nodeToken}}
	r.do(200, "GET", feed.Path, "", node)
	r.do(200, "GET", feed.Path+"?after=1", "", node)
	r.do(400, "GET", feed.Path+"?after=x", "", node)
	r.do(403, "GET", feed.Path, "", http.Header{"Authorization": {"Bearer not-a-node-token"}})
	r.do(200, "GET", "/healthz", "", nil)
	r.do(200, "GET", cphttp.MetricsPath, "", nil)
	r.do(200, "GET", cphttp.MetricsPath, "", http.Header{"Accept": {"application/openmetrics-text"}})

	// Every call above that succeeded, again: without credentials (403),
	// and on an unknown namespace or broker (404).
	for _, ex := range append([]*exchange(nil), r.log...) {
		if ex.status != 200 || !strings.HasPrefix(ex.path, cphttp.APIPrefix) {
			continue
		}
		body := ex.body
		r.do(403, ex.method, ex.path, body, nil)
		switch {
		case strings.Contains(ex.path, "/brokers/b"):
			r.do(404, ex.method, strings.Replace(ex.path, "/brokers/b", "/brokers/nope", 1), body, key)
		case strings.Contains(ex.path, "/namespaces/ns"):
			r.do(404, ex.method, strings.Replace(ex.path, "/namespaces/ns", "/namespaces/nope", 1), body, key)
		}
	}

	// Deletes last.
	r.do(400, "DELETE", "/namespaces/ns", "", key) // it has brokers
	r.do(200, "DELETE", "/namespaces/ns/brokers/plain", "", key)
	r.do(200, "DELETE", "/namespaces/empty", "", key)
	r.do(404, "DELETE", "/namespaces/empty", "", key)
	r.do(404, "DELETE", "/namespaces/ns/brokers/plain", "", key)
	r.do(403, "DELETE", "/namespaces/ns/brokers/b", "", nil)
	r.do(403, "DELETE", "/namespaces/ns", "", nil)
	return r.log
}

// jsonField digs one string out of a JSON document.
func jsonField(t *testing.T, raw []byte, path ...string) string {
	t.Helper()
	v, err := decodeAny(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(x) {
				t.Fatalf("%s: no element %s in %s", strings.Join(path, "."), p, raw)
			}
			v = x[i]
		}
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s is not a string in %s", strings.Join(path, "."), raw)
	}
	return s
}

func decodeAny(raw []byte) (any, error) {
	return openapi3filter.JSONBodyDecoder(bytes.NewReader(raw), nil, nil, nil)
}

// TestOpenAPIResponses records real answers of every route of the API,
// successes and refusals, and checks each against openapi.yaml with
// kin-openapi's openapi3filter. Every status that the document lists for
// an operation must have been seen, except 500.
func TestOpenAPIResponses(t *testing.T) {
	c := newSpecChecker(t, readSpec(t))
	log := recordEveryRoute(t)
	for _, ex := range log {
		if err := c.check(ex); err != nil {
			t.Errorf("%s %s -> %d: %v\nbody: %.600s", ex.method, ex.path, ex.status, err, ex.respBody)
		}
	}
	var missing []string
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				code, _ := strconv.Atoi(status)
				if code == http.StatusInternalServerError {
					continue
				}
				if !c.covered[op.OperationID][code] {
					missing = append(missing, fmt.Sprintf("%s %s (%s) %s", method, path, op.OperationID, status))
				}
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no recorded answer for %s", m)
	}
	t.Logf("%d exchanges checked", len(log))
}

// TestOpenAPIResponseCheckBites changes the document so that real answers
// no longer match it, and checks that the response check notices: a
// required field the API does not send, a field the API sends that the
// document does not know, a status it does not list, and a wrong type.
func TestOpenAPIResponseCheckBites(t *testing.T) {
	good := string(readSpec(t))
	log := recordEveryRoute(t)
	tests := []struct {
		name, old, new, want string
	}{
		{"MissingRequiredField",
			"required: [id, name, description, created_on, modified_on]",
			"required: [id, name, description, created_on, modified_on, owner]",
			`property "owner" is missing`},
		{"UndocumentedField",
			"        endpoint: { type: string, example:",
			"        endpointz: { type: string, example:",
			`property "endpoint" is unsupported`},
		{"UndocumentedStatus",
			`        "413": { $ref: "#/components/responses/TooLarge" }
  /accounts/{account_id}/pubsub/namespaces/{namespace}:`,
			`  /accounts/{account_id}/pubsub/namespaces/{namespace}:`,
			"status is not supported"},
		{"WrongType",
			"total_count: { type: integer, minimum: 0 }",
			"total_count: { type: string }",
			`value must be a string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(good, tc.old) != 1 {
				t.Fatalf("the document has %d copies of %q; fix the test case", strings.Count(good, tc.old), tc.old)
			}
			c := newSpecChecker(t, []byte(strings.Replace(good, tc.old, tc.new, 1)))
			var errs []string
			for _, ex := range log {
				if err := c.check(ex); err != nil {
					errs = append(errs, err.Error())
				}
			}
			if len(errs) == 0 {
				t.Fatal("every recorded answer still matches the changed document")
			}
			if all := strings.Join(errs, "\n"); !strings.Contains(all, tc.want) {
				t.Fatalf("no error mentions %q:\n%.2000s", tc.want, all)
			}
		})
	}
}
