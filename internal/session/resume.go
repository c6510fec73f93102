package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"templated/internal/daemon"
	"templated/internal/journal"
	"templated/internal/ledger"
)

// ErrNotHeld says Resume found nothing to release.
var ErrNotHeld = errors.New("neither held nor suspended")

// Resumed says what Resume released and whether it recorded it; when the
// daemon holds the ledger, the daemon records it at its next run.
type Resumed struct {
	Released string
	Recorded bool
}

// Resume releases name's rollback hold and the daemon's suspension, and
// records it (who released it). The ledger is opened before anything
// changes, so that a release is never left unrecorded.
func Resume(ctx context.Context, s Settings, name, who string) (Resumed, error) {
	s = s.withDefaults()
	led, err := OpenLedger(ctx, s)
	switch {
	case errors.Is(err, ledger.ErrLocked):
		led = nil
	case err != nil:
		return Resumed{}, fmt.Errorf("resume %s: %w", name, err)
	default:
		defer led.Close()
	}
	j, err := journal.OpenJournal(s.StateDir)
	if err != nil {
		return Resumed{}, err
	}
	holds, err := j.Holds()
	if err != nil {
		return Resumed{}, err
	}
	var released []string
	if _, held := holds[name]; held {
		if err := j.SetHold(name, nil); err != nil {
			return Resumed{}, err
		}
		released = append(released, "the hold set by rollback")
	}
	suspended, err := daemon.Resume(s.StateDir, name)
	if err != nil {
		return Resumed{}, err
	}
	if suspended {
		released = append(released, "the daemon's suspension after repeated failures")
	}
	if len(released) == 0 {
		return Resumed{}, fmt.Errorf("resume: %s is %w", name, ErrNotHeld)
	}
	r := Resumed{Released: strings.Join(released, " and ")}
	if led == nil {
		return r, nil
	}
	if _, err := led.Append(ctx, ledger.Entry{Kind: ledger.KindResume, Template: name, Result: "success",
		Detail: map[string]string{"released": r.Released, "by": who}}); err != nil {
		return r, fmt.Errorf("record resume: %w", err)
	}
	r.Recorded = true
	return r, nil
}
