package session

import (
	"encoding/base64"

	"templated/internal/daemon"
)

// Checkpoint describes the open ledger's newest checkpoint for the
// daemon's /status and status page (daemon.Options.Checkpoint); nil while
// no ledger is open, before its first entry, or when it cannot be read
// (logged).
func (r *DaemonReconciler) Checkpoint() *daemon.CheckpointStatus {
	led := r.Session.Ledger()
	if led == nil {
		return nil
	}
	h, ok, err := led.Head()
	if err != nil {
		r.Log.WithError(err).Warn("ledger checkpoint unreadable for /status")
		return nil
	}
	if !ok {
		return nil
	}
	return &daemon.CheckpointStatus{Size: h.Size, RootHash: base64.StdEncoding.EncodeToString(h.Root[:]), At: h.At}
}
