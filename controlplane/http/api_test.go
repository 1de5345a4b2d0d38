package http_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/testenv"
)

type namespaceResult struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	CreatedOn   string `json:"created_on"`
	ModifiedOn  string `json:"modified_on"`
}

type brokerResult struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	AuthType    string `json:"authType"`
	Description string `json:"description"`
	CreatedOn   string `json:"created_on"`
	ModifiedOn  string `json:"modified_on"`
	Expiration  *int64 `json:"expiration"`
	Endpoint    string `json:"endpoint"`
	OnPublish   *struct {
		URL string `json:"url"`
	} `json:"on_publish"`
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestGuide follows steps 3 and 4 of the Cloudflare guide with the bodies it uses.
func TestGuide(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		var ns namespaceResult
		a.do("POST", "/namespaces", `{"name": "my-namespace" }`).ok(t, &ns)
		if !hex32.MatchString(ns.ID) || ns.Name != "my-namespace" || ns.Description != "" {
			t.Fatalf("namespace: %+v", ns)
		}
		if parseTime(t, ns.CreatedOn) != parseTime(t, ns.ModifiedOn) {
			t.Fatalf("created_on %s != modified_on %s", ns.CreatedOn, ns.ModifiedOn)
		}

		var b brokerResult
		a.do("POST", "/namespaces/my-namespace/brokers", `{"name": "example-broker", "authType": "TOKEN" }`).ok(t, &b)
		if !hex32.MatchString(b.ID) || b.Name != "example-broker" || b.AuthType != "TOKEN" || b.Expiration != nil || b.OnPublish != nil {
			t.Fatalf("broker: %+v", b)
		}
		if got, want := b.Endpoint, "mqtts://example-broker.my-namespace.pubsub.test:8883"; got != want {
			t.Fatalf("endpoint: got %q, want %q", got, want)
		}
		parseTime(t, b.CreatedOn)

		var got brokerResult
		a.do("GET", "/namespaces/my-namespace/brokers/example-broker", "").ok(t, &got)
		if got != b {
			t.Fatalf("get broker: got %+v, want %+v", got, b)
		}
	})
}

func TestNamespaces(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		for _, name := range []string{"Alpha", "beta-1", "9gamma"} {
			a.do("POST", "/namespaces", `{"name": "`+name+`", "description": "ns `+name+`"}`).ok(t, nil)
		}
		var ns namespaceResult
		a.do("GET", "/namespaces/ALPHA", "").ok(t, &ns)
		if ns.Name != "alpha" || ns.Description != "ns Alpha" {
			t.Fatalf("names are case-insensitive and stored lowercase: %+v", ns)
		}

		var page []namespaceResult
		r := a.do("GET", "/namespaces?per_page=2", "")
		r.ok(t, &page)
		if len(page) != 2 || page[0].Name != "alpha" || page[1].Name != "beta-1" {
			t.Fatalf("page 1: %+v", page)
		}
		if ri := r.ResultInfo; ri == nil || ri.Page != 1 || ri.PerPage != 2 || ri.Count != 2 || ri.TotalCount != 3 {
			t.Fatalf("result_info: %+v", ri)
		}
		r = a.do("GET", "/namespaces?per_page=2&page=2", "")
		r.ok(t, &page)
		if len(page) != 1 || page[0].Name != "9gamma" || r.ResultInfo.Count != 1 || r.ResultInfo.TotalCount != 3 {
			t.Fatalf("page 2: %+v %+v", page, r.ResultInfo)
		}

		a.do("DELETE", "/namespaces/beta-1", "").ok(t, nil)
		a.do("GET", "/namespaces/beta-1", "").fails(t, 404, 10020, `namespace "beta-1" not found`)
		// A deleted name is free again.
		a.do("POST", "/namespaces", `{"name": "beta-1"}`).ok(t, nil)
	})
}

