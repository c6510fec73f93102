package session

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"templated/internal/journal"
	"templated/internal/ledger"
	"templated/internal/reconcile"
)

// TestRecorderRedactsInterruptedBuild: a crash mid-build leaves Packer's
// raw log in an unsealed folder; recording the build's recovery redacts the
// token from it.
func TestRecorderRedactsInterruptedBuild(t *testing.T) {
	base := t.TempDir()
	dir, key := filepath.Join(base, "evidence"), filepath.Join(base, "ledger.key")
	if _, err := ledger.CreateKey(dir, key, "templated/test/packer-ledger"); err != nil {
		t.Fatal(err)
	}
	const secret = "0f5c2d9e-7b1a-4c3e-8d2f-interrupted"
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Options{Dir: dir, KeyFile: key, Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ev, err := l.NewBuild("tpl-ubuntu-22.04", "b-crashed")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ev.LogPath, []byte("Authorization: PVEAPIToken=templated@pve!ci="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &ledgerRecorder{l: l}
	if err := r.Event(ctx, reconcile.Event{Kind: "recover", Template: "tpl-ubuntu-22.04", BuildID: "b-crashed",
		Step: journal.StepBuilding, Result: "success", Detail: "interrupted build abandoned"}); err != nil {
		t.Fatal(err)
	}
	if hits, err := ledger.FindSecret(dir, secret); err != nil || len(hits) != 0 {
		t.Fatalf("the token is still in %v (%v)", hits, err)
	}
}
