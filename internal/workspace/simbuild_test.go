package workspace

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"templated/internal/pvesim"
	"templated/internal/state"
)

// TestBuildDefaultTemplatesAgainstSimulator builds every template of the
// default desired set with the real Packer and plugin over HTTPS against
// the simulator, with communicator "none" (there is no guest to talk to)
// and nothing else changed that a real cluster needs, and checks the
// result in the simulator.
func TestBuildDefaultTemplatesAgainstSimulator(t *testing.T) {
	p := needPacker(t)
	srv, err := pvesim.Start(pvesim.Options{TaskDuration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	before := vmids(srv)
	conn := Conn{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: srv.TokenSecret(), CAFile: srv.CAFile()}

	// The default set, plus ISO builds of the Linux installers (Packer's
	// HTTP server, boot command) at spare VMIDs.
	templates := defaultTemplates()
	for _, tmpl := range templates[1:3] {
		tmpl.Build, tmpl.VMID, tmpl.Name = "iso", tmpl.VMID+10, tmpl.Name+"-iso"
		templates = append(templates, tmpl)
	}
	for i, tmpl := range templates {
		// Hardware unlike the workspace's defaults, so that it must come
		// from the variables templated passes.
		tmpl.Cores, tmpl.MemoryMiB, tmpl.DiskGB = 3+i%2, 3072+512*i, 24+i
		t.Run(tmpl.Name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "build")
			if err := Assemble(workspaceRoot(t), tmpl, "", dir); err != nil {
				t.Fatal(err)
			}
			manifest := filepath.Join(t.TempDir(), "manifest.json")
			buildID := "test-" + tmpl.Name
			vars, err := BuildVars(tmpl, Build{ID: buildID, ManifestPath: manifest, Description: "built by the workspace test", Communicator: "none"})
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.run(t, 3*time.Minute, dir, BuildEnv(conn), buildArgs(tmpl, vars)...)
			if err != nil && uploadHeaderBug.MatchString(out) {
				// Plugin v1.1.1's API library keeps the multipart Content-Type
				// of the answer-CD upload for every later request, so creating
				// the VM fails, on real PVE too (packer-plugin-proxmox#150,
				// fixed by Telmate/proxmox-api-go#232 in plugin 1.1.2+).
				// packer/README.md, "Plugin generations".
				t.Skip("plugin v1.1.1 cannot create a VM after uploading a CD (packer-plugin-proxmox#150)")
			}
			if err != nil {
				t.Fatalf("packer build: %v\n%s", err, out)
			}
			if strings.Contains(out, conn.TokenSecret) {
				t.Error("the token secret appears in Packer's output")
			}
			checkTemplate(t, srv, tmpl, "built by the workspace test")
			checkManifest(t, manifest, tmpl, buildID)
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		var want []int
		for _, tmpl := range templates {
			if _, ok := srv.Cluster().Guest(tmpl.VMID); ok || tmpl.Build != "iso" || tmpl.OS != "windows" {
				want = append(want, tmpl.VMID)
			}
		}
		slices.Sort(want)
		if got := newVMIDs(before, vmids(srv)); !slices.Equal(got, want) {
			t.Errorf("new guests after the builds: %v, want only the templates %v (a build VM was left over?)", got, want)
		}
	})
}

// uploadHeaderBug matches how PVE (506) and the simulator refuse the
// requests plugin v1.1.1 sends after an upload.
var uploadHeaderBug = regexp.MustCompile(`Error creating VM: .*(upload 'Content-Type 'multipart/form-data|unable to parse multipart body)`)

// buildArgs is `packer build` as templated runs it: the OS var file, then
// templated's variables, which win.
func buildArgs(t state.Template, vars map[string]string) []string {
	return append([]string{"build", "-color=false"}, varArgs(t, vars)...)
}

// varArgs are the variable arguments and the directory of a packer run.
func varArgs(t state.Template, vars map[string]string) []string {
	args := []string{"-var-file=" + VarFileName(t)}
	for _, k := range sortedKeys(vars) {
		args = append(args, "-var", k+"="+vars[k])
	}
	return append(args, ".")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkTemplate(t *testing.T, srv *pvesim.Server, tmpl state.Template, description string) {
	t.Helper()
	g, ok := srv.Cluster().Guest(tmpl.VMID)
	if !ok {
		t.Fatalf("no guest %d after the build", tmpl.VMID)
	}
	c := g.Config
	if g.Name != tmpl.Name || !g.Template || g.Node != tmpl.Node || g.Status != "stopped" || g.Lock != "" {
		t.Errorf("guest %d: name %q template %v node %s status %s lock %q; want %s, a stopped unlocked template on %s",
			g.VMID, g.Name, g.Template, g.Node, g.Status, g.Lock, tmpl.Name, tmpl.Node)
	}
	if c["cores"] != fmt.Sprint(tmpl.Cores) || c["memory"] != fmt.Sprint(tmpl.MemoryMiB) {
		t.Errorf("hardware: cores %q memory %q, want %d and %d", c["cores"], c["memory"], tmpl.Cores, tmpl.MemoryMiB)
	}
	if !strings.HasPrefix(c["agent"], "1") {
		t.Errorf("agent = %q, want the QEMU guest agent enabled", c["agent"])
	}
	if g.Description != description {
		t.Errorf("description = %q, want %q", g.Description, description)
	}
	// The system disk: ISO builds create it at the desired size on the
	// desired storage; clones keep their base VM's (plugin v1.1 cannot grow it).
	disk := c["scsi0"]
	wantDisk := regexp.MustCompile(`^` + regexp.QuoteMeta(tmpl.Storage) + `:base-\d+-disk-\d+`)
	if !wantDisk.MatchString(disk) {
		t.Errorf("scsi0 = %q, want a base volume on %s", disk, tmpl.Storage)
	}
	if tmpl.Build == "iso" && !strings.Contains(disk, fmt.Sprintf("size=%dG", tmpl.DiskGB)) {
		t.Errorf("scsi0 = %q, want size=%dG", disk, tmpl.DiskGB)
	}
	var cloudInit []string
	for k, v := range c {
		if regexp.MustCompile(`^(ide|sata|scsi)\d+$`).MatchString(k) && strings.Contains(v, "cloudinit") {
			cloudInit = append(cloudInit, k+"="+v)
		}
		if strings.Contains(v, ":iso/") {
			t.Errorf("%s = %q: an installer or driver ISO is still attached", k, v)
		}
	}
	if len(cloudInit) == 0 {
		t.Errorf("no cloud-init drive in %v", c)
	}
}

func checkManifest(t *testing.T, path string, tmpl state.Template, buildID string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var m struct {
		Builds []struct {
			BuilderType string            `json:"builder_type"`
			ArtifactID  string            `json:"artifact_id"`
			CustomData  map[string]string `json:"custom_data"`
		} `json:"builds"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, data)
	}
	if len(m.Builds) != 1 {
		t.Fatalf("manifest has %d builds, want 1:\n%s", len(m.Builds), data)
	}
	b := m.Builds[0]
	cd := b.CustomData
	if b.BuilderType != "proxmox-"+tmpl.Build || b.ArtifactID != fmt.Sprint(tmpl.VMID) ||
		cd["build_id"] != buildID || cd["template_name"] != tmpl.Name || cd["vm_id"] != fmt.Sprint(tmpl.VMID) ||
		cd["build_mode"] != tmpl.Build || cd["plugin_generation"] != Generation || cd["communicator"] != "none" {
		t.Errorf("manifest build = %+v", b)
	}
}

func vmids(srv *pvesim.Server) []int {
	var ids []int
	for _, g := range srv.Cluster().Guests() {
		ids = append(ids, g.VMID)
	}
	slices.Sort(ids)
	return ids
}

func newVMIDs(before, after []int) []int {
	var n []int
	for _, id := range after {
		if !slices.Contains(before, id) {
			n = append(n, id)
		}
	}
	return n
}
