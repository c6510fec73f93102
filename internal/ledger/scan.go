package ledger

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// line is one complete line of entries.jsonl.
type line struct {
	off  int64
	raw  []byte // without '\n'
	leaf tlog.Hash
	seq  uint64 // from the canonical prefix
	kind Kind
	// err is the first problem found: sequence or chain (fast pass), or
	// strict decoding (full pass).
	err error
	// garbage is set when the line is not even JSON (crash debris).
	garbage bool
	decoded bool
	entry   Entry
}

// scan is entries.jsonl split into lines, hashed into the Merkle tree.
//
// The fast pass reads only each line's canonical prefix
// ({"v":1,"seq":N,"ts":…,"kind":…,"prev":…}) to check the sequence and the
// prev chain, and hashes the line into the tree. Strict decoding (full) is
// done for the lines that need it: unsealed ones, those whose content is
// used (evidence, repairs), and all of them when a checkpoint disagrees.
// Lines a valid signed checkpoint covers are authenticated byte for byte,
// so the fast pass loses nothing there.
type scan struct {
	lines   []line
	tail    []byte // bytes after the last '\n'
	tailOff int64
	store   hashStore
}

func scanEntries(raw []byte) (*scan, error) {
	s := &scan{}
	n := bytes.Count(raw, []byte{'\n'})
	s.lines = make([]line, 0, n)
	s.store.h = make([]tlog.Hash, 0, 2*n+1)
	var off int64
	var prev tlog.Hash
	for i := 0; ; i++ {
		nl := bytes.IndexByte(raw[off:], '\n')
		if nl < 0 {
			s.tail, s.tailOff = raw[off:], off
			return s, nil
		}
		ln := line{off: off, raw: raw[off : off+int64(nl)]}
		ln.leaf = tlog.RecordHash(ln.raw)
		if err := s.store.add(int64(i), ln.leaf); err != nil {
			return nil, err
		}
		seq, kind, prevHex, ok := fastParse(ln.raw)
		switch {
		case !ok:
			ln.err = errors.New("not a canonical entry") // full() says why
		case seq != uint64(i):
			ln.err = fmt.Errorf("seq is %d, want %d: a line was deleted, duplicated or reordered", seq, i)
		case !hexEqual(prevHex, prev):
			ln.err = fmt.Errorf("prev does not match the hash of seq %d: that line was changed, or lines were deleted, duplicated or reordered", i-1)
		}
		ln.seq, ln.kind = seq, Kind(kind)
		s.lines = append(s.lines, ln)
		prev = ln.leaf
		off += int64(nl) + 1
	}
}

// full decodes line i strictly (once) and returns it.
func (s *scan) full(i int64) *line {
	ln := &s.lines[i]
	if ln.decoded {
		return ln
	}
	ln.decoded = true
	d, err := decodeLine(ln.raw)
	switch {
	case err != nil:
		ln.err, ln.garbage = err, isGarbage(err)
	case ln.err != nil: // sequence or chain error from the fast pass
	default:
		if err := d.validate(); err != nil {
			ln.err = fmt.Errorf("invalid entry: %w", err)
		}
	}
	ln.entry = d.Entry
	return ln
}

// fullAll decodes every line.
func (s *scan) fullAll() {
	for i := range s.lines {
		s.full(int64(i))
	}
}

// fastParse reads the canonical prefix of a line.
func fastParse(b []byte) (seq uint64, kind, prev string, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"v":1,"seq":`))
	if !ok {
		return 0, "", "", false
	}
	end := bytes.IndexByte(rest, ',')
	if end <= 0 || (end > 1 && rest[0] == '0') {
		return 0, "", "", false
	}
	seq, err := strconv.ParseUint(string(rest[:end]), 10, 63)
	if err != nil {
		return 0, "", "", false
	}
	rest = rest[end:]
	field := func(name string) (string, bool) {
		r, ok := bytes.CutPrefix(rest, []byte(`,"`+name+`":"`))
		if !ok {
			return "", false
		}
		q := bytes.IndexAny(r, `"\`)
		if q < 0 || r[q] != '"' {
			return "", false
		}
		rest = r[q+1:]
		return string(r[:q]), true
	}
	if _, ok = field("ts"); !ok {
		return 0, "", "", false
	}
	if kind, ok = field("kind"); !ok {
		return 0, "", "", false
	}
	if prev, ok = field("prev"); !ok {
		return 0, "", "", false
	}
	return seq, kind, prev, true
}

// isGarbage tells debris (not JSON, not UTF-8) from a well-formed but wrong
// entry.
func isGarbage(err error) bool {
	var d debrisError
	return errors.As(err, &d)
}

func hexEqual(s string, h tlog.Hash) bool {
	if len(s) != 2*tlog.HashSize {
		return false
	}
	var b [tlog.HashSize]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return false
	}
	return b == h
}
