package ledger

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// checkEvidence verifies every evidence file listed by a valid entry, every
// DSSE envelope and SHA256SUMS, and warns about folders no entry explains.
func (a *analysis) checkEvidence(ctx context.Context, dir string, keys []trustedKey) error {
	if !a.strictDone { // sealed lines passed the fast pass; decode them all now
		a.scan.fullAll()
		for i, ln := range a.scan.lines[:min(a.report.Sealed, int64(len(a.scan.lines)))] {
			if ln.err != nil && ln.decoded && !a.reportedLine(int64(i)) {
				a.report.add(SeverityTamper, lineWhere(int64(i)), "%v", ln.err)
			}
		}
	}
	pruned, started, listed := map[string]bool{}, map[string]bool{}, map[string]map[string]bool{}
	for _, ln := range a.scan.lines {
		if ln.err != nil {
			continue
		}
		if p := ln.entry.Prune; p != nil {
			for _, b := range p.Removed {
				pruned[b.Template+"/"+b.BuildID] = true
			}
		}
		if ln.entry.Kind == KindBuildStarted {
			started[ln.entry.Template+"/"+ln.entry.BuildID] = true
		}
	}
	pubs := pubKeys(keys)
	for _, ln := range a.scan.lines {
		e := ln.entry
		if ln.err != nil || len(e.Evidence) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		folder := e.Template + "/" + e.BuildID
		if listed[folder] == nil {
			listed[folder] = map[string]bool{}
		}
		for _, ev := range e.Evidence {
			listed[folder][ev.Path] = true
		}
		if pruned[folder] {
			continue
		}
		if err := a.checkFiles(dir, e, pubs); err != nil {
			return err
		}
	}
	return a.checkFolders(dir, pruned, started, listed)
}

// checkFiles checks one entry's evidence files, envelope and SHA256SUMS.
func (a *analysis) checkFiles(dir string, e Entry, pubs []ed25519.PublicKey) error {
	r := a.report
	for _, ev := range e.Evidence {
		r.Evidence++
		sum, size, err := hashFile(filepath.Join(dir, filepath.FromSlash(ev.Path)))
		switch {
		case errors.Is(err, os.ErrNotExist):
			r.add(SeverityTamper, ev.Path, "evidence recorded by seq %d is missing: deleted", e.Seq)
			continue
		case err != nil:
			return err
		case sum != ev.SHA256 || size != ev.Size:
			r.add(SeverityTamper, ev.Path, "sha256 %s (%d bytes) but seq %d recorded sha256 %s (%d bytes): the file was modified or swapped", sum[:16], size, e.Seq, ev.SHA256[:16], ev.Size)
		}
		switch ev.Name {
		case FileProvenance:
			r.Envelopes++
			if err := checkProvenanceFile(filepath.Join(dir, filepath.FromSlash(ev.Path)), e, pubs); err != nil {
				r.add(SeverityTamper, ev.Path, "%v", err)
			}
		case FileSHA256SUMS:
			if err := checkSums(filepath.Join(dir, filepath.FromSlash(ev.Path)), e); err != nil {
				r.add(SeverityTamper, ev.Path, "%v", err)
			}
		}
	}
	return nil
}

func checkProvenanceFile(p string, e Entry, pubs []ed25519.PublicKey) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	env, err := parseEnvelope(b)
	if err != nil {
		return err
	}
	payload, err := OpenEnvelope(env, PayloadTypeInToto, pubs)
	if err != nil {
		return err
	}
	var st Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return fmt.Errorf("provenance statement: %w", err)
	}
	m, ok := findEvidence(e.Evidence, FileManifest)
	if !ok {
		return errors.New("provenance without a recorded manifest")
	}
	if err := checkStatement(st, m.SHA256, e.BuildID); err != nil {
		return fmt.Errorf("provenance statement: %w", err)
	}
	return nil
}

func checkSums(p string, e Entry) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	sums, err := parseSums(b)
	if err != nil {
		return fmt.Errorf("SHA256SUMS: %w", err)
	}
	for _, ev := range e.Evidence {
		if ev.Name == FileSHA256SUMS {
			continue
		}
		if sums[ev.Name] != ev.SHA256 {
			return fmt.Errorf("SHA256SUMS disagrees with the ledger about %s", ev.Name)
		}
	}
	return nil
}

// checkFolders warns about evidence folders and files no entry lists.
func (a *analysis) checkFolders(dir string, pruned, started map[string]bool, listed map[string]map[string]bool) error {
	r := a.report
	tdirs, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read evidence root: %w", err)
	}
	for _, td := range tdirs {
		if !td.IsDir() || td.Name() == ledgerDirName {
			continue
		}
		bdirs, err := os.ReadDir(filepath.Join(dir, td.Name()))
		if err != nil {
			return fmt.Errorf("read evidence folder: %w", err)
		}
		for _, bd := range bdirs {
			folder := td.Name() + "/" + bd.Name()
			files := listed[folder]
			switch {
			case pruned[folder]:
				r.add(SeverityWarning, folder, "pruned by a retention.prune entry but still present")
			case files == nil && started[folder]:
				r.add(SeverityWarning, folder, "build started but no build.finished entry lists its evidence (interrupted build)")
			case files == nil:
				r.add(SeverityWarning, folder, "not referenced by any entry")
			default:
				a.unlistedFiles(dir, folder, files)
			}
		}
	}
	return nil
}

func (a *analysis) unlistedFiles(dir, folder string, files map[string]bool) {
	des, _ := os.ReadDir(filepath.Join(dir, filepath.FromSlash(folder)))
	for _, de := range des {
		if p := folder + "/" + de.Name(); !files[p] {
			a.report.add(SeverityWarning, p, "not listed in the ledger")
		}
	}
}

func (a *analysis) reportedLine(i int64) bool {
	where := lineWhere(i)
	for _, f := range a.report.Findings {
		if f.Where == where {
			return true
		}
	}
	return false
}
