package http_test

import (
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"gopkg.in/yaml.v3"

	"github.com/openpubsub/pubsub/controlplane"
	cphttp "github.com/openpubsub/pubsub/controlplane/http"
	"github.com/openpubsub/pubsub/internal/testenv"
)

// openAPIDoc is the part of openapi.yaml this test reads.
type openAPIDoc struct {
	Paths map[string]map[string]yaml.Node `yaml:"paths"`
}

var chiParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// TestOpenAPIMatchesRouter fails when a route exists in the router and not
// in openapi/openapi.yaml, or the other way round, or when a path parameter
// is not declared.
func TestOpenAPIMatchesRouter(t *testing.T) {
	raw, err := os.ReadFile("../../openapi/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	spec := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if method == "parameters" || method == "servers" {
				continue
			}
			full := cphttp.APIPrefix + path
			if !strings.HasPrefix(path, "/accounts/") {
				full = path // served at the root, as the path's own servers entry says
			}
			spec[strings.ToUpper(method)+" "+full] = true
			declared := map[string]bool{}
			collectParams(item["parameters"], declared)
			var opParams yaml.Node
			for i := 0; i+1 < len(op.Content); i += 2 {
				if op.Content[i].Value == "parameters" {
					opParams = *op.Content[i+1]
				}
			}
			collectParams(opParams, declared)
			for _, m := range chiParam.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s %s: path parameter %q is not declared", method, path, m[1])
				}
			}
		}
	}

	st := testenv.OpenStore(t, "sqlite")
	svc, err := controlplane.NewService(st, controlplane.Config{Domain: testDomain, KEK: testenv.KEK}, nil)
	if err != nil {
		t.Fatal(err)
	}
	router := map[string]bool{}
	err = chi.Walk(cphttp.NewServer(svc, nil).Routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		router[method+" "+strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "/")] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sortedKeys(router) {
		if !spec[r] {
			t.Errorf("route %s is served but missing from openapi.yaml", r)
		}
	}
	for _, r := range sortedKeys(spec) {
		if !router[r] {
			t.Errorf("openapi.yaml documents %s, which the router does not serve", r)
		}
	}
	if len(router) < 15 {
		t.Fatalf("walked only %d routes", len(router))
	}
}

// collectParams records the names of a parameters list, resolving the
// #/components/parameters references by their conventional names.
func collectParams(n yaml.Node, into map[string]bool) {
	refs := map[string]string{"AccountID": "account_id", "Namespace": "namespace", "Broker": "broker"}
	for _, p := range n.Content {
		for i := 0; i+1 < len(p.Content); i += 2 {
			switch p.Content[i].Value {
			case "name":
				into[p.Content[i+1].Value] = true
			case "$ref":
				ref := p.Content[i+1].Value
				into[refs[ref[strings.LastIndex(ref, "/")+1:]]] = true
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
