package http_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/controlplane"
	cphttp "github.com/openpubsub/pubsub/controlplane/http"
	"github.com/openpubsub/pubsub/internal/testenv"
)

// specFile is the OpenAPI document of the API, relative to this package.
const specFile = "../../openapi/openapi.yaml"

// loadSpec parses raw as an OpenAPI 3 document with kin-openapi and
// validates it: structure, references, sibling fields (an unquoted comma
// in a YAML flow mapping makes one), regular expressions, defaults and
// examples. On top of that it refuses what Redocly and Spectral refuse and
// kin-openapi lets through: nullable without a type, which OpenAPI 3.0.3
// ignores.
func loadSpec(raw []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if doc.OpenAPI != "3.0.3" {
		return nil, fmt.Errorf("openapi is %q; the document is written for 3.0.3", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableSchemaPatternValidation(), openapi3.EnableExamplesValidation(), openapi3.EnableSchemaDefaultsValidation()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	var errs []error
	eachSchema(doc, func(where string, s *openapi3.Schema) {
		if s.Nullable && len(s.Type.Slice()) == 0 {
			errs = append(errs, fmt.Errorf("%s: nullable without a type (OpenAPI 3.0.3 ignores it)", where))
		}
	})
	return doc, errors.Join(errs...)
}

// eachSchema calls fn on every schema written in doc: components,
// parameters, request bodies and responses, and what they nest.
func eachSchema(doc *openapi3.T, fn func(where string, s *openapi3.Schema)) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, ref *openapi3.SchemaRef)
	walk = func(where string, ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		fn(where, s)
		for name, p := range s.Properties {
			walk(where+"."+name, p)
		}
		walk(where+"[]", s.Items)
		if s.AdditionalProperties.Schema != nil {
			walk(where+"{}", s.AdditionalProperties.Schema)
		}
		for i, group := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for j, sub := range group {
				walk(fmt.Sprintf("%s/%s[%d]", where, [...]string{"allOf", "anyOf", "oneOf"}[i], j), sub)
			}
		}
		walk(where+"/not", s.Not)
	}
	content := func(where string, c openapi3.Content) {
		for mt, m := range c {
			walk(where+" "+mt, m.Schema)
		}
	}
	// In name order, so that a schema reached from several places is
	// reported under the same name every run.
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Schemas)) {
		walk("#/components/schemas/"+name, doc.Components.Schemas[name])
	}
	for name, p := range doc.Components.Parameters {
		walk("#/components/parameters/"+name, p.Value.Schema)
	}
	for name, r := range doc.Components.Responses {
		content("#/components/responses/"+name, r.Value.Content)
	}
	for path, item := range doc.Paths.Map() {
		for _, p := range item.Parameters {
			walk(path+" "+p.Value.Name, p.Value.Schema)
		}
		for method, op := range item.Operations() {
			for _, p := range op.Parameters {
				walk(method+" "+path+" "+p.Value.Name, p.Value.Schema)
			}
			if op.RequestBody != nil {
				content(method+" "+path+" request", op.RequestBody.Value.Content)
			}
			for status, r := range op.Responses.Map() {
				content(method+" "+path+" "+status, r.Value.Content)
			}
		}
	}
}

func readSpec(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestOpenAPIValid loads openapi.yaml with a real OpenAPI 3 library and
// validates it.
func TestOpenAPIValid(t *testing.T) {
	doc, err := loadSpec(readSpec(t))
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if n := len(doc.Paths.Map()); n < 13 {
		t.Fatalf("the document has only %d paths", n)
	}
}

// TestOpenAPIRejectsBrokenSpecs breaks openapi.yaml in the ways that
// validators reject, one at a time, and checks that loadSpec refuses each.
// The first two are the faults the document once had.
func TestOpenAPIRejectsBrokenSpecs(t *testing.T) {
	good := string(readSpec(t))
	tests := []struct {
		name, old, new, want string
	}{
		{"UnquotedComma",
			`x: { type: string, description: "The Ed25519 public key, base64url without padding" }`,
			`x: { type: string, description: The Ed25519 public key, base64url without padding }`,
			"extra sibling fields: [base64url without padding]"},
		{"NullableWithoutType",
			`success: { type: boolean }`,
			`success: { nullable: true }`,
			"#/components/schemas/Envelope.success: nullable without a type"},
		{"DanglingRef",
			`result: { $ref: "#/components/schemas/KeyRotation" }`,
			`result: { $ref: "#/components/schemas/KeyRotations" }`,
			"KeyRotations"},
		{"BadPattern",
			`schema: { type: string, pattern: "^[0-9a-f]{32}$" }`,
			`schema: { type: string, pattern: "^[0-9a-f]{32$(" }`,
			"error parsing regexp"},
		{"ArrayWithoutItems",
			`retired: { type: array, items: { type: string }, description: "Kids that still verify, until deleted" }`,
			`retired: { type: array, description: "Kids that still verify, until deleted" }`,
			"items"},
		{"ExampleOfWrongType",
			`name: { type: string, example: my-namespace }`,
			`name: { type: string, example: 42 }`,
			"example"},
		{"DefaultOutOfRange",
			`schema: { type: integer, minimum: 1, maximum: 100, default: 20 }`,
			`schema: { type: integer, minimum: 1, maximum: 100, default: 200 }`,
			"default"},
		{"ResponseWithoutDescription",
			`description: The control plane and its store answer`,
			`x-note: The control plane and its store answer`,
			"description"},
		{"PathParameterNotDeclared",
			"      - name: kid\n        in: path\n        required: true\n        schema: { type: string }\n",
			"",
			"kid"},
		{"NotOpenAPI3",
			"openapi: 3.0.3",
			"openapi: 2.0",
			"openapi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(good, tc.old) != 1 {
				t.Fatalf("the document has %d copies of %q; fix the test case", strings.Count(good, tc.old), tc.old)
			}
			_, err := loadSpec([]byte(strings.Replace(good, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatal("the broken document passed validation")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

var chiParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// TestOpenAPIMatchesRouter fails when a route exists in the router and not
// in openapi/openapi.yaml, or the other way round, or when a path parameter
// is not declared.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, err := loadSpec(readSpec(t))
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	spec := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			full := cphttp.APIPrefix + path
			if len(item.Servers) > 0 {
				full = path // served at the root, as the path's own servers entry says
			}
			spec[method+" "+full] = true
			declared := map[string]bool{}
			for _, p := range append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...) {
				if p.Value.In == openapi3.ParameterInPath {
					declared[p.Value.Name] = true
				}
			}
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

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
