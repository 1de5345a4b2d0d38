package topic

// maxReduce bounds the quadratic pass of NewACL that drops redundant
// entries; longer lists are kept as they are, which is still correct.
const maxReduce = 64

// ACL is a compiled, immutable list of allowed topic filters. It is safe for
// concurrent use. A nil or empty ACL allows nothing.
type ACL struct {
	// all records a "#" entry, the common case (every Cloudflare-compatible
	// token carries topicAcl ["#"]), so that it costs one comparison.
	all bool
	// filters holds the other entries, minus those another entry covers.
	filters []string
}

// NewACL compiles filters into an ACL. Every entry must be a valid topic
// filter and not a shared subscription; otherwise NewACL returns an
// *ACLError. An empty list gives an ACL that allows nothing.
func NewACL(filters []string) (*ACL, error) {
	if err := ValidateACL(filters); err != nil {
		return nil, err
	}
	a := &ACL{}
	for _, f := range filters {
		if f == "#" {
			a.all = true
		}
	}
	reduce := len(filters) <= maxReduce
	for i, f := range filters {
		if (a.all && Covers("#", f)) || (reduce && redundant(filters, i)) {
			continue
		}
		a.filters = append(a.filters, f)
	}
	return a, nil
}

// redundant reports whether filters[i] adds nothing to the other entries:
// some other entry covers it, and when two entries cover each other, the
// first one stays.
func redundant(filters []string, i int) bool {
	for j, g := range filters {
		if j == i || !Covers(g, filters[i]) {
			continue
		}
		if j < i || !Covers(filters[i], g) {
			return true
		}
	}
	return false
}

// Filters returns the entries the ACL checks, after dropping redundant ones,
// for logging and debugging. The caller may modify the returned slice.
func (a *ACL) Filters() []string {
	if a == nil {
		return nil
	}
	out := make([]string, 0, len(a.filters)+1)
	if a.all {
		out = append(out, "#")
	}
	return append(out, a.filters...)
}

// AllowsTopic reports whether some entry matches the topic name, which is
// the check for PUBLISH and for each delivery. name must be a valid topic
// name. AllowsTopic does not allocate.
func (a *ACL) AllowsTopic(name string) bool {
	if a == nil || len(name) == 0 {
		return false
	}
	if a.all && name[0] != '$' {
		return true
	}
	for _, f := range a.filters {
		if Match(f, name) {
			return true
		}
	}
	return false
}

// AllowsFilter reports whether some entry covers the topic filter, which is
// the check for SUBSCRIBE: granting a subscription only when every topic it
// can match is allowed means deliveries never need a second look. A shared
// subscription is judged by its inner filter. filter must be a valid topic
// filter. AllowsFilter does not allocate.
func (a *ACL) AllowsFilter(filter string) bool {
	if a == nil || len(filter) == 0 {
		return false
	}
	if isShared(filter) {
		_, inner, ok := SplitShared(filter)
		if !ok {
			return false
		}
		filter = inner
	}
	if a.all && filter[0] != '$' {
		return true
	}
	for _, f := range a.filters {
		if Covers(f, filter) {
			return true
		}
	}
	return false
}
