package daemon

import (
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkStatusPage200Templates renders the status page of 200
// templates, each with a replica, clones and a build result (every tenth
// failed, with Packer's error).
func BenchmarkStatusPage200Templates(b *testing.B) {
	st := pageStatus()
	st.Templates = make([]TemplateStatus, 200)
	for i := range st.Templates {
		t := TemplateStatus{Name: fmt.Sprintf("tpl-os%03d-24.04", i), VMID: 9000 + i, Node: "pve1",
			Replicas: []ReplicaStatus{{Name: fmt.Sprintf("tpl-os%03d-24.04-pve2", i), Node: "pve2", VMID: 9200 + i}},
			Release:  "1.4.2", BuiltAt: pageNow.Add(-time.Duration(i) * time.Hour), Action: "keep", Drift: "none",
			LastResult: "success", LastBuildAt: pageNow.Add(-time.Duration(i) * time.Hour), LastBuildID: fmt.Sprintf("20261205T%06d-1a2b3c", i),
			NextRebuild: pageNow.Add(time.Duration(200-i) * time.Hour), ClonesCurrent: i % 7, ClonesOutdated: i % 5}
		if i%10 == 0 {
			t.Action, t.Reason, t.LastResult = "rebuild", "max age 30d exceeded", "failure"
			t.LastError = "packer exited 1: ==> proxmox-clone.linux: clone failed: storage 'local-lvm' is full"
		}
		st.Templates[i] = t
	}
	w := &countingWriter{}
	if err := writePage(w, st); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(w.n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := writePage(io.Discard, st); err != nil {
			b.Fatal(err)
		}
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
