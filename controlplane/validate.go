package controlplane

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
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

// truncate shortens user input echoed in an error message.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s...", s[:max])
}
