// SPDX-License-Identifier: MIT

package mqtt

import (
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// matches is MQTT v5's topic matching (§4.7), level by level, as the
// reference for the index: '+' is one level, '#' any number of levels
// including none (so "a/#" matches "a"), and a filter whose first level
// is a wildcard matches no topic starting with '$'.
func matches(filter, topic string) bool {
	if topic[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fl {
		switch {
		case f == "#":
			return true
		case i >= len(tl):
			return false
		case f != "+" && f != tl[i]:
			return false
		}
	}
	return len(fl) == len(tl)
}

// FuzzTopicIndex checks the index against matches: a subscription to a
// valid filter is among the subscribers of a topic, and a message
// retained on the topic among the messages for the filter, exactly when
// the filter matches the topic. The same filter under "$share/g/" is a
// shared subscriber of the same topics. Fork: the index walks topics in
// one pass (FORK.md 25), which this guards.
func FuzzTopicIndex(f *testing.F) {
	for _, s := range [][2]string{
		{"a/b/c", "a/b/c"}, {"a/+/c", "a/b/c"}, {"a/#", "a"}, {"a/#", "a/b/c"},
		{"#", "$SYS/x"}, {"+/x", "$share/x"}, {"$SYS/#", "$SYS/x"}, {"+/+", "/"},
		{"a/", "a"}, {"/#", "/a"}, {"a//#", "a//b"}, {"+", "a"}, {"a/b/+/d", "a/b//d"},
		{"$SHARE/g/#", "$SHARE/g/x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if filter == "" || topic == "" || !IsValidFilter(filter, false) || IsSharedFilter(filter) ||
			strings.ContainsAny(topic, "+#") || len(filter) > 1024 || len(topic) > 1024 {
			return
		}
		want := matches(filter, topic)

		index := NewTopicsIndex()
		index.Subscribe("plain", packets.Subscription{Filter: filter})
		index.Subscribe("shared", packets.Subscription{Filter: SharePrefix + "/g/" + filter})
		subs := index.Subscribers(topic)
		if _, got := subs.Subscriptions["plain"]; got != want {
			t.Fatalf("Subscribers(%q) has %q: %v, want %v", topic, filter, got, want)
		}
		if _, got := subs.Shared[SharePrefix+"/g/"+filter]; got != want {
			t.Fatalf("Subscribers(%q) has shared %q: %v, want %v", topic, filter, got, want)
		}

		index.RetainMessage(packets.Packet{FixedHeader: packets.FixedHeader{Retain: true}, TopicName: topic, Payload: []byte("x")})
		if got := len(index.Messages(filter)) == 1; got != want {
			t.Fatalf("Messages(%q) has %q: %v, want %v", filter, topic, got, want)
		}

		require := func(ok bool, what string) {
			if !ok {
				t.Fatalf("%s (filter %q, topic %q)", what, filter, topic)
			}
		}
		require(index.Unsubscribe(filter, "plain"), "Unsubscribe plain")
		require(index.Unsubscribe(SharePrefix+"/g/"+filter, "shared"), "Unsubscribe shared")
		require(index.RetainMessage(packets.Packet{TopicName: topic}) == -1, "retained message deleted")
		require(index.root.particles.len() == 0, "index empty again")
	})
}
