package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateFilter(t *testing.T) {
	long := strings.Repeat("a", MaxLen)
	tests := []struct {
		name   string
		filter string
		want   error
	}{
		{"Single", "a", nil},
		{"Levels", "a/b/c", nil},
		{"EmptyLevels", "/a//b/", nil},
		{"Slash", "/", nil},
		{"Hash", "#", nil},
		{"HashLast", "a/b/#", nil},
		{"HashAfterEmptyLevel", "/#", nil},
		{"Plus", "+", nil},
		{"PlusLevels", "+/a/+/+", nil},
		{"PlusEmptyNeighbours", "+//+", nil},
		{"PlusThenHash", "+/#", nil},
		{"Dollar", "$SYS/broker/+", nil},
		{"Unicode", "métriques/温度/🌡", nil},
		{"MaxLen", long, nil},
		{"Shared", "$share/g/a/+/#", nil},
		{"SharedHash", "$share/g/#", nil},
		{"NotSharedPrefix", "$shared/a", nil},
		{"ErrEmpty", "", ErrEmpty},
		{"ErrTooLong", long + "a", ErrTooLong},
		{"ErrNUL", "a/\x00", ErrNUL},
		{"ErrInvalidUTF8", "a/\xff", ErrInvalidUTF8},
		{"ErrInvalidUTF8Surrogate", "a/\xed\xa0\x80", ErrInvalidUTF8},
		{"ErrHashNotLast", "a/#/b", ErrHashNotLast},
		{"ErrHashNotLastEmpty", "#/", ErrHashNotLast},
		{"ErrHashNotLevelSuffix", "a/b#", ErrHashNotLevel},
		{"ErrHashNotLevelPrefix", "a/#b", ErrHashNotLevel},
		{"ErrHashTwice", "##", ErrHashNotLevel},
		{"ErrPlusNotLevelSuffix", "a+/b", ErrPlusNotLevel},
		{"ErrPlusNotLevelPrefix", "a/+b", ErrPlusNotLevel},
		{"ErrPlusTwice", "++", ErrPlusNotLevel},
		{"ErrShareBare", "$share", ErrShareGroup},
		{"ErrShareNoGroup", "$share/", ErrShareGroup},
		{"ErrShareEmptyGroup", "$share//a", ErrShareGroup},
		{"ErrShareGroupPlus", "$share/g+/a", ErrShareGroup},
		{"ErrShareGroupHash", "$share/#/a", ErrShareGroup},
		{"ErrShareNoFilter", "$share/g", ErrShareFilter},
		{"ErrShareEmptyFilter", "$share/g/", ErrShareFilter},
		{"ErrShareInnerInvalid", "$share/g/a/#/b", ErrHashNotLast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFilter(tt.filter)
			if got, want := err, tt.want; !errors.Is(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("ValidateFilter(%.40q) = %v, want %v", tt.filter, got, want)
			}
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ValidateFilter(%.40q) error is %T, want *Error", tt.filter, err)
			}
			if got, want := e.Filter, true; got != want {
				t.Errorf("Error.Filter = %v, want %v", got, want)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		want  error
	}{
		{"Single", "a", nil},
		{"Levels", "a/b/c", nil},
		{"EmptyLevels", "/a//", nil},
		{"Dollar", "$SYS/uptime", nil},
		{"SharedLooking", "$share/g/a", nil},
		{"Unicode", "温度/🌡", nil},
		{"ErrEmpty", "", ErrEmpty},
		{"ErrTooLong", strings.Repeat("a", MaxLen+1), ErrTooLong},
		{"ErrNUL", "\x00", ErrNUL},
		{"ErrInvalidUTF8", "\xc3", ErrInvalidUTF8},
		{"ErrWildcardPlus", "a/+", ErrWildcardInName},
		{"ErrWildcardHash", "#", ErrWildcardInName},
		{"ErrWildcardInsideLevel", "a/b#c", ErrWildcardInName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.topic)
			if got, want := err, tt.want; !errors.Is(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("ValidateName(%.40q) = %v, want %v", tt.topic, got, want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"HashNotLast", ValidateFilter("a/#/b"), `topic filter "a/#/b": '#' must be the last level`},
		{"Name", ValidateName("a/+"), `topic name "a/+": wildcards '+' and '#' are only allowed in topic filters, not in topic names`},
		{"Truncated", ValidateName(strings.Repeat("é", 40) + "#"), `topic name "` + strings.Repeat("é", 32) + `"...: wildcards '+' and '#' are only allowed in topic filters, not in topic names`},
		{"ACL", ValidateACL([]string{"a", "$share/g/a"}), `ACL entry 1: topic filter "$share/g/a": an ACL entry cannot be a shared subscription; list the plain filter instead`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("got nil error")
			}
			if got, want := tt.err.Error(), tt.want; got != want {
				t.Errorf("Error() = %s\nwant      %s", got, want)
			}
		})
	}
}

func TestSplitShared(t *testing.T) {
	tests := []struct {
		name, in, group, filter string
		ok                      bool
	}{
		{"OK", "$share/g/a/b", "g", "a/b", true},
		{"OKHash", "$share/workers/#", "workers", "#", true},
		{"NotShared", "a/b", "", "", false},
		{"NoFilter", "$share/g", "", "", false},
		{"EmptyGroup", "$share//a", "", "", false},
		{"EmptyFilter", "$share/g/", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group, filter, ok := SplitShared(tt.in)
			if group != tt.group || filter != tt.filter || ok != tt.ok {
				t.Errorf("SplitShared(%q) = %q, %q, %v; want %q, %q, %v", tt.in, group, filter, ok, tt.group, tt.filter, tt.ok)
			}
		})
	}
}

func TestCheckLevels(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		filter bool
		max    int
		levels int
		ok     bool
	}{
		{"One", "a", false, 1, 1, true},
		{"EmptyLevels", "/", false, 2, 2, true},
		{"AtMax", "a/b/c", false, 3, 3, true},
		{"OverMax", "a/b/c/d", false, 3, 4, false},
		{"NoLimit", strings.Repeat("a/", 1000) + "a", false, 0, 1001, true},
		{"SharedCountsInner", "$share/g/a/b/c", true, 3, 3, true},
		{"SharedOverMax", "$share/g/a/b/c/d", true, 3, 4, false},
		{"UpperCaseShareIsPlain", "$SHARE/g/a", true, 3, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Levels(tt.in); got != tt.levels {
				t.Errorf("Levels(%q) = %d, want %d", tt.in, got, tt.levels)
			}
			err := CheckLevels(tt.in, tt.filter, tt.max)
			if got := err == nil; got != tt.ok {
				t.Fatalf("CheckLevels(%q, %d) = %v, want ok %v", tt.in, tt.max, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrTooManyLevels) {
				t.Errorf("error %v does not wrap ErrTooManyLevels", err)
			}
		})
	}
}
