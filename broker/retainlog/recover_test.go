package retainlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openpubsub/pubsub/broker"
)

// logBuffer collects a store's logs, one JSON object a line.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines of a level or above.
func (b *logBuffer) lines(t *testing.T, level slog.Level) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		var lv slog.Level
		_ = lv.UnmarshalText([]byte(m["level"].(string)))
		if lv >= level {
			out = append(out, m)
		}
	}
	return out
}

func openLogged(t *testing.T, path string) (*Store, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := Open(path, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// copies returns the damaged-log copies next to path.
func copies(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".damaged-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeFive writes five records to a new log and returns its path and
// the offset of each record.
func writeFive(t *testing.T) (string, []int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	var offs []int64
	var off int64
	for i := range 5 {
		m := &broker.Message{BrokerID: "b", Topic: fmt.Sprintf("t/%d", i), Payload: []byte(fmt.Sprintf("payload %d", i))}
		retain(t, s, m)
		offs = append(offs, off)
		off += int64(len(encodeRecord(opPut, m)))
	}
	s.Close()
	return path, offs
}

// TestDamagedRecord flips one byte of the middle record: the other four
// load, an error names the offset and the counts, a copy of the damaged
// file is kept, and the log is rewritten clean.
func TestDamagedRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   int64 // offset in the middle record
	}{
		{"LengthHighByte", 0},
		{"LengthLowByte", 3},
		{"Checksum", 5},
		{"Op", 8},
		{"Payload", 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, offs := writeFive(t)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[offs[2]+tc.at] ^= 0x5a
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}

			s, logs := openLogged(t, path)
			want := []string{"t/0=payload 0", "t/1=payload 1", "t/3=payload 3", "t/4=payload 4"}
			if got := topics(t, s, "b", "#"); !slices.Equal(got, want) {
				t.Fatalf("after a damaged record: %q, want %q", got, want)
			}
			errs := logs.lines(t, slog.LevelError)
			summary := errs[len(errs)-1]
			for k, v := range map[string]float64{"offset": float64(offs[2]), "records_loaded": 4, "records_after_damage": 2, "regions_skipped": 1, "bytes_skipped": float64(offs[3] - offs[2])} {
				if summary[k] != v {
					t.Errorf("error log %s = %v, want %v (%v)", k, summary[k], v, summary)
				}
			}
			cs := copies(t, path)
			if len(cs) != 1 || summary["copy"] != cs[0] {
				t.Fatalf("copies %q, logged %v", cs, summary["copy"])
			}
			if kept, _ := os.ReadFile(cs[0]); !bytes.Equal(kept, data) {
				t.Fatal("the copy is not the damaged file")
			}

			retain(t, s, &broker.Message{BrokerID: "b", Topic: "after", Payload: []byte("ok")})
			s.Close()
			s, logs = openLogged(t, path)
			if got := topics(t, s, "b", "#"); !slices.Equal(got, append([]string{"after=ok"}, want...)) {
				t.Fatalf("after reopening: %q", got)
			}
			if l := logs.lines(t, slog.LevelWarn); len(l) != 0 {
				t.Fatalf("the rewritten log is still reported: %v", l)
			}
			if cs := copies(t, path); len(cs) != 1 {
				t.Fatalf("copies after reopening: %q", cs)
			}
		})
	}
}

// TestDamagedTail damages the last record (a complete one, so not an
// interrupted append): the others load, and it is reported and copied.
func TestDamagedTail(t *testing.T) {
	path, offs := writeFive(t)
	data, _ := os.ReadFile(path)
	data[offs[4]+20] ^= 1
	os.WriteFile(path, data, 0o600)
	s, logs := openLogged(t, path)
	if got := len(topics(t, s, "b", "#")); got != 4 {
		t.Fatalf("%d records, want 4", got)
	}
	errs := logs.lines(t, slog.LevelError)
	if len(errs) != 1 || errs[0]["offset"] != float64(offs[4]) || errs[0]["tail_bytes_dropped"] != float64(len(data)-int(offs[4])) {
		t.Fatalf("errors logged: %v", errs)
	}
	if len(copies(t, path)) != 1 {
		t.Fatal("no copy of the damaged log")
	}
}

// FuzzOpen opens a log of arbitrary bytes: Open succeeds, every indexed
// record reads back, the store appends, and the next Open finds the log
// clean.
func FuzzOpen(f *testing.F) {
	var valid []byte
	for i := range 4 {
		valid = append(valid, encodeRecord(opPut, &broker.Message{BrokerID: "b", Topic: fmt.Sprintf("t/%d", i), Payload: []byte("p")})...)
	}
	valid = append(valid, encodeRecord(opDelete, &broker.Message{BrokerID: "b", Topic: "t/1"})...)
	valid = append(valid, encodeRecord(opDeleteBroker, &broker.Message{BrokerID: "c"})...)
	f.Add(valid)
	for _, at := range []int{0, 3, 5, 9, 30, len(valid) - 1} {
		d := slices.Clone(valid)
		d[at] ^= 0x81
		f.Add(d)
	}
	f.Add(valid[:len(valid)-3])
	f.Add(append(slices.Clone(valid), 0, 0, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), FileName)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		logs := &logBuffer{}
		s, err := Open(path, slog.New(slog.NewJSONHandler(logs, nil)))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		s.mu.RLock()
		var ids []string
		for b := range s.index {
			ids = append(ids, b)
		}
		s.mu.RUnlock()
		for _, b := range ids {
			if _, err := s.Retained(context.Background(), b, "#"); err != nil {
				t.Fatalf("Retained(%q): %v", b, err)
			}
		}
		before := s.Len()
		if err := s.Retain(context.Background(), &broker.Message{BrokerID: "fuzz", Topic: "new", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		logs2 := &logBuffer{}
		s2, err := Open(path, slog.New(slog.NewJSONHandler(logs2, nil)))
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer s2.Close()
		if l := logs2.lines(t, slog.LevelWarn); len(l) != 0 {
			t.Fatalf("the recovered log is not clean: %v", l)
		}
		if got := s2.Len(); got < before {
			t.Fatalf("%d records after reopening, %d before", got, before)
		}
		if ms, err := s2.Retained(context.Background(), "fuzz", "new"); err != nil || len(ms) != 1 {
			t.Fatalf("the appended record: %v, %v", ms, err)
		}
	})
}
