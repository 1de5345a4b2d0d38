package retainlog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func retain(t *testing.T, s *Store, m *broker.Message) {
	t.Helper()
	if err := s.Retain(context.Background(), m); err != nil {
		t.Fatalf("Retain %s: %v", m.Topic, err)
	}
}

// topics returns the sorted topic=payload pairs a filter finds.
func topics(t *testing.T, s *Store, brokerID, filter string) []string {
	t.Helper()
	ms, err := s.Retained(context.Background(), brokerID, filter)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Topic+"="+string(m.Payload))
	}
	slices.Sort(out)
	return out
}

func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", FileName)
	s := open(t, path)
	full := &broker.Message{
		BrokerID: "b1", Topic: "a/b", Payload: []byte("one\x00\xff"), Retain: true, ClientID: "c1",
		Expiry: time.Now().Add(time.Hour).Round(0), ContentType: "application/octet-stream", PayloadFormat: 0,
		ResponseTopic: "r/t", CorrelationData: []byte{1, 2}, UserProperties: [][2]string{{"k", "v"}, {"k", "w"}},
	}
	retain(t, s, full)
	retain(t, s, &broker.Message{BrokerID: "b1", Topic: "a/c", Payload: []byte("two")})
	retain(t, s, &broker.Message{BrokerID: "b1", Topic: "x", Payload: []byte("three")})
	retain(t, s, &broker.Message{BrokerID: "b2", Topic: "a/b", Payload: []byte("other broker")})
	retain(t, s, &broker.Message{BrokerID: "b1", Topic: "x", Payload: []byte("three again")})
	retain(t, s, &broker.Message{BrokerID: "b1", Topic: "a/c"}) // empty payload: delete
	retain(t, s, &broker.Message{BrokerID: "b1", Topic: "gone", Payload: []byte("expired"), Expiry: time.Now().Add(-time.Second)})

	check := func(s *Store) {
		t.Helper()
		for _, tc := range []struct {
			name, brokerID, filter string
			want                   []string
		}{
			{"All", "b1", "#", []string{"a/b=one\x00\xff", "x=three again"}},
			{"Wildcard", "b1", "a/+", []string{"a/b=one\x00\xff"}},
			{"Exact", "b1", "x", []string{"x=three again"}},
			{"Deleted", "b1", "a/c", nil},
			{"Expired", "b1", "gone", nil},
			{"OtherBroker", "b2", "#", []string{"a/b=other broker"}},
			{"UnknownBroker", "b3", "#", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := topics(t, s, tc.brokerID, tc.filter); !slices.Equal(got, tc.want) {
					t.Fatalf("Retained(%s, %s) = %q, want %q", tc.brokerID, tc.filter, got, tc.want)
				}
			})
		}
		ms, _ := s.Retained(context.Background(), "b1", "a/b")
		if len(ms) != 1 {
			t.Fatalf("got %d messages", len(ms))
		}
		got := ms[0]
		if !got.Expiry.Equal(full.Expiry) || got.ClientID != full.ClientID || got.ContentType != full.ContentType ||
			got.ResponseTopic != full.ResponseTopic || string(got.CorrelationData) != string(full.CorrelationData) ||
			!slices.Equal(got.UserProperties, full.UserProperties) || !got.Retain {
			t.Fatalf("round trip: got %+v, want %+v", got, full)
		}
	}
	check(s)
	s.Close()
	if err := s.Retain(context.Background(), full); err != ErrClosed {
		t.Fatalf("Retain after Close = %v, want ErrClosed", err)
	}
	check(open(t, path))
}

func TestDeleteRetained(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	retain(t, s, &broker.Message{BrokerID: "b1", Topic: "t", Payload: []byte("1")})
	retain(t, s, &broker.Message{BrokerID: "b2", Topic: "t", Payload: []byte("2")})
	if err := s.DeleteRetained(context.Background(), "b1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	if got := topics(t, s, "b1", "#"); got != nil {
		t.Fatalf("b1 still has %q", got)
	}
	if got := topics(t, s, "b2", "#"); !slices.Equal(got, []string{"t=2"}) {
		t.Fatalf("b2 has %q", got)
	}
}

