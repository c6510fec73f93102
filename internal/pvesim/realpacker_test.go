package pvesim_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"templated/internal/packertest"
	"templated/internal/pvesim"
)

// runPacker runs the real `packer build` of testdata/packer-clone against
// srv over HTTPS, with the token in the environment only.
func runPacker(t *testing.T, srv *pvesim.Server, vmid string) (string, error) {
	t.Helper()
	tool := packertest.Find(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := filepath.Abs("testdata/packer-clone")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, tool.Bin, "build", "-color=false", "-var", "vm_id="+vmid, ".")
	cmd.Dir = dir
	cmd.Env = append(tool.Env,
		"PROXMOX_URL="+srv.URL(),
		"PROXMOX_USERNAME="+srv.TokenID(),
		"PROXMOX_TOKEN="+srv.TokenSecret(),
		"SSL_CERT_FILE="+srv.CAFile(),
		"TMPDIR="+t.TempDir(),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// leftovers lists the guests that are neither seeded nor expected.
func leftovers(srv *pvesim.Server, seeded map[int]bool, want int) []string {
	var out []string
	for _, g := range srv.Cluster().Guests() {
		if !seeded[g.VMID] && g.VMID != want {
			out = append(out, g.Name)
		}
	}
	return out
}

func seededIDs(srv *pvesim.Server) map[int]bool {
	ids := map[int]bool{}
	for _, g := range srv.Cluster().Guests() {
		ids[g.VMID] = true
	}
	return ids
}

// TestRealPackerCloneBuild is the real Packer 1.11.2 with the real Proxmox
// plugin v1.1.1 building a template against the simulator over HTTPS.
func TestRealPackerCloneBuild(t *testing.T) {
	srv, err := pvesim.Start(pvesim.Options{TaskDuration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	seeded := seededIDs(srv)
	out, err := runPacker(t, srv, "9000")
	if err != nil {
		t.Fatalf("packer build: %v\n%s", err, out)
	}
	if !strings.Contains(out, "A template was created: 9000") {
		t.Fatalf("Packer did not report the template:\n%s", out)
	}
	g, ok := srv.Cluster().Guest(9000)
	if !ok {
		t.Fatal("no guest at VMID 9000 after the build")
	}
	cfg, _ := srv.Cluster().Config(9000)
	if !g.Template || g.Name != "tpl-packer-test" || cfg["template"] != "1" {
		t.Fatalf("VMID 9000: %+v config %v", g, cfg)
	}
	if left := leftovers(srv, seeded, 9000); len(left) != 0 {
		t.Fatalf("build VMs left over: %v", left)
	}
	for _, r := range srv.Requests() {
		if r.TokenID != srv.TokenID() {
			t.Errorf("request %s %s not authenticated with the token", r.Method, r.Path)
		}
	}
}

// TestRealPackerCloneFailure makes the simulator fail the clone task:
// Packer must report PVE's exit status and leave no VM behind.
func TestRealPackerCloneFailure(t *testing.T) {
	srv, err := pvesim.Start(pvesim.Options{TaskDuration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	seeded := seededIDs(srv)
	srv.Faults().Add(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", TaskExit: "clone failed: storage 'local-lvm' is full"})
	out, err := runPacker(t, srv, "9000")
	if err == nil {
		t.Fatalf("packer build succeeded although the clone failed:\n%s", out)
	}
	if !strings.Contains(out, "clone failed: storage 'local-lvm' is full") {
		t.Fatalf("Packer did not report the task's exit status:\n%s", out)
	}
	if left := leftovers(srv, seeded, -1); len(left) != 0 {
		t.Fatalf("VMs left behind after the failed clone: %v", left)
	}
}
