package journal

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestInstallationIDStableAndShared(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := InstallationID(dir)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || !installationRE.MatchString(id) {
			t.Fatalf("ids %v: want one 12-hex id for every caller", ids)
		}
	}
	if again, _ := InstallationID(dir); again != ids[0] {
		t.Errorf("id changed: %s then %s", ids[0], again)
	}
	other, _ := InstallationID(t.TempDir())
	if other == ids[0] {
		t.Error("two state directories got the same installation id")
	}
	if err := os.WriteFile(filepath.Join(dir, installationFile), []byte("not-an-id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallationID(dir); err == nil || !strings.Contains(err.Error(), "12 hex digits") {
		t.Errorf("a damaged id file: %v", err)
	}
}
