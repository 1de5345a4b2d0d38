// Package retainlog is a broker.RetainedStore in one append-only file: the
// retained message of each topic of each broker a node serves, kept across
// restarts of the node.
//
// Every change is a record appended to the log and made durable (fsync)
// before Retain returns; concurrent changes share one fsync (group
// commit). Only an index (broker, topic) -> record position stays in
// memory, so the payloads cost disk, not heap: the node's MQTT servers
// already hold the live copies. When superseded records outweigh the live
// ones, the log is rewritten with the live records only, into a new file
// that replaces the old one by rename.
//
// A record is [length u32][CRC-32C u32][body], big-endian. Opening the log
// reads it from the start. A torn last record (a crash in the middle of an
// append, which was never acknowledged) is cut off with a warning. A
// damaged record anywhere else (a flipped bit on disk) is skipped: the
// reader scans forward for the next record whose header, checksum and
// body are valid and reads on from there, keeps a copy of the damaged
// file next to it, logs an error with the offset and counts, and rewrites
// the log without the damaged bytes (see recover.go).
package retainlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/topic"
)

// FileName is the log's name inside a node's data dir.
const FileName = "retained.log"

// compactMin is the log size below which it is never compacted: rewriting
// a small file saves nothing worth the work.
const compactMin = 1 << 20

// maxRecord bounds one record, so that a corrupt length cannot make Open
// allocate gigabytes. A retained payload is bounded by the MQTT packet
// size (256 MiB at most), plus its properties.
const maxRecord = 300 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by every method once Close was called.
var ErrClosed = errors.New("retainlog: store is closed")

// entry locates one live record.
type entry struct {
	off    int64 // of the record's header
	size   int64 // header included
	expiry int64 // Unix nanoseconds; 0 for never
}

