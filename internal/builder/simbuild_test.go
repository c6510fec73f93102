package builder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"templated/internal/packer"
	"templated/internal/packertest"
	"templated/internal/proxmox"
	"templated/internal/pvesim"
	"templated/internal/reconcile"
	"templated/internal/state"
	"templated/internal/workspace"
)

// needPacker returns a Runner for the real Packer and plugin (see
// packertest.Find).
func needPacker(t *testing.T) *packer.Runner {
	t.Helper()
	tool := packertest.Find(t)
	needXorriso(t)
	return &packer.Runner{Packer: tool.Bin, KillGrace: 10 * time.Second, Env: tool.Env}
}

// syncBuffer is Packer's output, written by parallel builds.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBuildDefaultTemplatesAgainstSimulator builds every template of the
// default desired file the way templated does (builder.Packer: the
// workspace, the real Packer and plugin v1.1.1, the answer CD uploaded
// through the adapter) over HTTPS against the simulator, with
// communicator "none" (there is no guest to talk to) and nothing else
// changed that a real cluster needs, and checks the result in the
// simulator: Windows included.
func TestBuildDefaultTemplatesAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("six real Packer builds (about a minute); make test runs them")
	}
	runner := needPacker(t)
	srv, err := pvesim.Start(pvesim.Options{TaskDuration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := proxmox.New(proxmox.Config{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: proxmox.Secret(srv.TokenSecret()),
		CAFile: srv.CAFile()}, proxmox.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	before := vmids(srv)
	d, err := workspace.LoadDesired(filepath.Join(repoRoot(t), "desired", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Packer{Runner: runner, Root: filepath.Join(repoRoot(t), "packer"), ISOStore: client, Communicator: "none", WorkDir: t.TempDir(),
		Conn: workspace.Conn{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: srv.TokenSecret(), CAFile: srv.CAFile()}}

	// The default set, plus ISO builds of Linux installers (Packer's HTTP
	// server, boot command).
	templates := slices.Clone(d.Templates)
	for _, name := range []string{"tpl-ubuntu-24.04", "tpl-rocky-9"} {
		tmpl, _ := d.Template(name)
		tmpl.Build = "iso"
		templates = append(templates, tmpl)
	}
	var (
		mu     sync.Mutex
		staged []int // the staging VMIDs of the builds that ran
	)
	for i, tmpl := range templates {
		// Hardware unlike the workspace's defaults, so that it must come
		// from the variables templated passes.
		tmpl.Cores, tmpl.MemoryMiB, tmpl.DiskGB = 3+i%2, 3072+512*i, 24+i
		staging := 9900 + i
		t.Run(fmt.Sprintf("%s/%s", tmpl.Name, tmpl.Build), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := &syncBuffer{}
			req := reconcile.BuildRequest{Template: tmpl, BuildID: fmt.Sprintf("test-%d", staging), StagingVMID: staging,
				StagingName: fmt.Sprintf("%s-stg-%d", tmpl.Name, staging), Description: "built by the builder test",
				LogPath: filepath.Join(dir, "packer.log"), ManifestPath: filepath.Join(dir, "manifest.json"), Output: out}
			mu.Lock()
			staged = append(staged, staging)
			mu.Unlock()
			res, err := p.Build(t.Context(), req)
			if err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			if res.ArtifactID != fmt.Sprint(staging) {
				t.Errorf("artifact %q, want %d", res.ArtifactID, staging)
			}
			if strings.Contains(out.String(), srv.TokenSecret()) {
				t.Error("the token secret appears in Packer's output")
			}
			// The build reports the plugin it ran with, and the generation
			// that plugin needs is the one the manifest names.
			gen, err := workspace.PluginGeneration(res.PluginVersion)
			if err != nil {
				t.Fatalf("build reports plugin %q: %v", res.PluginVersion, err)
			}
			checkTemplate(t, srv, tmpl, req)
			checkManifest(t, req.ManifestPath, tmpl, req, gen)
			if tmpl.OS == "windows" && tmpl.Build == "iso" && gen == "v1.1" {
				checkAnswerCD(t, srv, req)
			}
			if tmpl.OS == "windows" && tmpl.Build == "iso" && gen != "v1.1" {
				checkPackerCD(t, srv, req)
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		slices.Sort(staged)
		if got := newVMIDs(before, vmids(srv)); !slices.Equal(got, staged) {
			t.Errorf("new guests after the builds: %v, want only the staged templates %v (a build VM was left over?)", got, staged)
		}
		for _, r := range srv.Requests() {
			if r.Status == 506 {
				t.Errorf("PVE would refuse %s %s with 506 (multipart Content-Type after an upload)", r.Method, r.Path)
			}
		}
	})
}

// checkAnswerCD: the Windows build got its answer CD as an ISO templated
// uploaded, attached to the build VM by Packer (plugin v1.1.1 attaches
// additional ISOs with a config update after creating the VM), deleted
// afterwards.
func checkAnswerCD(t *testing.T, srv *pvesim.Server, req reconcile.BuildRequest) {
	t.Helper()
	volid := req.Template.ISOStorage + ":iso/" + answerFilename(req.BuildID)
	var uploaded, attached, deleted bool
	for _, r := range srv.Requests() {
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/storage/"+req.Template.ISOStorage+"/upload") && r.Status == 200:
			uploaded = true
		case r.Path == fmt.Sprintf("/nodes/%s/qemu/%d/config", req.Template.Node, req.StagingVMID) && r.Method != "GET":
			for _, k := range r.FormKeys {
				attached = attached || strings.HasPrefix(r.Form.Get(k), volid+",")
			}
		case r.Method == "DELETE" && strings.HasSuffix(r.Path, "/content/"+volid) && r.Status == 200:
			deleted = true
		}
	}
	if !uploaded || !attached || !deleted {
		t.Errorf("answer CD %s: uploaded %v, attached %v, deleted %v", volid, uploaded, attached, deleted)
	}
	for _, v := range srv.Cluster().Volumes(req.Template.Node, req.Template.ISOStorage) {
		if v.Volid == volid {
			t.Errorf("answer CD %s is still on the storage", volid)
		}
	}
}

// checkPackerCD: from generation v1.2 on, Packer makes and uploads the
// answer CD itself (cd_content); templated uploads none.
func checkPackerCD(t *testing.T, srv *pvesim.Server, req reconcile.BuildRequest) {
	t.Helper()
	var packers, ours int
	for _, r := range srv.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/storage/"+req.Template.ISOStorage+"/upload") && r.Status == 200 {
			packers++
		}
	}
	for _, v := range srv.Cluster().Volumes(req.Template.Node, req.Template.ISOStorage) {
		if strings.Contains(v.Volid, answerFilename(req.BuildID)) {
			ours++
		}
	}
	if packers == 0 || ours != 0 {
		t.Errorf("answer CD: %d uploads, %d of templated's answer ISOs on the storage; want Packer's upload only", packers, ours)
	}
}

func checkTemplate(t *testing.T, srv *pvesim.Server, tmpl state.Template, req reconcile.BuildRequest) {
	t.Helper()
	g, ok := srv.Cluster().Guest(req.StagingVMID)
	if !ok {
		t.Fatalf("no guest %d after the build", req.StagingVMID)
	}
	c := g.Config
	if g.Name != req.StagingName || !g.Template || g.Node != tmpl.Node || g.Status != "stopped" || g.Lock != "" {
		t.Errorf("guest %d: name %q template %v node %s status %s lock %q; want %s, a stopped unlocked template on %s",
			g.VMID, g.Name, g.Template, g.Node, g.Status, g.Lock, req.StagingName, tmpl.Node)
	}
	if c["cores"] != fmt.Sprint(tmpl.Cores) || c["memory"] != fmt.Sprint(tmpl.MemoryMiB) {
		t.Errorf("hardware: cores %q memory %q, want %d and %d", c["cores"], c["memory"], tmpl.Cores, tmpl.MemoryMiB)
	}
	if !strings.HasPrefix(c["agent"], "1") {
		t.Errorf("agent = %q, want the QEMU guest agent enabled", c["agent"])
	}
	if g.Description != req.Description {
		t.Errorf("description = %q, want %q", g.Description, req.Description)
	}
	// The system disk: ISO builds create it at the desired size on the
	// desired storage; clones keep their base VM's (plugin v1.1 cannot grow it).
	disk := c["scsi0"]
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(tmpl.Storage) + `:base-\d+-disk-\d+`).MatchString(disk) {
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
			t.Errorf("%s = %q: an installer, driver or answer ISO is still attached", k, v)
		}
	}
	if len(cloudInit) == 0 {
		t.Errorf("no cloud-init drive in %v", c)
	}
}

func checkManifest(t *testing.T, path string, tmpl state.Template, req reconcile.BuildRequest, gen string) {
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
	vmid := fmt.Sprint(req.StagingVMID)
	if b.BuilderType != "proxmox-"+tmpl.Build || b.ArtifactID != vmid || cd["build_id"] != req.BuildID ||
		cd["template_name"] != req.StagingName || cd["vm_id"] != vmid || cd["build_mode"] != tmpl.Build ||
		cd["plugin_generation"] != gen || cd["communicator"] != "none" {
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
