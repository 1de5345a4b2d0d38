package main

import (
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
