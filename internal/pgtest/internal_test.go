package pgtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestFindBinaries(t *testing.T) {
	lib := t.TempDir()
	for _, bin := range []string{"9.6/bin/initdb", "9.6/bin/postgres", "16/bin/initdb", "16/bin/postgres", "17/bin/initdb"} {
		path := filepath.Join(lib, bin)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	defer func(g string) { libGlob = g }(libGlob)
	t.Setenv("PATH", t.TempDir())

	libGlob = filepath.Join(lib, "*", "bin")
	initdb, postgres, err := findBinaries()
	if err != nil {
		t.Fatal(err)
	}
	// 17 lacks postgres: the highest complete version wins.
	if got, want := initdb, filepath.Join(lib, "16/bin/initdb"); got != want {
		t.Errorf("initdb = %q, want %q", got, want)
	}
	if got, want := postgres, filepath.Join(lib, "16/bin/postgres"); got != want {
		t.Errorf("postgres = %q, want %q", got, want)
	}

	libGlob = filepath.Join(t.TempDir(), "*", "bin")
	if _, _, err := findBinaries(); !errors.Is(err, errNoBinaries) {
		t.Fatalf("findBinaries without Postgres = %v, want %v", err, errNoBinaries)
	}

	// PATH comes first.
	t.Setenv("PATH", filepath.Join(lib, "9.6/bin"))
	libGlob = filepath.Join(lib, "*", "bin")
	if initdb, _, _ := findBinaries(); initdb != filepath.Join(lib, "9.6/bin/initdb") {
		t.Errorf("initdb = %q, want the one on PATH", initdb)
	}
}

func TestVersionOf(t *testing.T) {
	tests := []struct {
		dir  string
		want int
	}{
		{"/usr/lib/postgresql/9.6/bin", 9006},
		{"/usr/lib/postgresql/16/bin", 16000},
		{"/usr/lib/postgresql/x/bin", 0},
	}
	for _, tt := range tests {
		if got := versionOf(tt.dir); got != tt.want {
			t.Errorf("versionOf(%q) = %d, want %d", tt.dir, got, tt.want)
		}
	}
}

// recorder is a testing.TB that records how unavailable ended the test.
type recorder struct {
	testing.TB
	outcome string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Skipf(f string, a ...any)  { r.outcome = "skip: " + fmt.Sprintf(f, a...) }
func (r *recorder) Fatalf(f string, a ...any) { r.outcome = "fail: " + fmt.Sprintf(f, a...) }

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name string
		ci   string
		err  error
		want string
	}{
		{"NoBinariesSkips", "", errNoBinaries, "skip: pgtest: " + errNoBinaries.Error()},
		{"NoBinariesFailsUnderCI", "true", errNoBinaries, "fail: pgtest: " + errNoBinaries.Error()},
		{"OtherErrorFails", "", errors.New("initdb: boom"), "fail: pgtest: initdb: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{}
			unavailable(r, tt.err)
			if got := r.outcome; got != tt.want {
				t.Fatalf("outcome = %q, want %q", got, tt.want)
			}
		})
	}
}
