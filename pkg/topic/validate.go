package topic

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxLen is the largest topic name or filter in bytes. MQTT encodes topics
// with a two-byte length prefix, so nothing longer can appear on the wire.
const MaxLen = 65535

// sharePrefix starts a shared subscription filter ($share/<group>/<filter>).
const sharePrefix = "$share/"

// Errors wrapped by *Error, so that callers can choose an MQTT reason code
// with errors.Is without matching message text.
var (
	ErrEmpty          = errors.New("must not be empty")
	ErrTooLong        = errors.New("must be at most 65535 bytes")
	ErrInvalidUTF8    = errors.New("must be valid UTF-8")
	ErrNUL            = errors.New("must not contain the character U+0000")
	ErrWildcardInName = errors.New("wildcards '+' and '#' are only allowed in topic filters, not in topic names")
	ErrHashNotLast    = errors.New("'#' must be the last level")
	ErrHashNotLevel   = errors.New("'#' must be a whole level, as in \"a/#\"")
	ErrPlusNotLevel   = errors.New("'+' must be a whole level, as in \"a/+/c\"")
	ErrShareGroup     = errors.New("shared subscription group must be non-empty and must not contain '+' or '#'")
	ErrShareFilter    = errors.New("shared subscription needs a filter after the group, as in \"$share/group/a/b\"")
	ErrShareInACL     = errors.New("an ACL entry cannot be a shared subscription; list the plain filter instead")
	ErrTooManyLevels  = errors.New("has more levels than this server allows")
)

// Error reports why a topic name or filter is invalid. Err is one of the
// Err* values of this package.
type Error struct {
	Topic  string // the rejected name or filter
	Filter bool   // whether Topic was checked as a filter rather than a name
	Err    error
}

// maxQuoted bounds how much of the offending topic an error message repeats,
// so that a 64 KiB topic does not become a 64 KiB log line or reason string.
const maxQuoted = 64

// Error returns a message such as `topic filter "a/#/b": '#' must be the last level`.
func (e *Error) Error() string {
	kind := "topic name "
	if e.Filter {
		kind = "topic filter "
	}
	t, cut := e.Topic, false
	if len(t) > maxQuoted {
		t, cut = t[:maxQuoted], true
		// Back off to a rune boundary so the quoted prefix stays readable.
		for i := 0; i < utf8.UTFMax && len(t) > 0 && !utf8.RuneStart(e.Topic[len(t)]); i++ {
			t = t[:len(t)-1]
		}
	}
	q := strconv.Quote(t)
	if cut {
		q += "..."
	}
	return kind + q + ": " + e.Err.Error()
}

// Unwrap returns the Err* value, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// ValidateName reports whether t is a valid PUBLISH topic name: non-empty, at
// most MaxLen bytes, valid UTF-8, no U+0000 and no wildcard characters. It
// returns nil or an *Error.
func ValidateName(t string) error {
	if err := checkString(t); err != nil {
		return &Error{Topic: t, Err: err}
	}
	if strings.ContainsAny(t, "+#") {
		return &Error{Topic: t, Err: ErrWildcardInName}
	}
	return nil
}

// ValidateFilter reports whether f is a valid SUBSCRIBE topic filter: what
// ValidateName requires, except that '+' may appear as a whole level and '#'
// as the whole last level. A shared subscription, $share/<group>/<filter>,
// is valid when the group is non-empty without '+' or '#' and the inner
// filter is valid. It returns nil or an *Error.
func ValidateFilter(f string) error {
	if err := checkString(f); err != nil {
		return &Error{Topic: f, Filter: true, Err: err}
	}
	inner := f
	if isShared(f) {
		// "$share" alone has neither group nor filter; report the group.
		group, rest, ok := strings.Cut(strings.TrimPrefix(f[len("$share"):], "/"), "/")
		if group == "" || strings.ContainsAny(group, "+#") {
			return &Error{Topic: f, Filter: true, Err: ErrShareGroup}
		}
		if !ok || rest == "" {
			return &Error{Topic: f, Filter: true, Err: ErrShareFilter}
		}
		inner = rest
	}
	if err := checkLevels(inner); err != nil {
		return &Error{Topic: f, Filter: true, Err: err}
	}
	return nil
}

// Levels returns the number of levels of a topic name or filter: one more
// than its separators, and for a shared subscription those of its inner
// filter. It walks t once.
func Levels(t string) int {
	if _, inner, ok := SplitShared(t); ok {
		t = inner
	}
	return strings.Count(t, "/") + 1
}

// CheckLevels reports whether t, a topic name or (when filter is set) a
// filter, has at most max levels (see Levels); max <= 0 allows any
// number. It returns nil or an *Error wrapping ErrTooManyLevels. Servers
// refuse such topics because every level costs work on every match.
func CheckLevels(t string, filter bool, max int) error {
	if max > 0 && Levels(t) > max {
		return &Error{Topic: t, Filter: filter, Err: ErrTooManyLevels}
	}
	return nil
}

// ValidateACL reports whether every entry of filters is a valid, non-shared
// topic filter, which is what NewACL accepts and what the control plane must
// check before writing filters into a token.
func ValidateACL(filters []string) error {
	for i, f := range filters {
		if err := validateACLFilter(f); err != nil {
			return &ACLError{Index: i, Err: err}
		}
	}
	return nil
}

// ACLError reports which entry of an ACL is invalid.
type ACLError struct {
	Index int   // position of the entry in the list
	Err   error // an *Error
}

// Error returns a message such as `ACL entry 2: topic filter "a/#/b": ...`.
func (e *ACLError) Error() string {
	return "ACL entry " + strconv.Itoa(e.Index) + ": " + e.Err.Error()
}

// Unwrap returns the underlying *Error.
func (e *ACLError) Unwrap() error { return e.Err }

func validateACLFilter(f string) error {
	if isShared(f) {
		return &Error{Topic: f, Filter: true, Err: ErrShareInACL}
	}
	return ValidateFilter(f)
}

// SplitShared splits a shared subscription filter $share/<group>/<filter>
// into its group and inner filter. ok is false when f is not of that form;
// the parts are not otherwise validated.
func SplitShared(f string) (group, filter string, ok bool) {
	rest, found := strings.CutPrefix(f, sharePrefix)
	if !found {
		return "", "", false
	}
	group, filter, found = strings.Cut(rest, "/")
	if !found || group == "" || filter == "" {
		return "", "", false
	}
	return group, filter, true
}

// isShared reports whether f's first level is $share, which MQTT reserves
// for shared subscriptions; "$share" alone is a malformed one, not a topic.
func isShared(f string) bool {
	return strings.HasPrefix(f, sharePrefix) || f == "$share"
}

// checkString applies the rules common to names and filters.
func checkString(t string) error {
	switch {
	case len(t) == 0:
		return ErrEmpty
	case len(t) > MaxLen:
		return ErrTooLong
	case strings.IndexByte(t, 0) >= 0:
		return ErrNUL
	case !utf8.ValidString(t):
		return ErrInvalidUTF8
	}
	return nil
}

// checkLevels enforces where wildcards may stand in a filter.
func checkLevels(f string) error {
	levelStart := 0
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '/':
			levelStart = i + 1
		case '+':
			if i != levelStart || (i+1 < len(f) && f[i+1] != '/') {
				return ErrPlusNotLevel
			}
		case '#':
			if i != levelStart {
				return ErrHashNotLevel
			}
			if i+1 < len(f) {
				if f[i+1] == '/' {
					return ErrHashNotLast
				}
				return ErrHashNotLevel
			}
		}
	}
	return nil
}
