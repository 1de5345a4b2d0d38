package topic

import (
	"math/bits"
	"slices"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, name string
		want         bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a", "a/b", false},
		{"a/b", "a", false},
		{"a/b", "a/b", true},
		{"a/b", "A/b", false},
		{"/a", "a", false},
		{"/a", "/a", true},
		{"a/", "a", false},
		{"a/", "a/", true},
		{"+", "a", true},
		{"+", "a/b", false},
		{"+", "/", false},
		{"+/+", "/", true},
		{"+/b", "/b", true},
		{"a/+", "a/", true},
		{"a/+", "a", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/+/c", "a/b/c/d", false},
		{"#", "a", true},
		{"#", "a/b/c", true},
		{"#", "/", true},
		{"a/#", "a", true},
		{"a/#", "a/", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"a/#", "b/a", false},
		{"a/b/#", "a", false},
		{"+/#", "a", true},
		{"+/+/#", "a", false},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"+", "$SYS", false},
		{"$SYS/#", "$SYS/x", true},
		{"$SYS/#", "$SYS", true},
		{"$SYS/+", "$SYS/x", true},
		{"a/#", "a/$x", true},
		{"a/+", "a/$x", true},
		{"#", "", false},
		{"", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter+"|"+tt.name, func(t *testing.T) {
			if got, want := Match(tt.filter, tt.name), tt.want; got != want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.name, got, want)
			}
			if tt.name != "" && tt.filter != "" {
				if got, want := refMatch(tt.filter, tt.name), tt.want; got != want {
					t.Errorf("refMatch(%q, %q) = %v, want %v (the reference is wrong)", tt.filter, tt.name, got, want)
				}
			}
		})
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		allowed, filter string
		want            bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a/#", "a/+/c", true},
		{"a/#", "a/#", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c/d", true},
		{"a/#", "#", false},
		{"a/#", "+", false},
		{"a/+", "a/#", false},
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/+", "a", false},
		{"a/+/#", "a/#", false},
		{"a/+/#", "a/+", true},
		{"+/b", "x/b", true},
		{"+/b", "+/b", true},
		{"+/b", "+/#", false},
		{"+/b", "x/+", false},
		{"x/b", "+/b", false},
		{"+", "a/b", false},
		{"+/+", "+", false},
		{"#", "a", true},
		{"#", "a/b/c", true},
		{"#", "+/+/#", true},
		{"#", "#", true},
		{"#", "/", true},
		{"#", "$SYS", false},
		{"#", "$SYS/#", false},
		{"#", "$SYS/x", false},
		{"+/#", "$SYS/x", false},
		{"+/#", "#", true},
		{"#", "+/#", true},
		{"+/+/#", "#", false},
		{"+", "#", false},
		{"$SYS/#", "#", false},
		{"$SYS/#", "$SYS/+", true},
		{"$SYS/#", "$SYS", true},
		{"$SYS/+", "$SYS/#", false},
		{"a/$x", "a/+", false},
		{"a/+", "a/$x", true},
		{"a/#", "a/$x/#", true},
		{"a/b", "a/b/#", false},
		{"a/b/#", "a/b", true},
		{"/+/#", "/#", true},
		{"+/+/#", "/#", true},
		{"/+/#", "+/#", false},
		{"a//#", "a/+/x", false},
		{"a//#", "a//x", true},
		{"", "a", false},
		{"a", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.allowed+"|"+tt.filter, func(t *testing.T) {
			if got, want := Covers(tt.allowed, tt.filter), tt.want; got != want {
				t.Errorf("Covers(%q, %q) = %v, want %v", tt.allowed, tt.filter, got, want)
			}
			if tt.allowed != "" && tt.filter != "" {
				if got, want := refCovers(tt.allowed, tt.filter), tt.want; got != want {
					t.Errorf("refCovers(%q, %q) = %v, want %v (the reference is wrong)", tt.allowed, tt.filter, got, want)
				}
			}
		})
	}
}

// TestCoversBruteForce checks Covers against its definition, using nothing
// but Match: over a universe of names deep enough, and with a level value
// ("c") that no filter names, allowed covers filter exactly when the names
// filter matches are a subset of those allowed matches.
func TestCoversBruteForce(t *testing.T) {
	tests := []struct {
		name                     string
		filterLevels, nameLevels []string
		depth                    int // of filters, before an optional '#'
	}{
		{"Wide", []string{"a", "b", "$x", "", "+"}, []string{"a", "b", "c", "$x", ""}, 3},
		{"Deep", []string{"a", "$x", "", "+"}, []string{"a", "c", "$x", ""}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCoversUniverse(t, tt.filterLevels, tt.nameLevels, tt.depth)
		})
	}
}

