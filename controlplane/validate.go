package controlplane

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openpubsub/pubsub/pkg/token"
	"github.com/openpubsub/pubsub/pkg/topic"
)

// MaxDescription is the longest description, in bytes, we store.
const MaxDescription = 1024

// NormalizeName lowercases name and checks it is a DNS label per RFC 1035 as
// relaxed by RFC 1123: a-z, 0-9 and '-', 1 to 63 characters, no hyphen at
// either end. kind ("namespace" or "broker") names the field in the error.
func NormalizeName(kind, name string) (string, error) {
	if name == "" {
		return "", Errorf(EINVALIDNAME, "%s name is required", kind)
	}
	if len(name) > 63 {
		return "", Errorf(EINVALIDNAME, "%s name %q is %d characters long; the limit is 63", kind, truncate(name), len(name))
	}
	n := strings.ToLower(name)
	for i := 0; i < len(n); i++ {
		c := n[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return "", Errorf(EINVALIDNAME, "%s name %q has the character %q; use only a-z, 0-9 and '-' (it becomes part of a hostname)", kind, truncate(name), rune(c))
		}
	}
	if n[0] == '-' || n[len(n)-1] == '-' {
		return "", Errorf(EINVALIDNAME, "%s name %q must not start or end with '-'", kind, name)
	}
	return n, nil
}

// ValidateDescription checks a description's length and encoding.
func ValidateDescription(d string) error {
	if len(d) > MaxDescription {
		return Errorf(EINVALID, "description is %d bytes long; the limit is %d", len(d), MaxDescription)
	}
	if !utf8.ValidString(d) {
		return Errorf(EINVALID, "description is not valid UTF-8")
	}
	return nil
}

// ValidateWebhookURL checks an on_publish URL: absolute http or https.
func ValidateWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return Errorf(EINVALID, "on_publish.url %q must be an absolute http:// or https:// URL", truncate(raw))
	}
	return nil
}

// MaxExpiration is the longest lifetime, in seconds, of a credential and
// the largest broker expiration: token.MaxLifetime, 3650 days. Ask for no
// expiration (-1 when minting, null on a broker) for anything longer.
const MaxExpiration = int64(token.MaxLifetime / time.Second)

// maxExpirationText names MaxExpiration in error messages.
const maxExpirationText = "315360000 seconds (3650 days)"

// ClampExpiration returns an expiration no larger than MaxExpiration.
// Brokers stored before the limit existed may hold more; they are read as
// the limit (and written back so on their next update), since a larger
// value would overflow the time arithmetic of minting and of the nodes.
func ClampExpiration(v *int64) *int64 {
	if v == nil || *v <= MaxExpiration {
		return v
	}
	m := MaxExpiration
	return &m
}

// MaxACLEntries is the most filters one ACL claim (topicAcl, publishAcl or
// subscribeAcl) may hold. Every one of them costs the broker nodes a
// check on each publish and delivery, and all of them must fit in a token
// of token.MaxSize bytes.
const MaxACLEntries = 256

// MaxACLFilter is the longest filter, in bytes, an ACL entry may be.
const MaxACLFilter = 1024

// ValidateACL checks one ACL claim, named name in the error: at most
// MaxACLEntries entries, each a valid MQTT topic filter of at most
// MaxACLFilter bytes, neither a shared subscription nor a $SYS filter.
// Returns EINVALIDTOPIC.
//
// $share is refused in any letter case: it is a subscription mode, not a
// topic, and matching it case-insensitively somewhere would let "$SHARE/g/#"
// grant "$share/g/secret/#". $SYS is refused as the broker nodes refuse it,
// by its first four bytes in any case: no token can grant it, so an entry
// naming it would only mislead.
func ValidateACL(name string, filters []string) error {
	if len(filters) > MaxACLEntries {
		return Errorf(EINVALIDTOPIC, "%s has %d entries; the limit is %d", name, len(filters), MaxACLEntries)
	}
	for i, f := range filters {
		if len(f) > MaxACLFilter {
			return Errorf(EINVALIDTOPIC, "%s entry %d is %d bytes long; the limit is %d", name, i+1, len(f), MaxACLFilter)
		}
		first, _, _ := strings.Cut(f, "/")
		if strings.EqualFold(first, "$share") {
			return Errorf(EINVALIDTOPIC, "%s entry %d %q is a shared subscription ($share/<group>/<filter>), not a topic filter; list the plain filter instead", name, i+1, truncate(f))
		}
		if len(f) >= 4 && strings.EqualFold(f[:4], "$SYS") {
			return Errorf(EINVALIDTOPIC, "%s entry %d %q: topics starting with $SYS belong to the server, and no credential can grant them", name, i+1, truncate(f))
		}
		if err := topic.ValidateFilter(f); err != nil {
			return Errorf(EINVALIDTOPIC, "%s: %v", name, err)
		}
	}
	return nil
}

// truncate shortens user input echoed in an error message.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s...", s[:max])
}
