package retainlog

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// minBody is the smallest record body: an op, a one-byte broker id and
// an empty topic, each string with its one-byte length.
const minBody = 4

// maxLoggedRegions bounds the log lines of one recovery; the summary
// line counts them all.
const maxLoggedRegions = 10

// recovery is what load skipped.
type recovery struct {
	records   int   // records read
	regions   int   // damaged regions skipped before the last valid record
	skipped   int64 // their bytes
	first     int64 // offset of the first one; -1 for none
	tail      int64 // offset of what follows the last valid record; the file's size if nothing does
	tailTorn  bool  // that tail is an interrupted append, not damage
	budget    int64 // bytes resync may still read to check candidates
	afterSkip int   // records read after the first damaged region
}

// load reads the log and builds the index. It skips damaged regions (see
// the package doc), cuts off what follows the last valid record, and
// when anything but a torn tail was lost, keeps a copy of the file as it
// was and rewrites the log without the damage.
func (s *Store) load() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("retainlog: %w", err)
	}
	size := fi.Size()
	// Checking candidates costs each one its length; the budget keeps a
	// recovery linear in the file's size whatever its bytes are.
	rc := recovery{first: -1, tail: size, budget: 4*size + 64<<20}
	var off int64
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, size), 64<<10)
	for off < size {
		n, rec, ok := readRecord(r, size-off)
		if ok {
			s.apply(rec.op, rec.brokerID, rec.topic, entry{off: off, size: 8 + n, expiry: rec.expiry})
			off += 8 + n
			rc.records++
			if rc.regions > 0 {
				rc.afterSkip++
			}
			continue
		}
		next := s.resync(off, size, &rc.budget)
		if next == size {
			rc.tail = off
			rc.tailTorn = s.torn(off, size)
			break
		}
		if rc.regions < maxLoggedRegions {
			s.log.Error("retained log: skipping a damaged region", "path", s.path, "offset", off, "bytes", next-off)
		}
		if rc.first < 0 {
			rc.first = off
		}
		rc.regions++
		rc.skipped += next - off
		s.garbage += next - off
		off = next
		r.Reset(io.NewSectionReader(s.f, off, size-off))
	}

	damaged := rc.regions > 0 || (rc.tail < size && !rc.tailTorn)
	var copyPath string
	if damaged {
		if copyPath, err = s.keepCopy(); err != nil {
			return fmt.Errorf("retainlog: %s is damaged and a copy of it could not be kept, so it was left as it is: %w", s.path, err)
		}
	}
	if rc.tail < size {
		if !damaged {
			s.log.Warn("retained log: dropping a torn last record (an append cut short by a crash, never acknowledged)", "path", s.path, "offset", rc.tail, "bytes", size-rc.tail)
		}
		if err := s.f.Truncate(rc.tail); err != nil {
			return fmt.Errorf("retainlog: truncate the tail of %s: %w", s.path, err)
		}
	}
	s.size = rc.tail
	if !damaged {
		return nil
	}
	first := rc.first
	if first < 0 {
		first = rc.tail
	}
	s.log.Error("retained log damaged: skipped what could not be read and kept the rest",
		"path", s.path, "offset", first, "records_loaded", rc.records, "records_after_damage", rc.afterSkip,
		"regions_skipped", rc.regions, "bytes_skipped", rc.skipped, "tail_bytes_dropped", size-rc.tail, "copy", copyPath)
	if rc.regions > 0 {
		// Rewrite the log without the damaged bytes, so the next start
		// does not report them again.
		if err := s.compact(); err != nil {
			s.log.Error("retained log: rewriting without the damaged regions failed; they stay skipped", "path", s.path, "error", err)
		}
	}
	return nil
}

// readRecord reads the record at r's position, of which at most left
// bytes remain in the file: its body's length and decoded index fields,
// or ok false when it is torn or damaged.
func readRecord(r *bufio.Reader, left int64) (n int64, rec *record, ok bool) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, false
	}
	n = int64(binary.BigEndian.Uint32(hdr[:4]))
	if n < minBody || n > maxRecord || 8+n > left {
		return 0, nil, false
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil || crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
		return 0, nil, false
	}
	rec, err := decodeRecord(body, false)
	return n, rec, err == nil
}

// resync returns the offset of the first valid record after from, or
// size when there is none or the budget ran out. It tries first where
// the length at from points, which is the next record when the damage
// is in the body or the checksum, then every offset in turn.
func (s *Store) resync(from, size int64, budget *int64) int64 {
	var hdr [8]byte
	if _, err := s.f.ReadAt(hdr[:], from); err == nil {
		if next := from + 8 + int64(binary.BigEndian.Uint32(hdr[:4])); next < size && s.validAt(next, size, budget) {
			return next
		}
	}
	const window = 64 << 10
	buf := make([]byte, window+9)
	for base := from + 1; base+8+minBody <= size; base += window {
		k, _ := s.f.ReadAt(buf[:min(int64(len(buf)), size-base)], base)
		for i := 0; i+9 <= k && i < window; i++ {
			n := int64(binary.BigEndian.Uint32(buf[i:]))
			if n < minBody || n > maxRecord || base+int64(i)+8+n > size || buf[i+8] < opPut || buf[i+8] > opDeleteBroker {
				continue
			}
			if *budget <= 0 {
				return size
			}
			if s.validAt(base+int64(i), size, budget) {
				return base + int64(i)
			}
		}
	}
	return size
}

// validAt reports whether a whole, valid record starts at off.
func (s *Store) validAt(off, size int64, budget *int64) bool {
	var hdr [8]byte
	if _, err := s.f.ReadAt(hdr[:], off); err != nil {
		return false
	}
	n := int64(binary.BigEndian.Uint32(hdr[:4]))
	if n < minBody || n > maxRecord || off+8+n > size || n > *budget {
		return false
	}
	*budget -= n
	body := make([]byte, n)
	if _, err := s.f.ReadAt(body, off+8); err != nil || crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
		return false
	}
	_, err := decodeRecord(body, false)
	return err == nil
}

// torn reports whether the bytes from off to size are an append a crash
// cut short: a partial header, a header whose record runs past the end,
// or zeros (a file system may extend a file before its data lands).
func (s *Store) torn(off, size int64) bool {
	if size-off < 8 {
		return true
	}
	var hdr [8]byte
	if _, err := s.f.ReadAt(hdr[:], off); err != nil {
		return true
	}
	if n := int64(binary.BigEndian.Uint32(hdr[:4])); n > 0 && off+8+n > size {
		return true
	}
	buf := make([]byte, 64<<10)
	for p := off; p < size; {
		k, err := s.f.ReadAt(buf[:min(int64(len(buf)), size-p)], p)
		for _, c := range buf[:k] {
			if c != 0 {
				return false
			}
		}
		if err != nil && err != io.EOF {
			return false
		}
		p += int64(k)
		if k == 0 {
			break
		}
	}
	return true
}

// keepCopy copies the log as it is to a new file next to it, named after
// the log and the time, and returns its path.
func (s *Store) keepCopy() (string, error) {
	dir, base := filepath.Split(s.path)
	dst, err := os.CreateTemp(dir, base+".damaged-"+time.Now().UTC().Format("20060102T150405Z")+"-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, io.NewSectionReader(s.f, 0, 1<<62))
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst.Name())
		return "", err
	}
	syncDir(dir)
	return dst.Name(), nil
}