func TestBrokers(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)

		var b brokerResult
		a.do("POST", "/namespaces/ns/brokers", `{"name": "Full", "auth_type": "TOKEN", "description": "d", "expiration": 3600, "on_publish": {"url": "https://hook.example.com/x"}}`).ok(t, &b)
		if b.Name != "full" || b.AuthType != "TOKEN" || b.Description != "d" || b.Expiration == nil || *b.Expiration != 3600 || b.OnPublish == nil || b.OnPublish.URL != "https://hook.example.com/x" {
			t.Fatalf("create: %+v", b)
		}

		var p brokerResult
		a.do("PATCH", "/namespaces/ns/brokers/full", `{"description": "new", "expiration": 7200000000000}`).ok(t, &p)
		if p.Description != "new" || p.Expiration == nil || *p.Expiration != 7200 || p.OnPublish == nil {
			t.Fatalf("patch (expiration in nanoseconds is read as 7200 s): %+v", p)
		}
		if !parseTime(t, p.ModifiedOn).After(parseTime(t, b.ModifiedOn)) || p.CreatedOn != b.CreatedOn {
			t.Fatalf("modified_on must move and created_on stay: %+v vs %+v", p, b)
		}
		a.do("PATCH", "/namespaces/ns/brokers/full", `{"on_publish": {"url": null}, "expiration": null}`).ok(t, &p)
		if p.OnPublish != nil || p.Expiration != nil || p.Description != "new" {
			t.Fatalf("patch clearing on_publish and expiration: %+v", p)
		}

		for _, n := range []string{"b2", "b3"} {
			a.do("POST", "/namespaces/ns/brokers", `{"name": "`+n+`"}`).ok(t, nil)
		}
		var list []brokerResult
		r := a.do("GET", "/namespaces/ns/brokers?per_page=2&page=2", "")
		r.ok(t, &list)
		if len(list) != 1 || list[0].Name != "b3" || r.ResultInfo.TotalCount != 3 {
			t.Fatalf("list: %+v %+v", list, r.ResultInfo)
		}

		a.do("DELETE", "/namespaces/ns", "").fails(t, 400, 10022, `"b2", "b3", "full"`)
		for _, n := range []string{"full", "b2", "b3"} {
			a.do("DELETE", "/namespaces/ns/brokers/"+n, "").ok(t, nil)
		}
		a.do("GET", "/namespaces/ns/brokers/full", "").fails(t, 404, 10020, `broker "full" not found`)
		a.do("DELETE", "/namespaces/ns", "").ok(t, nil)
	})
}

// TestCrossAccount checks that one account can neither read nor change
// another's resources, and cannot tell whether another account exists.
func TestCrossAccount(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		a.do("POST", "/namespaces", `{"name": "ns-a"}`).ok(t, nil)
		b := *a
		b.acct = a.newAccount("other@example.com")

		for _, path := range []string{"/namespaces", "/namespaces/ns-a", "/namespaces/ns-a/brokers"} {
			r := b.doWith("GET", a.base()+path, "", map[string]string{"X-Auth-Email": b.acct.Account.Email, "X-Auth-Key": b.acct.APIKey})
			r.fails(t, 403, 10002, "do not grant access to account")
		}
		r := b.doWith("DELETE", a.base()+"/namespaces/ns-a", "", map[string]string{"Authorization": "Bearer " + b.acct.APIToken})
		r.fails(t, 403, 10002, "do not grant access to account")
		// The same answer for an account that does not exist.
		ghost := strings.Replace(a.base(), a.acct.Account.ID, strings.Repeat("0", 32), 1)
		r = b.doWith("GET", ghost+"/namespaces", "", map[string]string{"Authorization": "Bearer " + b.acct.APIToken})
		r.fails(t, 403, 10002, "do not grant access to account")

		// B's own view: empty, and B cannot take the name.
		var list []namespaceResult
		b.do("GET", "/namespaces", "").ok(t, &list)
		if len(list) != 0 {
			t.Fatalf("account B sees %+v", list)
		}
		b.do("GET", "/namespaces/ns-a", "").fails(t, 404, 10020, "not found")
		b.do("POST", "/namespaces", `{"name": "NS-A"}`).fails(t, 400, 10021, "already taken")
	})
}

