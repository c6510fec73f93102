package ledger

import (
	"encoding/json"
	"fmt"
	"time"
)

// Head is the ledger's newest checkpoint and when the entry it ends with
// was appended.
type Head struct {
	Checkpoint
	// At is the time of entry Size-1 (zero when its line cannot be read).
	At time.Time
}

// Head returns the newest checkpoint this writer signed or loaded (false
// before the first entry), for a status page. It reads the last line of
// the entries file for its time, holding the writer's lock so that no
// entry is appended in between.
func (l *Ledger) Head() (Head, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lastNote) == 0 {
		return Head{}, false, nil
	}
	cp, err := openCheckpoint(l.lastNote, []trustedKey{mustTrusted(l.key.vkey)})
	if err != nil {
		return Head{}, false, fmt.Errorf("newest checkpoint: %w", err)
	}
	h := Head{Checkpoint: cp}
	if line, _, err := readLastLine(l.path(entriesName)); err == nil {
		var e struct {
			Seq uint64 `json:"seq"`
			TS  string `json:"ts"`
		}
		if json.Unmarshal(line, &e) == nil && cp.Size > 0 && e.Seq == uint64(cp.Size-1) {
			h.At, _ = time.Parse(time.RFC3339Nano, e.TS)
		}
	}
	return h, true, nil
}
