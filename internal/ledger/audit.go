package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// KindLedgerVerify records a full verification run (VerifyEntry).
const KindLedgerVerify Kind = "ledger.verify"

// VerifyHistory is the full check Open skips, for a daemon to run in the
// background on a schedule: Verify of the whole history (every line, every
// checkpoint, and evidence unless opts.SkipEvidence), with this ledger's key,
// the checkpoint this host verified last as a trusted checkpoint, and the
// configured witnesses when opts.Witnesses asks for cosignatures. opts.Dir
// and opts.VerifierKeys are filled in when empty. It takes no writer lock:
// appends go on while it runs (it waits only for one in progress). Report
// its Status, ExitCode and Findings (e.g. in /metrics and /readyz) and
// record it with Append(ctx, VerifyEntry(r, took)).
func (l *Ledger) VerifyHistory(ctx context.Context, opts VerifyOptions) (*Report, error) {
	if opts.Dir == "" {
		opts.Dir = l.dir
	}
	if len(opts.VerifierKeys) == 0 {
		opts.VerifierKeys = []string{l.key.vkey}
	}
	host, err := l.hostCheckpoint()
	if err != nil {
		return nil, err
	}
	opts.TrustedCheckpoints = append(opts.TrustedCheckpoints, host...)
	r, err := Verify(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("verify history: %w", err)
	}
	return r, nil
}

// VerifyEntry is the ledger.verify entry recording a verification: its
// status, what it covered, how long it took and its first problem.
func VerifyEntry(r *Report, took time.Duration) Entry {
	d := map[string]string{
		"entries":     strconv.FormatInt(r.Entries, 10),
		"sealed":      strconv.FormatInt(r.Sealed, 10),
		"findings":    strconv.Itoa(len(r.Findings)),
		"duration_ms": strconv.FormatInt(took.Milliseconds(), 10),
	}
	switch r.Status() {
	case StatusTampered:
		d["first"] = truncate(r.first(SeverityTamper), 500)
	case StatusRepairable:
		d["first"] = truncate(r.first(SeverityCrash), 500)
	}
	return Entry{Kind: KindLedgerVerify, Result: string(r.Status()), Detail: d}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