// TestTornTail cuts the log inside its last record, as a crash during an
// append would: the records before it survive, and the store appends
// after them.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  int64 // bytes removed from the end
		junk []byte
		torn bool // an interrupted append, dropped with a warning; else damage, reported and copied
	}{
		{"InBody", 3, nil, true},
		{"InHeader", 0, []byte{0, 0}, true},
		{"Zeros", 0, make([]byte, 100), true},
		{"HugeLength", 0, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, true},
		{"BadChecksum", 0, []byte{0, 0, 0, 1, 0, 0, 0, 0, 7}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			s := open(t, path)
			retain(t, s, &broker.Message{BrokerID: "b", Topic: "kept", Payload: []byte("yes")})
			retain(t, s, &broker.Message{BrokerID: "b", Topic: "torn", Payload: []byte("no")})
			s.Close()
			fi, _ := os.Stat(path)
			if tc.cut > 0 {
				if err := os.Truncate(path, fi.Size()-tc.cut); err != nil {
					t.Fatal(err)
				}
			} else {
				f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				f.Write(tc.junk)
				f.Close()
			}
			s, logs := openLogged(t, path)
			if got, want := len(logs.lines(t, slog.LevelError)) > 0, !tc.torn; got != want {
				t.Errorf("error logged: %v, want %v", got, want)
			}
			if got, want := len(copies(t, path)) > 0, !tc.torn; got != want {
				t.Errorf("copy kept: %v, want %v", got, want)
			}
			if tc.torn && len(logs.lines(t, slog.LevelWarn)) != 1 {
				t.Errorf("no warning about the torn tail")
			}
			want := []string{"kept=yes", "torn=no"}
			if tc.cut > 0 {
				want = want[:1]
			}
			if got := topics(t, s, "b", "#"); !slices.Equal(got, want) {
				t.Fatalf("after a torn tail: %q, want %q", got, want)
			}
			retain(t, s, &broker.Message{BrokerID: "b", Topic: "after", Payload: []byte("ok")})
			s.Close()
			s = open(t, path)
			if got := topics(t, s, "b", "after"); !slices.Equal(got, []string{"after=ok"}) {
				t.Fatalf("append after recovery: %q", got)
			}
		})
	}
}

// TestCompaction overwrites one topic until the log compacts, from many
// goroutines at once, and checks the file shrank and the data survived.
func TestCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	payload := make([]byte, 4096)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				m := &broker.Message{BrokerID: "b", Topic: fmt.Sprintf("t/%d", g), Payload: append(payload[:len(payload):len(payload)], byte(i))}
				if err := s.Retain(context.Background(), m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 2*compactMin {
		t.Fatalf("log is %d bytes after compaction; 8 live records take about 33 KB", fi.Size())
	}
	s.Close()
	s = open(t, path)
	if got := len(topics(t, s, "b", "#")); got != 8 {
		t.Fatalf("%d topics after compaction and reopen, want 8", got)
	}
	ms, _ := s.Retained(context.Background(), "b", "t/3")
	if len(ms) != 1 || ms[0].Payload[4096] != 99 {
		t.Fatalf("t/3 does not hold its last message")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(opPut, &broker.Message{BrokerID: "b", Topic: "t", Payload: []byte("p"), UserProperties: [][2]string{{"a", "b"}}})[8:])
	f.Add(encodeRecord(opDelete, &broker.Message{BrokerID: "b", Topic: "t"})[8:])
	f.Add(encodeRecord(opDeleteBroker, &broker.Message{BrokerID: "b"})[8:])
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeRecord(body, true)
		if err != nil {
			return
		}
		if r.op == opPut {
			// Varints have several encodings, so compare what decodes.
			again, err := decodeRecord(encodeRecord(opPut, r.msg)[8:], true)
			if err != nil || fmt.Sprint(*again.msg) != fmt.Sprint(*r.msg) {
				t.Fatalf("record does not survive a round trip: %+v vs %+v (%v)", again.msg, r.msg, err)
			}
		}
	})
}

// TestRecordQoS: a record keeps its message's QoS (a reloaded QoS 1
// retained message was delivered at QoS 0), and a record written before
// the QoS byte still reads, as QoS 0.
func TestRecordQoS(t *testing.T) {
	m := &broker.Message{BrokerID: "b", Topic: "t", Payload: []byte("x"), QoS: 1}
	body := encodeRecord(opPut, m)[8:]
	r, err := decodeRecord(body, true)
	if err != nil || r.msg.QoS != 1 {
		t.Fatalf("decoded %+v, %v; want QoS 1", r, err)
	}
	old := body[:len(body)-1]
	if r, err := decodeRecord(old, true); err != nil || r.msg.QoS != 0 || string(r.msg.Payload) != "x" {
		t.Fatalf("a record without the QoS byte: %+v, %v", r, err)
	}
	if _, err := decodeRecord(append(append([]byte{}, old...), 3), true); err == nil {
		t.Fatal("QoS 3 decoded")
	}
}
