package edge

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSubscribe(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		filters     []string
		durable     bool
		code        string
	}{
		{"One", "topic=a", []string{"a"}, false, ""},
		{"Sorted", "topic=b&topic=a", []string{"a", "b"}, false, ""},
		{"Dedup", "topic=a&topic=a", []string{"a"}, false, ""},
		{"Covered", "topic=a/b&topic=a/%23&topic=c", []string{"a/#", "c"}, false, ""},
		{"Durable", "topic=a&durable=true", []string{"a"}, true, ""},
		{"DurableOne", "topic=a&durable=1", []string{"a"}, true, ""},
		{"DurableFalse", "topic=a&durable=false", []string{"a"}, false, ""},
		{"Max", "topic=1&topic=2&topic=3", []string{"1", "2", "3"}, false, ""},
		{"MaxLevels", "topic=a/b/%2B", []string{"a/b/+"}, false, ""},
		{"TooManyLevels", "topic=a/b/c/%23", nil, false, EINVALIDTOPIC},
		{"TooMany", "topic=1&topic=2&topic=3&topic=4", nil, false, ETOOMANYTOPICS},
		{"NoTopic", "durable=true", nil, false, EMISSINGTOPIC},
		{"Empty", "topic=", nil, false, EINVALIDTOPIC},
		{"BadWildcard", "topic=a%2B", nil, false, EINVALIDTOPIC},
		{"Shared", "topic=$share/g/a", nil, false, EINVALIDTOPIC},
		{"BadDurable", "topic=a&durable=yes", nil, false, EINVALIDPARAM},
		{"BadEscape", "topic=%zz", nil, false, EINVALIDPARAM},
		{"Semicolon", "topic=a;b", nil, false, EINVALIDPARAM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := parseQuery(tc.query)
			var p subscribeParams
			if err == nil {
				p, err = parseSubscribe(q, 3, 3)
			}
			if tc.code != "" {
				if err == nil || err.Code != tc.code {
					t.Fatalf("error %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil || !slices.Equal(p.filters, tc.filters) || p.durable != tc.durable {
				t.Fatalf("got %+v %v, want %v durable=%v", p, err, tc.filters, tc.durable)
			}
		})
	}
}

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		want        publishParams
		code        string
	}{
		{"Topic", "topic=a/b", publishParams{topic: "a/b"}, ""},
		{"Retain", "topic=a&retain=true&ttl=60", publishParams{topic: "a", retain: true, ttl: 60}, ""},
		{"MaxTTL", "topic=a&ttl=4294967295", publishParams{topic: "a", ttl: 4294967295}, ""},
		{"NoTopic", "retain=true", publishParams{}, EMISSINGTOPIC},
		{"TwoTopics", "topic=a&topic=b", publishParams{}, EINVALIDPARAM},
		{"Wildcard", "topic=a/%23", publishParams{}, EINVALIDTOPIC},
		{"MaxLevels", "topic=a/b/c", publishParams{topic: "a/b/c"}, ""},
		{"TooManyLevels", "topic=a/b/c/d", publishParams{}, EINVALIDTOPIC},
		{"TTLZero", "topic=a&ttl=0", publishParams{}, EINVALIDPARAM},
		{"TTLText", "topic=a&ttl=soon", publishParams{}, EINVALIDPARAM},
		{"TTLOverflow", "topic=a&ttl=4294967296", publishParams{}, EINVALIDPARAM},
		{"RetainBad", "topic=a&retain=2", publishParams{}, EINVALIDPARAM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := parseQuery(tc.query)
			var p publishParams
			if err == nil {
				p, err = parsePublish(q, 3)
			}
			if tc.code != "" {
				if err == nil || err.Code != tc.code {
					t.Fatalf("error %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Fatalf("got %+v %v, want %+v", p, err, tc.want)
			}
		})
	}
}

// FuzzQuery feeds arbitrary query strings to both parsers: no panic,
// every refusal a complete *Error, and what is accepted is valid.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"topic=a", "topic=a/%23&topic=a/b&durable=true", "topic=a&retain=true&ttl=60", "topic=%zz", "topic=a;b", "topic=$share/g/t", "topic=" + strings.Repeat("a/", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw)
		if err != nil {
			if err.Message == "" || err.info().Status != 400 {
				t.Fatalf("incomplete error %+v", err)
			}
			return
		}
		if p, err := parseSubscribe(q, 10, 0); err == nil {
			if len(p.filters) == 0 || len(p.filters) > 10 || !slices.IsSorted(p.filters) {
				t.Fatalf("accepted filters %q", p.filters)
			}
		} else if err.Message == "" || err.info().Status != 400 {
			t.Fatalf("incomplete error %+v", err)
		}
		if p, err := parsePublish(q, 0); err == nil {
			if p.topic == "" || strings.ContainsAny(p.topic, "+#") {
				t.Fatalf("accepted topic %q", p.topic)
			}
		} else if err.Message == "" || err.info().Status != 400 {
			t.Fatalf("incomplete error %+v", err)
		}
	})
}
