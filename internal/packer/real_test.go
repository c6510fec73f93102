package packer

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"templated/internal/packertest"
	"templated/internal/workspace"
)

// realPacker is the real Packer (see packertest.Find).
func realPacker(t *testing.T) string {
	t.Helper()
	return packertest.Find(t).Bin
}

// nullTemplate is a build with Packer's built-in null builder: no cluster
// needed. run is the shell-local script.
func nullTemplate(t *testing.T, run string) string {
	t.Helper()
	dir := t.TempDir()
	hcl := `variable "greeting" {
  type = string
}
variable "api_token" {
  type      = string
  sensitive = true
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = [` + run + `]
  }
  post-processor "manifest" {
    output      = "out/manifest.json"
    custom_data = { vmid = "9000" }
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "build.pkr.hcl"), []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRealPackerVersion(t *testing.T) {
	r := &Runner{Packer: realPacker(t)}
	v, err := r.Version(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v) {
		t.Errorf("Version = %q", v)
	}
	if strings.Contains(r.Packer, ".tools") && v != "1.11.2" {
		t.Errorf("Version = %q, make tools pins 1.11.2", v)
	}
	plugins, err := r.PluginVersions(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("packer %s, plugins %+v", v, plugins)
	if pp := os.Getenv("PACKER_PLUGIN_PATH"); pp != "" && strings.Contains(pp, ".tools") {
		// make tools installs one Proxmox plugin, of a version templated
		// has a plugin generation for.
		if p, ok := Newest(plugins, "github.com/hashicorp/proxmox"); !ok || !supported(p.Version) {
			t.Errorf("no supported proxmox plugin listed: %+v", plugins)
		}
	}
}

func TestRealPackerBuild(t *testing.T) {
	r := &Runner{Packer: realPacker(t)}
	dir := nullTemplate(t, `"echo greeting=${var.greeting} from=$FROM_ENV", "echo token=${var.api_token}"`)
	out := &lockedBuffer{}
	b := Build{
		Name:     "tpl-null",
		Dir:      dir,
		Vars:     map[string]string{"greeting": "hello, world"},
		Env:      map[string]string{"PKR_VAR_api_token": testSecret, "FROM_ENV": "environment"},
		LogPath:  "evidence/packer.log",
		Manifest: "out/manifest.json",
		Output:   out,
	}
	res, err := r.Build(testCtx(t), b)
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, out)
	}
	if res.ArtifactID != "Null" {
		t.Errorf("ArtifactID = %q, want Null (the null builder's)", res.ArtifactID)
	}
	m, err := ReadManifest(filepath.Join(dir, "out/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	last, ok := m.Last()
	if !ok || res.RunUUID == "" || res.RunUUID != m.LastRunUUID || last.CustomData["vmid"] != "9000" || last.BuilderType != "null" {
		t.Errorf("RunUUID = %q, manifest = %+v", res.RunUUID, m)
	}
	got := out.String()
	for _, want := range []string{
		"tpl-null:     null.x: greeting=hello, world from=environment\n", // comma unescaped, env passed
		"tpl-null: ==> null.x: Running post-processor:",
		"tpl-null: --> null.x: Did not export anything. This is the null builder\n",
		"tpl-null:     null.x: token=[redacted PKR_VAR_api_token]\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, testSecret) || strings.Contains(res.Tail, testSecret) {
		t.Error("secret in output")
	}
	log, err := os.ReadFile(filepath.Join(dir, "evidence/packer.log"))
	if err != nil || !strings.Contains(string(log), "Packer version: ") {
		t.Errorf("PACKER_LOG_PATH file: %v, %.200q", err, log)
	}
	if strings.Contains(string(log), testSecret) {
		t.Error("secret in packer.log (Packer's sensitive-variable filter)")
	}

	// A second run is recorded as a new run in the same manifest.
	res2, err := r.Build(testCtx(t), b)
	if err != nil {
		t.Fatal(err)
	}
	if res2.RunUUID == "" || res2.RunUUID == res.RunUUID {
		t.Errorf("second RunUUID = %q, first %q", res2.RunUUID, res.RunUUID)
	}
}

func TestRealPackerFailure(t *testing.T) {
	r := &Runner{Packer: realPacker(t)}
	b := Build{Name: "tpl-null", Dir: nullTemplate(t, `"echo about to fail", "exit 3"`), Vars: map[string]string{"greeting": "x"},
		Env: map[string]string{"PKR_VAR_api_token": testSecret}}
	_, err := r.Build(testCtx(t), b)
	if be := asBuildError(t, err); be.ExitCode != 1 {
		t.Fatalf("err = %v, want exit code 1", err)
	}
	if !strings.Contains(err.Error(), "non-zero exit status: 3") {
		t.Errorf("message = %q", err)
	}
}

func TestRealPackerCancel(t *testing.T) {
	r := &Runner{Packer: realPacker(t)}
	ctx, out := cancelOnOutput(t, "started")
	b := Build{Name: "tpl-null", Dir: nullTemplate(t, `"echo started", "sleep 600"`), Vars: map[string]string{"greeting": "x"},
		Env: map[string]string{"PKR_VAR_api_token": testSecret}, Output: out}
	_, err := r.Build(ctx, b)
	if be := asBuildError(t, err); !be.Canceled || be.Killed {
		t.Fatalf("err = %v, want canceled, Packer exiting by itself", err)
	}
	if be := asBuildError(t, err); be.ExitCode != 1 || !strings.Contains(be.Tail, "Cleanly cancelled builds after being interrupted.") {
		t.Errorf("exit code %d, tail:\n%s", be.ExitCode, be.Tail)
	}
}

// kill -9 of templated mid-build: the real Packer is told (SIGTERM) and
// cancels its build cleanly instead of dying of SIGPIPE or building on.
func TestRealPackerCancelsWhenTemplatedIsKilled(t *testing.T) {
	packer := realPacker(t)
	dir, build := t.TempDir(), t.TempDir()
	// A cancellable wait after "started" (shell-local would wait for its
	// child: Packer does not signal it).
	hcl := `source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = ["echo started"]
  }
  provisioner "shell-local" {
    pause_before = "10m"
    inline       = ["echo never"]
  }
}
`
	if err := os.WriteFile(filepath.Join(build, "build.pkr.hcl"), []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	killTemplatedDuringBuild(t, dir, "FAKE_REAL_PACKER="+packer, "FAKE_BUILD_DIR="+build)
	ctx := testCtx(t)
	for {
		log, _ := os.ReadFile(filepath.Join(dir, "packer.log"))
		if strings.Contains(string(log), "Cleanly cancelled builds after being interrupted.") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("packer did not cancel its build; packer.log:\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// supported reports whether templated has a plugin generation for v.
func supported(v string) bool {
	_, err := workspace.PluginGeneration(v)
	return err == nil
}
