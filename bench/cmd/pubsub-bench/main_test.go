package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(path, []byte("# Benchmarks\n\nEarlier figures.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"first run\n", "second run\n"} {
		if err := replaceSection(path, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := os.ReadFile(path)
	doc := string(raw)
	if !strings.HasPrefix(doc, "# Benchmarks\n\nEarlier figures.\n") {
		t.Errorf("the document's own text changed:\n%s", doc)
	}
	if strings.Contains(doc, "first run") || strings.Count(doc, "second run") != 1 || strings.Count(doc, beginMarker) != 1 {
		t.Errorf("the generated section was not replaced once:\n%s", doc)
	}
}

func TestSplit(t *testing.T) {
	if got := split(" a, b,,c "); strings.Join(got, "|") != "a|b|c" {
		t.Errorf("split = %q", got)
	}
}

// Each scenario is a command of its own, and list names them with their
// parameters.
func TestScenarioCommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"list"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"full profile:", "fan-out-10000", "1 pub → 1000 sub, QoS 0", "revocation-2-nodes", "200 revocations, 2 node(s)",
		"fan-out-1            1 pub → 1 sub, QoS 0; latency at common rates"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out.String())
		}
	}

	// Bad input is refused before anything starts.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fan-out-1000", "-brokers", "pubsub,nats"}, `unknown broker "nats"`},
		{[]string{"fan-out-10000", "-profile", "short"}, `scenario "fan-out-10000" is not in the short profile: add -profile full`},
		{[]string{"suite", "-scenarios", "fan-out-7"}, `unknown scenario "fan-out-7"; the short profile has fan-out-1000, pairs-100`},
		{[]string{"suite", "-profile", "long"}, `unknown profile "long"`},
		{[]string{"fan-out-7"}, `unknown command "fan-out-7"`},
		{[]string{"pairs-100", "-common-rates", "0.1,ten"}, `-common-rates: "ten" is not a number`},
		{[]string{"pairs-100", "-common-rates", "0.1,2"}, "common rate 2: want a fraction of Mosquitto's max rate"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), append(tc.args, "-out", t.TempDir()), &out, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
