package session

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
)

// TestDaemonCheckpointAndBuildIDs: the daemon learns each build's id (the
// one its ledger entries carry), the ledger's newest checkpoint (size,
// root and the time of its last entry), and `templated status` without a
// daemon takes the build id from the ledger too.
func TestDaemonCheckpointAndBuildIDs(t *testing.T) {
	h := newHarness(t)
	sess := h.open(t)
	r := &DaemonReconciler{Session: sess, Log: sess.set.Log}
	if cp := r.Checkpoint(); cp != nil {
		t.Fatalf("checkpoint of an empty ledger: %+v", cp)
	}
	out, err := r.Reconcile(context.Background(), daemon.Request{Desired: h.d, Observed: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	finished := map[string]string{}
	for _, e := range h.entries(t, ledger.KindBuildFinished) {
		finished[e.Template] = e.BuildID
	}
	for _, o := range out.Templates {
		if o.Build != daemon.BuildSuccess || o.BuildID == "" || o.BuildID != finished[o.Name] {
			t.Errorf("%s: build %s id %q, the ledger's %q", o.Name, o.Build, o.BuildID, finished[o.Name])
		}
	}

	all, err := ledger.ReadEntries(h.set.EvidenceDir)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ledger.OpenCheckpoint(sess.Ledger().Checkpoint(), sess.Ledger().VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	last, _ := time.Parse(time.RFC3339Nano, all[len(all)-1].TS)
	cp := r.Checkpoint()
	if cp == nil || cp.Size != int64(len(all)) || cp.RootHash != base64.StdEncoding.EncodeToString(pub.Root[:]) || !cp.At.Equal(last) {
		t.Fatalf("checkpoint %+v; want size %d, root of the published one, at %s", cp, len(all), last)
	}

	st := daemon.Status{Templates: []daemon.TemplateStatus{{Name: h.d.Templates[0].Name, LastResult: string(daemon.BuildNone)}}}
	FillFromLedger(&st, h.set.EvidenceDir)
	if got := st.Templates[0]; got.LastResult != "success" || got.LastBuildID != finished[got.Name] {
		t.Errorf("from the ledger: %+v, want build %s", got, finished[got.Name])
	}
}
