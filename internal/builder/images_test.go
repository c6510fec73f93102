package builder

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"templated/internal/packer"
	"templated/internal/reconcile"
	"templated/internal/state"
	"templated/internal/workspace"
)

// TestImagesReachPacker: the volumes templated made present replace the
// var file's ISO, checksum, extra ISOs and base VM on Packer's command
// line; a build without images keeps the var file's.
func TestImagesReachPacker(t *testing.T) {
	win := win2022(t)
	win.Image, win.ExtraImages = "win2022-eval", []string{"virtio-win"}
	eval := state.ResolvedImage{Name: "win2022-eval", Kind: state.ImageISO, File: "SERVER_EVAL_x64FRE_en-us.iso",
		Checksum: "sha256:" + strings.Repeat("3e", 32), Storage: "local"}
	virtio := state.ResolvedImage{Name: "virtio-win", Kind: state.ImageISO, File: "virtio-win-0.1.271.iso",
		Checksum: "sha256:" + strings.Repeat("bb", 32), Storage: "local"}
	d, err := workspace.LoadDesired(filepath.Join(repoRoot(t), "desired", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ubuntu, _ := d.Template("tpl-ubuntu-24.04")
	ubuntu.Image = "ubuntu-24.04-cloud"
	cloud := state.ResolvedImage{Name: "ubuntu-24.04-cloud", Kind: state.ImageCloud, File: "noble-server-cloudimg-amd64.img",
		Checksum: "sha256:" + strings.Repeat("3f", 32), Storage: "local", Format: "qcow2"}

	cases := []struct {
		name      string
		req       reconcile.BuildRequest
		want, not []string
	}{
		{"iso images", reconcile.BuildRequest{Template: win, Images: []state.ResolvedImage{eval, virtio}},
			[]string{"iso_filename=SERVER_EVAL_x64FRE_en-us-3e3e3e3e3e3e.iso", "iso_checksum=" + eval.Checksum,
				"iso_storage=local", `extra_iso_files=["virtio-win-0.1.271-bbbbbbbbbbbb.iso"]`}, []string{"clone_vm="}},
		{"base VM", reconcile.BuildRequest{Template: ubuntu, Images: []state.ResolvedImage{cloud}, Base: cloud.BaseName()},
			[]string{"clone_vm=base-ubuntu-24.04-cloud-3f3f3f3f3f3f"}, []string{"iso_filename=", "extra_iso_files="}},
		{"no images", reconcile.BuildRequest{Template: ubuntu}, nil, []string{"clone_vm=", "iso_filename=", "iso_checksum="}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := &Packer{
				Runner: &packer.Runner{Packer: fakePacker(t, dir, 0), Env: []string{"PATH=" + os.Getenv("PATH")}},
				Root:   filepath.Join(repoRoot(t), "packer"), Conn: workspace.Conn{URL: "https://pve.invalid:8006/api2/json", TokenID: "a@pve!b", TokenSecret: "s3cr3t-token"},
				Communicator: "none", WorkDir: t.TempDir(), Plugin: "1.1.1",
			}
			req := c.req
			req.BuildID, req.StagingVMID, req.StagingName = "20260301T030000Z-1a2b3c4d", 9900, "staging"
			req.LogPath, req.ManifestPath = filepath.Join(dir, "packer.log"), filepath.Join(dir, "manifest.json")
			if _, err := p.Build(t.Context(), req); err != nil {
				t.Fatalf("build: %v", err)
			}
			args, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(args), "\n")
			for _, w := range c.want {
				if !slices.Contains(lines, w) {
					t.Errorf("packer arguments lack %q:\n%s", w, args)
				}
			}
			for _, n := range c.not {
				for _, l := range lines {
					if strings.HasPrefix(l, n) {
						t.Errorf("packer arguments have %q:\n%s", l, args)
					}
				}
			}
		})
	}
}

// TestImagesOnTwoStorages: the ISOs of one build share the one
// iso_storage the Packer files know; templated says so before Packer runs.
func TestImagesOnTwoStorages(t *testing.T) {
	win := win2022(t)
	win.Image = "a"
	err := imageVars(map[string]string{}, reconcile.BuildRequest{Template: win, Images: []state.ResolvedImage{
		{Name: "a", Kind: state.ImageISO, File: "a.iso", Checksum: "sha256:" + strings.Repeat("a", 64), Storage: "local"},
		{Name: "b", Kind: state.ImageISO, File: "b.iso", Checksum: "sha256:" + strings.Repeat("b", 64), Storage: "nfs"},
	}})
	if err == nil || !strings.Contains(err.Error(), "storages local and nfs") {
		t.Fatalf("err = %v", err)
	}
}
