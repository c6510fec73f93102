package packer

import (
	"context"
	"os/exec"
	"testing"
)

// BenchmarkBuildOverhead measures what the Runner adds to a build: pipes,
// process group, environment, output parsing, manifest check, logging. The
// "baseline" case is a bare exec of the same binary, so the Runner's own
// overhead per build is the difference between "runner" and "baseline".
// "fake" runs the test binary as a Packer that prints an artifact line and
// exits (a Go binary starting up, like Packer does).
func BenchmarkBuildOverhead(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true(1)")
	}
	ctx := context.Background()
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			if err := exec.CommandContext(ctx, truePath, "build", ".").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("runner", func(b *testing.B) {
		r := &Runner{Packer: truePath, Env: []string{}}
		build := Build{Name: "tpl-x", Dir: b.TempDir(), Vars: map[string]string{"vm_id": "9000", "node": "pve"},
			Env: map[string]string{"PROXMOX_TOKEN": testSecret}, Manifest: "manifest.json", LogPath: "packer.log"}
		for b.Loop() {
			if _, err := r.Build(ctx, build); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fake", func(b *testing.B) {
		r := fakeRunner(b)
		build := fakeBuild(b, "exit0")
		build.Env["FAKE_DIR"] = "" // no evidence files
		for b.Loop() {
			res, err := r.Build(ctx, build)
			if err != nil || res.ArtifactID != "9000" {
				b.Fatal(res, err)
			}
		}
	})
}
