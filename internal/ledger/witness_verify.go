package ledger

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// SeverityUnwitnessed is a witness requirement not met (fewer valid
// cosignatures than required, a witness unreachable): verify exits 4.
const SeverityUnwitnessed Severity = "unwitnessed"

// StatusUnwitnessed: intact locally, but not witnessed as required.
const StatusUnwitnessed Status = "unwitnessed"

// WitnessCheck configures the witness part of Verify.
type WitnessCheck struct {
	// Required is how many configured witnesses must have cosigned the
	// newest checkpoint.
	Required int
	// Witnesses to check; nil reads ledger/witnesses.json (a hint anyone
	// with write access can change, so auditors pass their own).
	Witnesses []WitnessConfig
	// Offline uses only stored cosignatures; otherwise every witness is
	// also asked (add-checkpoint) to cosign the newest checkpoint, which
	// tells whether it has seen a larger or a different tree.
	Offline    bool
	Timeout    time.Duration // per witness; default 5 s
	HTTPClient *http.Client
}

// checkWitnesses adds the witness findings to the report: stored
// cosignatures on a larger or different tree than the ledger's, witnesses
// that have cosigned one, and fewer valid cosignatures on the newest
// checkpoint than required.
func (a *analysis) checkWitnesses(ctx context.Context, dir string, wc WitnessCheck) error {
	r := a.report
	ws := wc.Witnesses
	if ws == nil {
		var err error
		if ws, err = ReadWitnesses(dir); err != nil {
			return err
		}
	}
	r.WitnessesRequired = wc.Required
	if a.current == nil {
		if wc.Required > 0 {
			r.add(SeverityUnwitnessed, checkpointName, "no checkpoint to be cosigned (the ledger is empty or was wiped); %d witness cosignatures required", wc.Required)
		}
		return nil
	}
	text, sigs, err := splitNote(a.current)
	if err != nil {
		return err
	}
	cp, _ := parseCheckpointText(text)
	stored, _ := os.ReadFile(filepath.Join(dir, ledgerDirName, cosigDirName, noteName(cp.Size)))
	_, storedSigs, _ := splitNote(stored)
	a.checkStoredCosignatures(dir, ws)
	if wc.Timeout <= 0 {
		wc.Timeout = 5 * time.Second
	}
	if wc.HTTPClient == nil {
		wc.HTTPClient = &http.Client{Timeout: wc.Timeout}
	}
	var missing []string
	for _, w := range ws {
		v, err := parseWitnessKey(w.VerifierKey)
		if err != nil {
			return err
		}
		ok := len(cosignedBy(text, append(sigs, storedSigs...), v)) > 0
		if !wc.Offline {
			ok = a.askWitness(ctx, wc, w, cp) || ok
		}
		if ok {
			r.Cosignatures++
		} else {
			missing = append(missing, w.Name)
		}
	}
	if r.Cosignatures < wc.Required {
		r.add(SeverityUnwitnessed, checkpointName, "checkpoint %d has %d valid witness cosignatures, %d required (missing: %v)", cp.Size, r.Cosignatures, wc.Required, missing)
	}
	return nil
}

// askWitness asks w to cosign the newest checkpoint, from the size it
// knows, and reports a witness that has seen a larger or different tree.
func (a *analysis) askWitness(ctx context.Context, wc WitnessCheck, w WitnessConfig, cp Checkpoint) bool {
	ctx, cancel := context.WithTimeout(ctx, wc.Timeout)
	defer cancel()
	where := "witness " + w.Name
	prove := func(old int64) (tlog.TreeProof, error) {
		if old == 0 || old == cp.Size {
			return nil, nil
		}
		return tlog.ProveTree(cp.Size, old, &a.scan.store)
	}
	_, old, err := cosign(ctx, wc.HTTPClient, w, cp.Size, a.current, cp.Size, prove)
	var ce *ConflictError
	var re *RejectedError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ce) && ce.Size > cp.Size:
		a.report.add(SeverityTamper, where, "has cosigned a tree of %d entries but the ledger's newest checkpoint has %d: the ledger was truncated or rolled back", ce.Size, cp.Size)
	case errors.As(err, &re) && re.Status == http.StatusUnprocessableEntity:
		a.report.add(SeverityTamper, where, "rejected the consistency proof from the %d entries it cosigned to the ledger's %d: history was rewritten", old, cp.Size)
	default:
		a.report.add(SeverityUnwitnessed, where, "did not cosign checkpoint %d: %v", cp.Size, err)
	}
	return false
}

// checkStoredCosignatures treats every stored cosigned checkpoint with a
// valid cosignature as a trusted checkpoint the ledger must extend.
func (a *analysis) checkStoredCosignatures(dir string, ws []WitnessConfig) {
	des, _ := os.ReadDir(filepath.Join(dir, ledgerDirName, cosigDirName))
	for _, de := range des {
		if !noteRE.MatchString(de.Name()) {
			continue
		}
		msg, err := os.ReadFile(filepath.Join(dir, ledgerDirName, cosigDirName, de.Name()))
		if err != nil {
			continue
		}
		text, sigs, err := splitNote(msg)
		if err != nil {
			continue
		}
		cp, err := parseCheckpointText(text)
		if err != nil {
			continue
		}
		for _, w := range ws {
			v, err := parseWitnessKey(w.VerifierKey)
			if err != nil || len(cosignedBy(text, sigs, v)) == 0 {
				continue
			}
			where := cosigDirName + "/" + de.Name() + " (witness " + w.Name + ")"
			if L := int64(len(a.scan.lines)); cp.Size > L {
				a.report.add(SeverityTamper, where, "witness cosigned %d entries but the ledger has %d: the ledger was truncated or rolled back", cp.Size, L)
			} else if root, err := a.scan.store.root(cp.Size); err != nil || root != cp.Root {
				a.report.add(SeverityTamper, where, "witness cosigned a different tree of %d entries: history was rewritten", cp.Size)
			}
			break
		}
	}
}