// TestBadInput covers every refusal of the namespace and broker API.
func TestBadInput(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) {
		a := newAPI(t, st)
		other := a.newAccount("someone@example.com")
		a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers", `{"name": "example-broker"}`).ok(t, nil)
		key := map[string]string{"X-Auth-Email": a.acct.Account.Email, "X-Auth-Key": a.acct.APIKey}

		tests := []struct {
			name         string
			method, path string
			body         string
			hdr          map[string]string // nil: the account's key
			status, code int
			msg          string
		}{
			{"NoCredentials", "GET", "/namespaces", "", map[string]string{}, 403, 10000, "Authentication required"},
			{"EmailWithoutKey", "GET", "/namespaces", "", map[string]string{"X-Auth-Email": a.acct.Account.Email}, 403, 10000, "must be sent together"},
			{"WrongKey", "GET", "/namespaces", "", map[string]string{"X-Auth-Email": a.acct.Account.Email, "X-Auth-Key": "nope"}, 403, 10001, "Authentication failed"},
			{"UnknownEmail", "GET", "/namespaces", "", map[string]string{"X-Auth-Email": "x@example.com", "X-Auth-Key": a.acct.APIKey}, 403, 10001, "Authentication failed"},
			{"WrongToken", "GET", "/namespaces", "", map[string]string{"Authorization": "Bearer pst_wrong"}, 403, 10001, "Authentication failed"},
			{"BasicAuth", "GET", "/namespaces", "", map[string]string{"Authorization": "Basic eDp5"}, 403, 10000, "Bearer <API token>"},
			{"OtherAccount", "GET", strings.Replace(a.base(), a.acct.Account.ID, other.Account.ID, 1) + "/namespaces", "", nil, 403, 10002, "do not grant access"},
			{"MalformedJSON", "POST", "/namespaces", `{"name": "x"`, nil, 400, 10010, "malformed JSON"},
			{"BrokenJSON", "POST", "/namespaces", `{"name": x}`, nil, 400, 10010, "malformed JSON at byte"},
			{"TrailingData", "POST", "/namespaces", `{"name": "x"} {}`, nil, 400, 10010, "unexpected data after"},
			{"EmptyBody", "POST", "/namespaces", ``, nil, 400, 10010, "body is empty"},
			{"ArrayBody", "POST", "/namespaces", `["x"]`, nil, 400, 10010, "must be a JSON object"},
			{"UnknownField", "POST", "/namespaces", `{"name": "x", "nmae": "y"}`, nil, 400, 10011, `unknown field "nmae"`},
			{"WrongType", "POST", "/namespaces", `{"name": 5}`, nil, 400, 10012, `field "name" must be a string`},
			{"TooLarge", "POST", "/namespaces", `{"name": "x", "description": "` + strings.Repeat("a", 1<<20) + `"}`, nil, 413, 10014, "larger than 1048576 bytes"},
			{"NameMissing", "POST", "/namespaces", `{"description": "x"}`, nil, 400, 10013, `"name" is required`},
			{"NameEmpty", "POST", "/namespaces", `{"name": ""}`, nil, 400, 10013, "name is required"},
			{"NameUnderscore", "POST", "/namespaces", `{"name": "my_ns"}`, nil, 400, 10013, "use only a-z, 0-9 and '-'"},
			{"NameDot", "POST", "/namespaces", `{"name": "a.b"}`, nil, 400, 10013, "use only a-z, 0-9 and '-'"},
			{"NameLeadingHyphen", "POST", "/namespaces", `{"name": "-ns"}`, nil, 400, 10013, "must not start or end with '-'"},
			{"NameTrailingHyphen", "POST", "/namespaces", `{"name": "ns-"}`, nil, 400, 10013, "must not start or end with '-'"},
			{"NameTooLong", "POST", "/namespaces", `{"name": "` + strings.Repeat("a", 64) + `"}`, nil, 400, 10013, "the limit is 63"},
			{"NameTaken", "POST", "/namespaces", `{"name": "NS"}`, nil, 400, 10021, `namespace name "ns" is already taken`},
			{"DescriptionTooLong", "POST", "/namespaces", `{"name": "d", "description": "` + strings.Repeat("a", 1025) + `"}`, nil, 400, 10012, "the limit is 1024"},
			{"NamespaceNotFound", "GET", "/namespaces/nope", "", nil, 404, 10020, `namespace "nope" not found`},
			{"DeleteUnknownNamespace", "DELETE", "/namespaces/nope", "", nil, 404, 10020, `namespace "nope" not found`},
			{"NamespaceNotEmpty", "DELETE", "/namespaces/ns", "", nil, 400, 10022, `still has brokers ("example-broker")`},
			{"PageZero", "GET", "/namespaces?page=0", "", nil, 400, 10012, "page must be a whole number"},
			{"PerPageTooBig", "GET", "/namespaces?per_page=1000", "", nil, 400, 10012, "per_page must be a whole number from 1 to 100"},
			{"PerPageText", "GET", "/namespaces/ns/brokers?per_page=x", "", nil, 400, 10012, "per_page"},
			{"UnknownRoute", "GET", "/namespaces/ns/widgets", "", nil, 404, 10015, "no route for GET"},
			{"UnknownRouteNoAuth", "GET", a.srv.URL + "/nothing/here", "", map[string]string{}, 404, 10015, "no route"},
			{"WrongMethod", "PUT", "/namespaces", `{}`, nil, 405, 10016, "method PUT is not allowed"},
			{"PatchNamespace", "PATCH", "/namespaces/ns", `{}`, nil, 405, 10016, "method PATCH is not allowed"},
			{"BrokerAuthType", "POST", "/namespaces/ns/brokers", `{"name": "b", "authType": "MTLS"}`, nil, 400, 10030, `authType "MTLS" is not supported; the supported value is "TOKEN"`},
			{"BrokerAuthTypeAlias", "POST", "/namespaces/ns/brokers", `{"name": "b", "auth_type": "MTLS_AND_TOKEN"}`, nil, 400, 10030, "the supported value is \"TOKEN\""},
			{"BrokerAuthTypeConflict", "POST", "/namespaces/ns/brokers", `{"name": "b", "authType": "TOKEN", "auth_type": "MTLS"}`, nil, 400, 10012, "disagree"},
			{"BrokerNameTaken", "POST", "/namespaces/ns/brokers", `{"name": "Example-Broker"}`, nil, 400, 10021, `broker name "example-broker" is already taken in namespace "ns"`},
			{"BrokerBadName", "POST", "/namespaces/ns/brokers", `{"name": "a b"}`, nil, 400, 10013, "broker name"},
			{"BrokerNegativeExpiration", "POST", "/namespaces/ns/brokers", `{"name": "b", "expiration": -5}`, nil, 400, 10012, "expiration must be a positive number"},
			{"BrokerTextExpiration", "POST", "/namespaces/ns/brokers", `{"name": "b", "expiration": "1h"}`, nil, 400, 10012, `field "expiration" must be a number`},
			{"BrokerBadWebhook", "POST", "/namespaces/ns/brokers", `{"name": "b", "on_publish": {"url": "ftp://x"}}`, nil, 400, 10012, "must be an absolute http:// or https:// URL"},
			{"BrokerInUnknownNamespace", "POST", "/namespaces/nope/brokers", `{"name": "b"}`, nil, 404, 10020, `namespace "nope" not found`},
			{"BrokerNotFound", "GET", "/namespaces/ns/brokers/nope", "", nil, 404, 10020, `broker "nope" not found in namespace "ns"`},
			{"ListBrokersUnknownNamespace", "GET", "/namespaces/nope/brokers", "", nil, 404, 10020, `namespace "nope" not found`},
			{"PatchNothing", "PATCH", "/namespaces/ns/brokers/example-broker", `{}`, nil, 400, 10012, "nothing to update"},
			{"PatchName", "PATCH", "/namespaces/ns/brokers/example-broker", `{"name": "x"}`, nil, 400, 10011, `unknown field "name"`},
			{"PatchBadExpiration", "PATCH", "/namespaces/ns/brokers/example-broker", `{"expiration": "soon"}`, nil, 400, 10012, "whole number of seconds or null"},
			{"PatchBadOnPublish", "PATCH", "/namespaces/ns/brokers/example-broker", `{"on_publish": {"uri": "https://x"}}`, nil, 400, 10012, `"on_publish" must be`},
			{"PatchUnknownBroker", "PATCH", "/namespaces/ns/brokers/nope", `{"description": "x"}`, nil, 404, 10020, `broker "nope" not found`},
			{"DeleteUnknownBroker", "DELETE", "/namespaces/ns/brokers/nope", "", nil, 404, 10020, `broker "nope" not found`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				hdr := tc.hdr
				if hdr == nil {
					hdr = key
				}
				r := a.doWith(tc.method, tc.path, tc.body, hdr)
				r.fails(t, tc.status, tc.code, tc.msg)
				if tc.status == http.StatusMethodNotAllowed && r.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("405 content type %q", r.Header.Get("Content-Type"))
				}
			})
		}
	})
}
