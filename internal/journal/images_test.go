package journal

import (
	"testing"
	"time"
)

func TestImageInventory(t *testing.T) {
	j, err := OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if vs, err := j.ImageVolumes(); err != nil || len(vs) != 0 {
		t.Fatalf("empty inventory: %v %v", vs, err)
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, v := range []ImageVolume{
		{Node: "pve2", Volume: "local:iso/a-111111111111.iso", Image: "a", Checksum: "sha256:11", Added: at},
		{Node: "pve1", Volume: "local:iso/a-111111111111.iso", Image: "a", Checksum: "sha256:11", Added: at},
		{Node: "pve1", Volume: "local:iso/a-111111111111.iso", Image: "a", Checksum: "sha256:11", Added: at.Add(time.Hour)},
	} {
		if err := j.AddImageVolume(v); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := j.ImageVolumes()
	if err != nil || len(vs) != 2 || vs[0].Node != "pve1" || !vs[0].Added.Equal(at.Add(time.Hour)) {
		t.Fatalf("inventory %+v %v", vs, err)
	}
	if err := j.RemoveImageVolume("pve1", "local:iso/a-111111111111.iso"); err != nil {
		t.Fatal(err)
	}
	if vs, _ := j.ImageVolumes(); len(vs) != 1 || vs[0].Node != "pve2" {
		t.Fatalf("after remove %+v", vs)
	}
}
