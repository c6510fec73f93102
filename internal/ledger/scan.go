package ledger

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// line is one complete line of entries.jsonl.
type line struct {
	off   int64
	raw   []byte // without '\n'
	leaf  tlog.Hash
	entry Entry
	err   error // decode, sequence or chain error
	// garbage is set when the line is not even an entry (crash debris);
	// otherwise err describes an entry that is wrong.
	garbage bool
}

// scan is entries.jsonl split into lines, hashed into the Merkle tree.
type scan struct {
	lines   []line
	tail    []byte // bytes after the last '\n'
	tailOff int64
	store   hashStore
}

// scanEntries splits raw into lines, decodes each strictly, checks seq and
// prev, and hashes every complete line (valid or not) into the tree so that
// checkpoints can be compared whatever the damage.
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
		d, err := decodeLine(ln.raw)
		switch {
		case err != nil:
			ln.err, ln.garbage = err, isGarbage(err)
		case d.Seq != uint64(i):
			ln.err = fmt.Errorf("seq is %d, want %d: a line was deleted, duplicated or reordered", d.Seq, i)
		case !hexEqual(d.Prev, prev):
			ln.err = fmt.Errorf("prev does not match the hash of seq %d: that line was changed, or lines were deleted, duplicated or reordered", i-1)
		default:
			if err := d.validate(); err != nil {
				ln.err = fmt.Errorf("invalid entry: %w", err)
			}
		}
		ln.entry = d.Entry
		s.lines = append(s.lines, ln)
		prev = ln.leaf
		off += int64(nl) + 1
	}
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
