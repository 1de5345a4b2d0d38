package controlplane

import (
	"encoding/json"
	"fmt"

	"github.com/openpubsub/pubsub/pkg/topic"
)

// OnPublish are the optional settings of a broker's on-publish hook,
// beyond its URL: our additions to Cloudflare's on_publish, which
// Cloudflare clients leave out. The zero value is Cloudflare's
// behaviour.
type OnPublish struct {
	// Filters are the topic filters whose messages go to the hook;
	// others bypass it. None: every message.
	Filters []string `json:"filters,omitempty"`
	// Timeout is the hook's timeout in seconds; 0: 10.
	Timeout int `json:"timeout,omitempty"`
	// OnFailure is what a failed request does to its messages: "drop"
	// (or ""), "pass" or "retry".
	OnFailure string `json:"on_failure,omitempty"`
	// Mode is "transform" (or ""): subscribers get what the hook
	// answers; or "notify": subscribers get the message at once, the hook
	// a copy.
	Mode string `json:"mode,omitempty"`
}

// Limits of OnPublish.
const (
	MaxOnPublishFilters = 32
	MaxOnPublishTimeout = 60 // seconds
)

// Validate checks the settings; its EINVALID error names the field.
func (o *OnPublish) Validate() error {
	if len(o.Filters) > MaxOnPublishFilters {
		return Errorf(EINVALID, "on_publish.filters has %d filters; the most is %d", len(o.Filters), MaxOnPublishFilters)
	}
	for i, f := range o.Filters {
		if err := topic.ValidateFilter(f); err != nil {
			return Errorf(EINVALID, "on_publish.filters[%d] %q is not a valid topic filter: %v", i, truncate(f), err)
		}
	}
	if o.Timeout < 0 || o.Timeout > MaxOnPublishTimeout {
		return Errorf(EINVALID, "on_publish.timeout must be 1 to %d seconds, got %d", MaxOnPublishTimeout, o.Timeout)
	}
	switch o.OnFailure {
	case "", "drop", "pass", "retry":
	default:
		return Errorf(EINVALID, "on_publish.on_failure must be \"drop\", \"pass\" or \"retry\", got %q", truncate(o.OnFailure))
	}
	switch o.Mode {
	case "", "transform", "notify":
	default:
		return Errorf(EINVALID, "on_publish.mode must be \"transform\" or \"notify\", got %q", truncate(o.Mode))
	}
	return nil
}

// IsZero reports whether every setting is its default.
func (o *OnPublish) IsZero() bool {
	return len(o.Filters) == 0 && o.Timeout == 0 && o.OnFailure == "" && o.Mode == ""
}

// StoredText is how stores keep the settings: JSON, "" for the zero
// value. (Not MarshalText: the API embeds OnPublish in a larger object.)
func (o OnPublish) StoredText() string {
	if o.IsZero() {
		return ""
	}
	b, _ := json.Marshal(o)
	return string(b)
}

// ParseStoredOnPublish reads what StoredText wrote.
func ParseStoredOnPublish(s string) (OnPublish, error) {
	var o OnPublish
	if s == "" {
		return o, nil
	}
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return o, fmt.Errorf("on_publish settings %q: %w", s, err)
	}
	return o, nil
}
