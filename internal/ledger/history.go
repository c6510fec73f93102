package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"templated/internal/atomicfile"

	"github.com/sirupsen/logrus"
)

// ReadEntries decodes entries.jsonl under dir without verifying signatures
// or checkpoints (use Verify for that). It stops at the first line that is
// not a valid entry and returns the entries before it with the error.
func ReadEntries(dir string) ([]Entry, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ledgerDirName, entriesName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	sc, err := scanEntries(raw)
	if err != nil {
		return nil, err
	}
	sc.fullAll()
	out := make([]Entry, 0, len(sc.lines))
	for i, ln := range sc.lines {
		if ln.err != nil {
			return out, fmt.Errorf("%s: %w", lineWhere(int64(i)), ln.err)
		}
		out = append(out, ln.entry)
	}
	return out, nil
}

// History returns the entries about template (all entries when template is
// empty), oldest first. Decisions list the templates they planned for in
// Plan; they count as about each of them.
func History(dir, template string) ([]Entry, error) {
	all, err := ReadEntries(dir)
	if template == "" {
		return all, err
	}
	var out []Entry
	for _, e := range all {
		if e.Template == template || planMentions(e, template) {
			out = append(out, e)
		}
	}
	return out, err
}

func planMentions(e Entry, template string) bool {
	for _, a := range e.Plan {
		if a.Template == template {
			return true
		}
	}
	return false
}

// History returns the entries about template; see the History function.
func (l *Ledger) History(template string) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return History(l.dir, template)
}

// Prune removes the evidence folders of builds that finished more than
// retention ago, keeping each template's newest successful build whatever
// its age. It first appends a retention.prune entry listing them (so a crash
// leaves folders that the ledger says are pruned, never the reverse), then
// deletes them. It returns the entry's seq and what was removed; nothing to
// remove appends nothing.
func (l *Ledger) Prune(ctx context.Context, retention time.Duration) (uint64, []BuildRef, error) {
	if retention <= 0 {
		return 0, nil, fmt.Errorf("prune: retention %v must be positive", retention)
	}
	entries, err := l.History("")
	if err != nil {
		return 0, nil, fmt.Errorf("prune: %w", err)
	}
	now := l.opts.Clock().UTC()
	before := now.Add(-retention)
	done := map[BuildRef]bool{}
	newest := map[string]BuildRef{}
	for _, e := range entries {
		if e.Prune != nil {
			for _, b := range e.Prune.Removed {
				done[b] = true
			}
		}
		if e.Kind == KindBuildFinished && e.Result == "success" {
			newest[e.Template] = BuildRef{e.Template, e.BuildID}
		}
	}
	var remove []BuildRef
	for _, e := range entries {
		ref := BuildRef{e.Template, e.BuildID}
		ts, _ := time.Parse(time.RFC3339Nano, e.TS)
		if e.Kind != KindBuildFinished || len(e.Evidence) == 0 || done[ref] || newest[e.Template] == ref || !ts.Before(before) {
			continue
		}
		done[ref] = true
		remove = append(remove, ref)
	}
	if len(remove) == 0 {
		return 0, nil, nil
	}
	seq, err := l.Append(ctx, Entry{Kind: KindRetentionPrune, Prune: &PruneRecord{
		Retention: retention.String(), Before: before.Format(time.RFC3339), Removed: remove}})
	if err != nil {
		return 0, nil, fmt.Errorf("prune: %w", err)
	}
	for _, b := range remove {
		dir := filepath.Join(l.dir, b.Template, b.BuildID)
		if err := os.RemoveAll(dir); err != nil {
			return seq, remove, fmt.Errorf("prune %s: %w", dir, err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(dir)); err != nil {
			return seq, remove, fmt.Errorf("prune: %w", err)
		}
	}
	l.log.WithFields(logrus.Fields{"removed": len(remove), "retention": retention.String()}).Info("pruned old evidence")
	return seq, remove, nil
}
