package ledger

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// WriteHistory prints one line per entry, with evidence folders below builds.
func WriteHistory(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tTEMPLATE\tRESULT\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.TS, e.Kind, cmp.Or(e.Template, "-"), cmp.Or(e.Result, "-"), e.Summary())
	}
	return tw.Flush()
}

// Summary says in one line what an entry holds beyond its kind.
func (e Entry) Summary() string {
	var parts []string
	if e.BuildID != "" {
		parts = append(parts, "build "+e.BuildID)
	}
	if e.Step != "" {
		parts = append(parts, "step "+e.Step)
	}
	if e.Reason != nil {
		parts = append(parts, strings.TrimSpace("reason "+e.Reason.Code+" "+e.Reason.Detail))
	}
	for _, a := range e.Plan {
		parts = append(parts, a.Template+": "+a.Action)
	}
	if e.Git != nil {
		c := e.Git.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if e.Git.Dirty {
			c += " (dirty)"
		}
		parts = append(parts, "commit "+c)
		if e.Git.Signer != "" {
			parts = append(parts, "signed by "+e.Git.Signer)
		}
	}
	if e.CI != nil && e.CI.URL != "" {
		parts = append(parts, "ci "+e.CI.URL)
	}
	if e.Versions != nil && e.Versions.Packer != "" {
		parts = append(parts, "packer "+e.Versions.Packer)
	}
	if p := e.Proxmox; p != nil && p.ReservedVMID != 0 {
		parts = append(parts, fmt.Sprintf("node %s vmid %d staging %d", p.Node, p.ReservedVMID, p.StagingVMID))
	}
	if e.DurationMS > 0 {
		parts = append(parts, fmt.Sprintf("%.1fs", float64(e.DurationMS)/1000))
	}
	if len(e.Evidence) > 0 {
		parts = append(parts, fmt.Sprintf("%d evidence files", len(e.Evidence)))
	}
	if e.Prune != nil {
		parts = append(parts, fmt.Sprintf("pruned %d builds (retention %s)", len(e.Prune.Removed), e.Prune.Retention))
	}
	if r := e.Repair; r != nil {
		parts = append(parts, fmt.Sprintf("sealed %v, quarantined %d", r.Sealed, len(r.Quarantined)))
	}
	if e.Error != "" {
		parts = append(parts, "error: "+e.Error)
	}
	return strings.Join(parts, "; ")
}

// WriteText says for people what a repair did.
func (rep *RepairRecord) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "repaired and recorded in a ledger.repair entry:\n  sealed entries: %v\n", rep.Sealed)
	for _, q := range rep.Quarantined {
		fmt.Fprintf(w, "  quarantined %d bytes from offset %d to %s (sha256 %s)\n", q.Length, q.Offset, q.File, q.SHA256)
	}
	if rep.Checkpoint != "" {
		fmt.Fprintf(w, "  %s\n", rep.Checkpoint)
	}
	for _, t := range rep.RemovedTmp {
		if _, err := fmt.Fprintf(w, "  removed temporary file %s\n", t); err != nil {
			return err
		}
	}
	return nil
}

// ReadVerifierKeys reads verifier key files.
func ReadVerifierKeys(files []string) ([]string, error) {
	var keys []string
	for _, f := range files {
		k, err := ReadVerifierKey(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ReadTrustedCheckpoints reads checkpoint files kept off the host, for
// VerifyOptions.TrustedCheckpoints.
func ReadTrustedCheckpoints(files []string) ([]TrustedCheckpoint, error) {
	var out []TrustedCheckpoint
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trusted checkpoint: %w", err)
		}
		out = append(out, TrustedCheckpoint{Name: f, Note: b})
	}
	return out, nil
}

// WriteWitnesses says for people whether each configured witness cosigned
// the newest checkpoint; nothing when no witness is configured. Call it
// after Close, which makes the last, bounded attempt to reach them.
func (l *Ledger) WriteWitnesses(w io.Writer) error {
	l.mu.Lock()
	n := l.n
	l.mu.Unlock()
	for _, s := range l.WitnessStatus() {
		var err error
		switch {
		case s.Larger > 0:
			_, err = fmt.Fprintf(w, "Witness %s has seen a larger tree (%d entries) than this ledger (%d): it was cut or rolled back; run templated ledger verify --witnesses 1\n", s.Name, s.Larger, n)
		case s.Cosigned >= n:
			_, err = fmt.Fprintf(w, "Witness %s cosigned the checkpoint of %d entries.\n", s.Name, n)
		default:
			_, err = fmt.Fprintf(w, "Witness %s: no cosignature for the checkpoint of %d entries yet (%s); it is sent again with the next entry, and templated ledger verify --witnesses 1 checks.\n",
				s.Name, n, cmp.Or(s.LastError, "not reached"))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