// Store is a broker.RetainedStore backed by an append-only log. It is safe
// for concurrent use.
type Store struct {
	path    string
	log     *slog.Logger
	reqs    chan *request
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed once the writer has exited

	mu      sync.RWMutex // guards the fields below; the writer holds it to change them
	f       *os.File
	size    int64
	garbage int64 // bytes of records that no longer count
	index   map[string]map[string]entry
	closed  bool

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// request is one change waiting for the writer.
type request struct {
	op       byte
	brokerID string
	topic    string
	rec      []byte // the encoded record, header included
	expiry   int64
	done     chan error
}

// Open opens the log at path, creating it and its directory if needed, and
// reads its index, recovering from damage as the package doc says. log
// receives the recovery report and compaction errors; nil means
// slog.Default().
func Open(path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("retainlog: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("retainlog: %w", err)
	}
	s := &Store{path: path, log: log, f: f, index: map[string]map[string]entry{}, reqs: make(chan *request, 256), done: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.load(); err != nil {
		s.f.Close()
		return nil, err
	}
	s.wg.Go(s.writer)
	return s, nil
}

// apply updates the index for one record; the caller holds mu or owns s.
func (s *Store) apply(op byte, brokerID, name string, e entry) {
	switch op {
	case opPut:
		topics := s.index[brokerID]
		if topics == nil {
			topics = map[string]entry{}
			s.index[brokerID] = topics
		}
		if old, ok := topics[name]; ok {
			s.garbage += old.size
		}
		topics[name] = e
	case opDelete:
		if old, ok := s.index[brokerID][name]; ok {
			s.garbage += old.size
			delete(s.index[brokerID], name)
			if len(s.index[brokerID]) == 0 {
				delete(s.index, brokerID)
			}
		}
		s.garbage += e.size
	case opDeleteBroker:
		for _, old := range s.index[brokerID] {
			s.garbage += old.size
		}
		delete(s.index, brokerID)
		s.garbage += e.size
	}
}

// Retain stores m as the retained message of its topic, or deletes the
// topic's retained message when m's payload is empty, and returns once the
// change is on disk.
func (s *Store) Retain(ctx context.Context, m *broker.Message) error {
	if m.BrokerID == "" || m.Topic == "" {
		return errors.New("retainlog: a message needs a broker id and a topic")
	}
	op := opPut
	if len(m.Payload) == 0 {
		op = opDelete
	}
	var exp int64
	if !m.Expiry.IsZero() {
		exp = m.Expiry.UnixNano()
	}
	return s.submit(ctx, &request{op: op, brokerID: m.BrokerID, topic: m.Topic, expiry: exp, rec: encodeRecord(op, m)})
}

// DeleteRetained deletes every retained message of a broker.
func (s *Store) DeleteRetained(ctx context.Context, brokerID string) error {
	s.mu.RLock()
	_, any := s.index[brokerID]
	s.mu.RUnlock()
	if !any {
		return nil
	}
	return s.submit(ctx, &request{op: opDeleteBroker, brokerID: brokerID, rec: encodeRecord(opDeleteBroker, &broker.Message{BrokerID: brokerID})})
}

func (s *Store) submit(ctx context.Context, req *request) error {
	req.done = make(chan error, 1)
	select {
	case s.reqs <- req:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the change happens whatever ctx does; waiting for it
	// keeps the caller's view in order with the log.
	select {
	case err := <-req.done:
		return err
	case <-s.stopped:
		select {
		case err := <-req.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// writer appends queued records, one fsync for as many as are waiting.
func (s *Store) writer() {
	defer close(s.stopped)
	var batch []*request
	for {
		select {
		case <-s.done:
			s.fail(ErrClosed)
			return
		case req := <-s.reqs:
			batch = append(batch[:0], req)
		}
	drain:
		for len(batch) < 1024 {
			select {
			case req := <-s.reqs:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		err := s.write(batch)
		for _, req := range batch {
			req.done <- err
		}
		if err == nil {
			s.maybeCompact()
		}
	}
}

// fail answers every queued request with err.
func (s *Store) fail(err error) {
	for {
		select {
		case req := <-s.reqs:
			req.done <- err
		default:
			return
		}
	}
}

func (s *Store) write(batch []*request) error {
	size := 0
	for _, req := range batch {
		size += len(req.rec)
	}
	buf := make([]byte, 0, size)
	for _, req := range batch {
		buf = append(buf, req.rec...)
	}
	s.mu.RLock()
	f, off := s.f, s.size
	s.mu.RUnlock()
	if _, err := f.WriteAt(buf, off); err != nil {
		return fmt.Errorf("retainlog: append: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("retainlog: sync: %w", err)
	}
	s.mu.Lock()
	for _, req := range batch {
		n := int64(len(req.rec))
		s.apply(req.op, req.brokerID, req.topic, entry{off: off, size: n, expiry: req.expiry})
		off += n
	}
	s.size = off
	s.mu.Unlock()
	return nil
}

// maybeCompact rewrites the log once superseded records make up more than
// half of it.
func (s *Store) maybeCompact() {
	s.mu.RLock()
	need := s.size > compactMin && s.garbage*2 > s.size
	s.mu.RUnlock()
	if need {
		if err := s.compact(); err != nil {
			// The old log is intact and stays in use; the next write
			// tries again.
			s.log.Error("retained log compaction failed", "path", s.path, "error", err)
		}
	}
}

// compact writes the live, unexpired records to a new file and swaps it
// in. Only the writer goroutine calls it, so the log does not grow
// meanwhile; readers keep reading the old file until the swap.
func (s *Store) compact() error {
	tmp := s.path + ".compact"
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if nf != nil {
			nf.Close()
			os.Remove(tmp)
		}
	}()
	now := time.Now().UnixNano()
	s.mu.RLock()
	old := s.f
	type live struct {
		brokerID, topic string
		e               entry
	}
	var lives []live
	for b, topics := range s.index {
		for t, e := range topics {
			if e.expiry == 0 || e.expiry > now {
				lives = append(lives, live{b, t, e})
			}
		}
	}
	s.mu.RUnlock()
	w := bufio.NewWriterSize(nf, 64<<10)
	index := map[string]map[string]entry{}
	var off int64
	for _, l := range lives {
		rec := make([]byte, l.e.size)
		if _, err := old.ReadAt(rec, l.e.off); err != nil {
			return err
		}
		if _, err := w.Write(rec); err != nil {
			return err
		}
		if index[l.brokerID] == nil {
			index[l.brokerID] = map[string]entry{}
		}
		index[l.brokerID][l.topic] = entry{off: off, size: l.e.size, expiry: l.e.expiry}
		off += l.e.size
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := nf.Sync(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	syncDir(filepath.Dir(s.path))
	s.mu.Lock()
	s.f, s.size, s.garbage, s.index = nf, off, 0, index
	s.mu.Unlock()
	nf = nil
	return old.Close()
}

// syncDir makes a rename durable; errors are ignored, as some file systems
// cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Retained returns the unexpired retained messages of brokerID whose
// topics match filter, in no particular order.
func (s *Store) Retained(ctx context.Context, brokerID, filter string) ([]*broker.Message, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	now := time.Now().UnixNano()
	var out []*broker.Message
	for name, e := range s.index[brokerID] {
		if (e.expiry != 0 && e.expiry <= now) || !topic.Match(filter, name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		buf := make([]byte, e.size)
		if _, err := s.f.ReadAt(buf, e.off); err != nil {
			return nil, fmt.Errorf("retainlog: read %s: %w", s.path, err)
		}
		rec, err := decodeRecord(buf[8:], true)
		if err != nil {
			return nil, fmt.Errorf("retainlog: record at %d of %s: %w", e.off, s.path, err)
		}
		out = append(out, rec.msg)
	}
	return out, nil
}

// Len returns the number of retained messages held, expired ones included
// until the next compaction.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, topics := range s.index {
		n += len(topics)
	}
	return n
}

// Close stops the writer and closes the file; changes already acknowledged
// are on disk. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.wg.Wait()
		s.mu.Lock()
		s.closed = true
		err = s.f.Close()
		s.mu.Unlock()
	})
	return err
}

var _ broker.RetainedStore = (*Store)(nil)
