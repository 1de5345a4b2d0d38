package natsbus

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/openpubsub/pubsub/pkg/topic"
)

const testRoot = "pubsub.0123456789abcdef0123456789abcdef"

func TestTopicSubject(t *testing.T) {
	for _, tc := range []struct{ name, topic, subject string }{
		{"Plain", "sensors/kitchen/temp", testRoot + ".sensors.kitchen.temp"},
		{"OneLevel", "a", testRoot + ".a"},
		{"Dot", "v1.2/x", testRoot + ".v1=2E2.x"},
		{"Wildcards", "*/>", testRoot + ".=2A.=3E"},
		{"Space", "a b", testRoot + ".a=20b"},
		{"Equals", "=", testRoot + ".=3D"}, {"Tilde", "~", testRoot + ".=7E"},
		{"EmptyLevels", "/a//", testRoot + ".=.a.=.="},
		{"NonASCII", "café", testRoot + ".caf=C3=A9"},
		{"Dollar", "$x", testRoot + ".=24x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TopicSubject(testRoot, tc.topic)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.subject {
				t.Fatalf("TopicSubject(%q) = %q, want %q", tc.topic, got, tc.subject)
			}
			if !server.IsValidLiteralSubject(got) {
				t.Fatalf("%q is not a literal NATS subject", got)
			}
			back, err := TopicOf(testRoot, got)
			if err != nil || back != tc.topic {
				t.Fatalf("TopicOf(%q) = %q, %v; want %q", got, back, err, tc.topic)
			}
		})
	}
}

func TestTopicSubjectTooLong(t *testing.T) {
	if _, err := TopicSubject(testRoot, strings.Repeat(".", 2000)); err != ErrSubjectTooLong {
		t.Fatalf("err = %v, want ErrSubjectTooLong", err)
	}
	if _, err := FilterSubjects(testRoot, strings.Repeat("a/", 2000)+"#"); err != ErrSubjectTooLong {
		t.Fatalf("err = %v, want ErrSubjectTooLong", err)
	}
}

func TestFilterSubjects(t *testing.T) {
	for _, tc := range []struct {
		name, filter string
		subjects     []string
	}{
		{"Plain", "a/b", []string{testRoot + ".a.b"}},
		{"Plus", "a/+/c", []string{testRoot + ".a.*.c"}},
		{"Hash", "a/#", []string{testRoot + ".a", testRoot + ".a.>"}},
		{"HashAlone", "#", []string{testRoot + ".>"}},
		{"PlusHash", "+/#", []string{testRoot + ".*", testRoot + ".*.>"}},
		{"Escaped", "a.b/+", []string{testRoot + ".a=2Eb.*"}},
		{"EmptyLevel", "/+", []string{testRoot + ".=.*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FilterSubjects(testRoot, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tc.subjects, " ") {
				t.Fatalf("FilterSubjects(%q) = %q, want %q", tc.filter, got, tc.subjects)
			}
		})
	}
	for _, bad := range []string{"a+/b", "a/#/b", "a#"} {
		if _, err := FilterSubjects(testRoot, bad); err == nil {
			t.Errorf("FilterSubjects(%q) succeeded", bad)
		}
	}
}

func TestTopicOfRefuses(t *testing.T) {
	for _, s := range []string{
		"other.a", testRoot, testRoot + ".", testRoot + ".a..b", testRoot + ".=2", testRoot + ".=2e",
		testRoot + ".=41", testRoot + ".a*", testRoot + ".==", testRoot + ".a b",
	} {
		if got, err := TopicOf(testRoot, s); err == nil {
			t.Errorf("TopicOf(%q) = %q, want an error", s, got)
		}
	}
}

func TestRootIsolatesBrokers(t *testing.T) {
	a, _ := TopicSubject(Root("pubsub", "b1"), "x")
	b, _ := TopicSubject(Root("pubsub", "b1.x"), "")
	if a == b {
		t.Fatalf("brokers b1 and b1.x share subject %q", a)
	}
}

// FuzzSubject checks the mapping's promises on any topic: a literal
// subject that reads back as the topic, distinct for distinct topics,
// matched by a filter's subjects exactly when MQTT matches the topic.
func FuzzSubject(f *testing.F) {
	for _, s := range [][3]string{
		{"a/b", "a/c", "a/+"}, {"a", "a/", "a/#"}, {"a.b", "a=2Eb", "#"}, {"*", ">", "+"},
		{"", "/", "+/+"}, {"café/ü", "caf=C3=A9", "+/#"}, {"=", "=7E", "="}, {" ", "\t", "+"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, t1, t2, filter string) {
		s1, err1 := TopicSubject(testRoot, t1)
		s2, err2 := TopicSubject(testRoot, t2)
		if err1 != nil || err2 != nil {
			return
		}
		for _, p := range [][2]string{{t1, s1}, {t2, s2}} {
			if !server.IsValidLiteralSubject(p[1]) {
				t.Fatalf("topic %q maps to %q, not a literal subject", p[0], p[1])
			}
			if back, err := TopicOf(testRoot, p[1]); err != nil || back != p[0] {
				t.Fatalf("topic %q maps to %q, which reads back as %q, %v", p[0], p[1], back, err)
			}
		}
		if (t1 == t2) != (s1 == s2) {
			t.Fatalf("topics %q and %q map to %q and %q", t1, t2, s1, s2)
		}
		if topic.ValidateFilter(filter) != nil || strings.HasPrefix(filter, "$share/") {
			return
		}
		subjects, err := FilterSubjects(testRoot, filter)
		if err != nil {
			t.Fatalf("FilterSubjects(%q): %v", filter, err)
		}
		for _, tn := range []string{t1, t2} {
			if topic.ValidateName(tn) != nil || strings.HasPrefix(tn, "$") {
				continue
			}
			s, _ := TopicSubject(testRoot, tn)
			matched := 0
			for _, fs := range subjects {
				if !server.IsValidSubject(fs) {
					t.Fatalf("filter %q maps to invalid subject %q", filter, fs)
				}
				if server.SubjectMatchesFilter(s, fs) {
					matched++
				}
			}
			if want := topic.Match(filter, tn); (matched > 0) != want || matched > 1 {
				t.Fatalf("filter %q (%q) matches topic %q (%q) %d times; MQTT says %v", filter, subjects, tn, s, matched, want)
			}
		}
	})
}
