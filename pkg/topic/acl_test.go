package topic

import (
	"errors"
	"slices"
	"testing"
)

func TestNewACL(t *testing.T) {
	tests := []struct {
		name    string
		filters []string
		want    []string // Filters() after compiling
		wantErr error
	}{
		{"Hash", []string{"#"}, []string{"#"}, nil},
		{"HashAbsorbsOthers", []string{"a/b", "#", "+/x"}, []string{"#"}, nil},
		{"HashKeepsDollar", []string{"#", "$SYS/#"}, []string{"#", "$SYS/#"}, nil},
		{"DropsCovered", []string{"a/+", "a/#", "a/b/c"}, []string{"a/#"}, nil},
		{"DropsDuplicates", []string{"a", "b", "a"}, []string{"a", "b"}, nil},
		{"KeepsFirstOfEquivalent", []string{"+/#", "x", "#"}, []string{"#"}, nil},
		{"Empty", []string{}, []string{}, nil},
		{"Nil", nil, []string{}, nil},
		{"ErrInvalid", []string{"a", "a/#/b"}, nil, ErrHashNotLast},
		{"ErrShared", []string{"$share/g/#"}, nil, ErrShareInACL},
		{"ErrEmpty", []string{""}, nil, ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acl, err := NewACL(tt.filters)
			if got, want := err, tt.wantErr; !errors.Is(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("NewACL(%q) error = %v, want %v", tt.filters, got, want)
			}
			if err != nil {
				var e *ACLError
				if !errors.As(err, &e) {
					t.Fatalf("NewACL error is %T, want *ACLError", err)
				}
				return
			}
			if got, want := acl.Filters(), tt.want; !slices.Equal(got, want) {
				t.Errorf("Filters() = %q, want %q", got, want)
			}
		})
	}
}

func TestACL(t *testing.T) {
	tests := []struct {
		name    string
		acl     []string
		topic   string // checked with AllowsTopic when set
		filter  string // checked with AllowsFilter when set
		allowed bool
	}{
		{"HashTopic", []string{"#"}, "a/b", "", true},
		{"HashDollarTopic", []string{"#"}, "$SYS/x", "", false},
		{"HashFilter", []string{"#"}, "", "a/+/#", true},
		{"HashWildcardFilter", []string{"#"}, "", "#", true},
		{"HashDollarFilter", []string{"#"}, "", "$SYS/#", false},
		{"HashAndDollarTopic", []string{"#", "$SYS/#"}, "$SYS/x", "", true},
		{"HashAndDollarFilter", []string{"#", "$SYS/#"}, "", "$SYS/+", true},
		{"PrefixTopic", []string{"devices/+/telemetry"}, "devices/d1/telemetry", "", true},
		{"PrefixOtherTopic", []string{"devices/+/telemetry"}, "devices/d1/config", "", false},
		{"PrefixFilter", []string{"devices/+/telemetry"}, "", "devices/d1/telemetry", true},
		{"PrefixWiderFilter", []string{"devices/+/telemetry"}, "", "devices/#", false},
		{"SecondEntry", []string{"a/#", "b/#"}, "b/c", "", true},
		{"SecondEntryFilter", []string{"a/#", "b/#"}, "", "b/+", true},
		{"SharedFilter", []string{"jobs/#"}, "", "$share/workers/jobs/+", true},
		{"SharedFilterDenied", []string{"jobs/#"}, "", "$share/workers/other", false},
		{"SharedHashDenied", []string{"jobs/#"}, "", "$share/workers/#", false},
		{"SharedMalformed", []string{"#"}, "", "$share/g", false},
		{"EmptyTopic", []string{"#"}, "", "", false},
		{"EmptyACLTopic", []string{}, "a", "", false},
		{"EmptyACLFilter", []string{}, "", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acl, err := NewACL(tt.acl)
			if err != nil {
				t.Fatal(err)
			}
			if tt.filter == "" {
				if got, want := acl.AllowsTopic(tt.topic), tt.allowed; got != want {
					t.Errorf("AllowsTopic(%q) = %v, want %v", tt.topic, got, want)
				}
			}
			if tt.topic == "" {
				if got, want := acl.AllowsFilter(tt.filter), tt.allowed; got != want {
					t.Errorf("AllowsFilter(%q) = %v, want %v", tt.filter, got, want)
				}
			}
		})
	}
}

func TestNilACL(t *testing.T) {
	var acl *ACL
	if got, want := acl.AllowsTopic("a"), false; got != want {
		t.Errorf("nil AllowsTopic = %v, want %v", got, want)
	}
	if got, want := acl.AllowsFilter("a"), false; got != want {
		t.Errorf("nil AllowsFilter = %v, want %v", got, want)
	}
	if got := acl.Filters(); got != nil {
		t.Errorf("nil Filters = %q, want nil", got)
	}
}

// TestACLReductionKeepsAnswers checks that dropping redundant entries never
// changes an answer, against the uncompiled list.
func TestACLReductionKeepsAnswers(t *testing.T) {
	entries := []string{"a/#", "a/+", "a/b", "+/b", "#", "+/#", "$x/#", "$x/+", "/#", "/+/#", "b"}
	probes := []string{"a", "a/b", "a/b/c", "b", "b/b", "$x", "$x/b", "/", "/a", "/a/b", "c/b"}
	for _, size := range []int{1, 2, 3} {
		for _, list := range sequences(entries, size, size) {
			acl, err := NewACL(list)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range probes {
				want := slices.ContainsFunc(list, func(f string) bool { return Match(f, p) })
				if got := acl.AllowsTopic(p); got != want {
					t.Fatalf("ACL %q (compiled %q): AllowsTopic(%q) = %v, want %v", list, acl.Filters(), p, got, want)
				}
				want = slices.ContainsFunc(list, func(f string) bool { return Covers(f, p) })
				if got := acl.AllowsFilter(p); got != want {
					t.Fatalf("ACL %q (compiled %q): AllowsFilter(%q) = %v, want %v", list, acl.Filters(), p, got, want)
				}
			}
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	all, _ := NewACL([]string{"#"})
	narrow, _ := NewACL([]string{"tenants/t1/devices/+/telemetry", "tenants/t1/commands/#", "$SYS/broker/+"})
	tests := []struct {
		name string
		fn   func()
	}{
		{"Match", func() { Match("a/+/c/#", "a/b/c/d/e") }},
		{"Covers", func() { Covers("a/+/#", "a/b/+/d") }},
		{"ValidateFilter", func() { _ = ValidateFilter("$share/g/a/+/c/#") }},
		{"ValidateName", func() { _ = ValidateName("a/b/c/d") }},
		{"AllowsTopicAll", func() { all.AllowsTopic("a/b/c") }},
		{"AllowsFilterAll", func() { all.AllowsFilter("a/+/c") }},
		{"AllowsTopic", func() { narrow.AllowsTopic("tenants/t1/commands/x/y") }},
		{"AllowsTopicDenied", func() { narrow.AllowsTopic("tenants/t2/commands/x/y") }},
		{"AllowsFilter", func() { narrow.AllowsFilter("$share/g/tenants/t1/devices/+/telemetry") }},
		{"AllowsFilterDenied", func() { narrow.AllowsFilter("tenants/t1/#") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := testing.AllocsPerRun(100, tt.fn), 0.0; got != want {
				t.Errorf("allocations = %v, want %v", got, want)
			}
		})
	}
}
