package topic

import "strings"

// Match reports whether the topic filter matches the topic name, following
// MQTT v5 §4.7: '+' matches exactly one level (which may be empty), '#'
// matches any number of levels including none, so "a/#" matches "a", and a
// name starting with '$' is not matched by a filter whose first level is a
// wildcard. filter must not be a shared subscription; strip it with
// SplitShared first. Match does not allocate.
func Match(filter, name string) bool {
	if len(filter) == 0 || len(name) == 0 {
		return false
	}
	if name[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	// One pass over both strings. Literal bytes, '/' included, must be
	// equal, and a name never holds '+' or '#', so the loop can run over
	// equal bytes without tracking levels and stop only where the strings
	// differ: that is a wildcard in the filter, or a mismatch.
	i, j := 0, 0
	for {
		for i < len(filter) && j < len(name) && filter[i] == name[j] {
			i++
			j++
		}
		if i == len(filter) {
			return j == len(name)
		}
		switch filter[i] {
		case '#':
			return true
		case '+':
			for j < len(name) && name[j] != '/' {
				j++
			}
			i++
		case '/':
			// The name's level is longer than the filter's, or the name
			// has run out of levels, where only a trailing "#" still
			// matches, because '#' also matches the parent level.
			return j == len(name) && filter[i+1:] == "#"
		default:
			return false
		}
	}
}

// Covers reports whether every topic name that filter matches is also
// matched by allowed, that is whether a subscription to filter can never
// deliver a message that allowed would refuse. Neither argument may be a
// shared subscription. Covers does not allocate.
//
// Two facts make this more than a level-by-level comparison: topic names are
// never empty, so "#" and "+/#" match exactly the same names (as do "/#" and
// "/+/#", whose parent would also be the empty name); and a filter whose
// first level is a wildcard matches no '$' topic, so "#" does not cover
// "$SYS/#" while "$SYS/#" covers "$SYS/+".
func Covers(allowed, filter string) bool {
	if len(allowed) == 0 || len(filter) == 0 {
		return false
	}
	if filter[0] == '$' && (allowed[0] == '+' || allowed[0] == '#') {
		// Every name filter matches starts with '$' (its first level is a
		// literal), and allowed matches none of them.
		return false
	}
	// parentEmpty records that the levels consumed so far can only spell
	// the empty name, which no client can publish.
	parentEmpty := true
	for first := true; ; first = false {
		var al, fl string
		var amore, fmore bool
		al, allowed, amore = cutLevel(allowed)
		if al == "#" {
			return true
		}
		fl, filter, fmore = cutLevel(filter)
		switch {
		case fl == "#":
			// filter matches the parent and any suffix from here on. Only
			// '#' in allowed does the same, unless the parent is the empty
			// name: then "+/#" is as good as "#".
			return parentEmpty && al == "+" && amore && allowed == "#"
		case fl == "+":
			// filter's level takes values allowed has not named.
			if al != "+" {
				return false
			}
		case al != "+" && al != fl:
			return false
		}
		switch {
		case !fmore:
			// filter's names end here; allowed must end too, or continue
			// only with a '#' that matches the parent.
			return !amore || allowed == "#"
		case !amore:
			// filter's names are all longer than any allowed matches.
			return false
		}
		parentEmpty = first && fl == ""
	}
}

// cutLevel splits off the first level of a topic. more reports whether a
// separator followed it, which distinguishes "a" from "a/" (whose second
// level is empty).
func cutLevel(t string) (level, rest string, more bool) {
	i := strings.IndexByte(t, '/')
	if i < 0 {
		return t, "", false
	}
	return t[:i], t[i+1:], true
}
