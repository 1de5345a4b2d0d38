package broker

import (
	"testing"

	"github.com/openpubsub/pubsub/pkg/token"
)

// newTestGrant returns a grant with the given ACL claims.
func newTestGrant(t testing.TB, topicACL, publishACL, subscribeACL []string) *Grant {
	t.Helper()
	g, err := NewGrant(&Broker{ID: "b"}, &token.Claims{Subject: "c", ID: "j", TopicACL: topicACL, PublishACL: publishACL, SubscribeACL: subscribeACL}, "kid")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGrantACL(t *testing.T) {
	s := newTestGrant(t, []string{"room/#"}, []string{"room/+/out"}, []string{"room/+/in"})
	all := newTestGrant(t, []string{"#"}, nil, nil)
	sys := newTestGrant(t, []string{"$SYS/#", "$sys/#"}, nil, nil)
	share := newTestGrant(t, []string{"$SHARE/g/#"}, nil, nil)
	for _, tc := range []struct {
		name string
		s    *Grant
		pub  string
		sub  string
		want bool
	}{
		{"PublishAllowed", s, "room/1/out", "", true},
		{"PublishNarrowed", s, "room/1/in", "", false},
		{"PublishOutside", s, "hall/1/out", "", false},
		{"PublishDollar", all, "$SYS/x", "", false},
		{"PublishEmpty", all, "", "", false},
		{"SubscribeAllowed", s, "", "room/+/in", true},
		{"SubscribeWider", s, "", "room/#", false},
		{"SubscribeShared", s, "", "$share/g/room/1/in", true},
		{"SubscribeSYS", all, "", "$SYS/#", false},
		{"SubscribeSYSUpper", all, "", "$sys/#", false},
		{"SubscribeAll", all, "", "#", true},
		// Issue 14: a shared subscription does not hide $SYS, and only
		// the lower-case $share is one (MQTT v5 §4.8.2).
		{"SubscribeSharedSYS", sys, "", "$share/g/$SYS/#", false},
		{"SubscribeSharedSYSUpper", sys, "", "$share/g/$sys/x", false},
		{"SubscribeUpperShareIsATopic", share, "", "$SHARE/g/secret/#", true},
		{"SubscribeUpperShareInner", share, "", "$share/g/secret/#", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got bool
			if tc.sub == "" {
				got = tc.s.CanPublish(tc.pub)
			} else {
				got = tc.s.CanSubscribe(tc.sub)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCleanToken(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"Plain", "a.b.c", "a.b.c"},
		{"Quoted", `"a.b.c"`, "a.b.c"},
		{"QuotedWithNewline", "\"a.b.c\"\n", "a.b.c"},
		{"Spaces", "  a.b.c ", "a.b.c"},
		{"LoneQuote", `"`, `"`},
		{"Empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CleanToken(tc.in); got != tc.want {
				t.Errorf("CleanToken(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