func checkCoversUniverse(t *testing.T, filterLevels, nameLevels []string, depth int) {
	t.Helper()
	var filters []string
	for _, seq := range sequences(filterLevels, 0, depth) {
		if f := strings.Join(seq, "/"); f != "" {
			filters = append(filters, f)
		}
		filters = append(filters, strings.Join(append(seq, "#"), "/"))
	}
	var names []string
	// Names two levels deeper than the deepest filter tell "exactly this
	// deep" from "deeper" for every '#'.
	for _, seq := range sequences(nameLevels, 1, depth+2) {
		if n := strings.Join(seq, "/"); n != "" {
			names = append(names, n)
		}
	}
	for _, f := range filters {
		if err := ValidateFilter(f); err != nil {
			t.Fatalf("universe holds an invalid filter: %v", err)
		}
	}

	// One bitset per filter of the names it matches.
	words := (len(names) + 63) / 64
	sets := make([][]uint64, len(filters))
	for i, f := range filters {
		sets[i] = make([]uint64, words)
		for j, n := range names {
			if Match(f, n) {
				sets[i][j/64] |= 1 << (j % 64)
			}
		}
	}

	covering := 0
	for i, a := range filters {
		for j, f := range filters {
			want := true
			for w := range words {
				if sets[j][w]&^sets[i][w] != 0 {
					want = false
					break
				}
			}
			if got := Covers(a, f); got != want {
				t.Errorf("Covers(%q, %q) = %v, want %v", a, f, got, want)
			}
			if want {
				covering++
			}
		}
	}
	// Guard against a vacuous universe.
	if got := bits.OnesCount64(sets[slices.Index(filters, "#")][0]); got == 0 {
		t.Fatal("\"#\" matches no name of the universe")
	}
	t.Logf("%d filters, %d names, %d of %d pairs covering", len(filters), len(names), covering, len(filters)*len(filters))
}

// sequences returns every sequence of between min and max elements of alphabet.
func sequences(alphabet []string, min, max int) [][]string {
	var out [][]string
	var rec func(prefix []string)
	rec = func(prefix []string) {
		if len(prefix) >= min {
			out = append(out, slices.Clone(prefix))
		}
		if len(prefix) == max {
			return
		}
		for _, l := range alphabet {
			rec(append(prefix, l))
		}
	}
	rec(nil)
	return out
}

// refMatch is a deliberately naive Match, written from the specification
// text, for differential tests.
func refMatch(filter, name string) bool {
	f, n := strings.Split(filter, "/"), strings.Split(name, "/")
	if strings.HasPrefix(name, "$") && (f[0] == "+" || f[0] == "#") {
		return false
	}
	var rec func(i, j int) bool
	rec = func(i, j int) bool {
		switch {
		case i == len(f):
			return j == len(n)
		case f[i] == "#":
			return true
		case j == len(n):
			return false
		case f[i] == "+" || f[i] == n[j]:
			return rec(i+1, j+1)
		}
		return false
	}
	return rec(0, 0)
}

// refCovers decides Covers by looking for a counterexample among witnesses.
func refCovers(allowed, filter string) bool {
	for _, w := range witnesses(allowed, filter) {
		if refMatch(filter, w) && !refMatch(allowed, w) {
			return false
		}
	}
	return true
}

// witnesses returns names that filter matches and that include a
// counterexample to Covers(allowed, filter) whenever there is one. A level
// value that allowed never names is the hardest for allowed to match, so '+'
// becomes that value, and '#' becomes every count of such levels up to one
// more than allowed has, past which allowed's answer no longer changes.
func witnesses(allowed, filter string) []string {
	al := strings.Split(allowed, "/")
	fresh := "z"
	for slices.Contains(al, fresh) {
		fresh += "z"
	}
	var base []string
	hash := false
	for _, l := range strings.Split(filter, "/") {
		switch l {
		case "+":
			base = append(base, fresh)
		case "#":
			hash = true
		default:
			base = append(base, l)
		}
	}
	if !hash {
		return []string{strings.Join(base, "/")}
	}
	var out []string
	for m := 0; m <= len(al)+1; m++ {
		levels := slices.Clone(base)
		for range m {
			levels = append(levels, fresh)
		}
		if w := strings.Join(levels, "/"); w != "" {
			out = append(out, w)
		}
	}
	return out
}
