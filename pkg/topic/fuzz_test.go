package topic

import (
	"errors"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"a", "a/b", "/", "//", "a/", "/a", "#", "+", "+/#", "a/#", "a/+/c", "/#", "/+/#",
	"$SYS/#", "$SYS/+", "$share/g/a/#", "$share", "$share/", "a/#/b", "a+", "é/+",
	"\x00", "\xff", "a//+//#",
}

func FuzzValidateFilter(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		errF := ValidateFilter(s)
		errN := ValidateName(s)
		for _, err := range []error{errF, errN} {
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Error() == "") {
				t.Fatalf("error %v is not a usable *Error", err)
			}
		}
		if errN == nil && errF != nil && !isShared(s) {
			t.Fatalf("%q is a valid name but not a valid filter: %v", s, errF)
		}
		if errN == nil && !strings.HasPrefix(s, "$share") {
			// A name is a filter without wildcards, matching only itself.
			if !Match(s, s) || !Covers(s, s) {
				t.Fatalf("%q does not match or cover itself", s)
			}
		}
		if errF != nil {
			return
		}
		inner := s
		if _, in, ok := SplitShared(s); ok {
			inner = in
		} else if isShared(s) {
			t.Fatalf("ValidateFilter accepted %q but SplitShared rejects it", s)
		}
		if !Covers(inner, inner) {
			t.Fatalf("Covers(%q, itself) = false", inner)
		}
		if n := len(strings.Split(inner, "/")); Levels(s) != n || CheckLevels(s, true, n) != nil || CheckLevels(s, true, n-1) == nil && n > 1 {
			t.Fatalf("Levels(%q) = %d, want %d", s, Levels(s), n)
		}
		acl, err := NewACL([]string{inner})
		if err != nil {
			t.Fatalf("NewACL(%q): %v", inner, err)
		}
		if !acl.AllowsFilter(s) {
			t.Fatalf("ACL %q does not allow subscribing to %q", inner, s)
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, a := range fuzzSeeds {
		for _, b := range fuzzSeeds[:8] {
			f.Add(a, b)
		}
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		got := Match(filter, name) // must not panic on any input
		if ValidateFilter(filter) != nil || isShared(filter) || ValidateName(name) != nil {
			return
		}
		if want := refMatch(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, want %v", filter, name, got, want)
		}
	})
}

func FuzzCovers(f *testing.F) {
	for i, a := range fuzzSeeds {
		for _, b := range fuzzSeeds[:12] {
			f.Add(a, b, fuzzSeeds[(i+3)%len(fuzzSeeds)])
		}
	}
	f.Fuzz(func(t *testing.T, a, b, name string) {
		got := Covers(a, b) // must not panic on any input
		if validateACLFilter(a) != nil || validateACLFilter(b) != nil {
			return
		}
		if want := refCovers(a, b); got != want {
			t.Fatalf("Covers(%q, %q) = %v, want %v", a, b, got, want)
		}
		if !Covers(a, a) {
			t.Fatalf("Covers(%q, itself) = false", a)
		}
		if got && Covers(b, a) {
			// Mutual cover means equal sets, so every name agrees.
			if ValidateName(name) == nil && Match(a, name) != Match(b, name) {
				t.Fatalf("%q and %q cover each other but disagree on %q", a, b, name)
			}
		}
		if ValidateName(name) == nil && got && Match(b, name) && !Match(a, name) {
			t.Fatalf("Covers(%q, %q) but %q matches only the second", a, b, name)
		}
		// Transitivity through the third argument read as a filter.
		if validateACLFilter(name) == nil && got && Covers(b, name) && !Covers(a, name) {
			t.Fatalf("Covers(%q, %q) and Covers(%q, %q) but not Covers(%q, %q)", a, b, b, name, a, name)
		}
	})
}
