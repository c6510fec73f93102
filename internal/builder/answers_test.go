package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"templated/internal/packer"
	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/reconcile"
	"templated/internal/state"
	"templated/internal/workspace"
)

// needXorriso skips without xorriso unless the toolchain is required
// (make test sets TEMPLATED_REQUIRE_PACKER=1; .ci/run installs xorriso).
func needXorriso(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("xorriso"); err != nil {
		if os.Getenv("TEMPLATED_REQUIRE_PACKER") == "1" {
			t.Fatal("xorriso is required (TEMPLATED_REQUIRE_PACKER=1): apt-get install xorriso")
		}
		t.Skip("xorriso not installed")
	}
}

// readISO extracts an ISO image with xorriso and returns its files and
// its volume label.
func readISO(t *testing.T, iso []byte) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "x.iso")
	if err := os.WriteFile(img, iso, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if b, err := exec.Command("xorriso", "-osirrox", "on", "-indev", img, "-extract", "/", out).CombinedOutput(); err != nil {
		t.Fatalf("extract: %v\n%s", err, b)
	}
	files := map[string]string{}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	info, err := exec.Command("xorriso", "-indev", img, "-pvd_info").CombinedOutput()
	if err != nil {
		t.Fatalf("pvd_info: %v\n%s", err, info)
	}
	m := regexp.MustCompile(`Volume Id\s*:\s*(\S+)`).FindSubmatch(info)
	if m == nil {
		t.Fatalf("no volume id in\n%s", info)
	}
	return files, string(m[1])
}

func TestAnswerISO(t *testing.T) {
	needXorriso(t)
	files := map[string][]byte{"Autounattend.xml": []byte("<unattend>x</unattend>\n"), "setup.ps1": []byte("Write-Host hi\n")}
	dir := t.TempDir()
	iso, err := answerISO(t.Context(), files, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	got, label := readISO(t, data)
	if label != "ANSWERS" || len(got) != 2 || got["Autounattend.xml"] != "<unattend>x</unattend>\n" || got["setup.ps1"] != "Write-Host hi\n" {
		t.Fatalf("ISO %q holds %q", label, got)
	}
	if info, err := os.Stat(filepath.Join(dir, "answers", "Autounattend.xml")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("answer file on disk: %v %v, want mode 0600", info.Mode(), err)
	}
	if _, err := answerISO(t.Context(), map[string][]byte{"../x": nil}, t.TempDir()); err == nil {
		t.Error("a file name leaving the CD was accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := answerISO(ctx, files, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestBuildPassword(t *testing.T) {
	a, b := buildPassword(), buildPassword()
	if a == b || !regexp.MustCompile(`^Tpl-[A-Z2-7]{26}$`).MatchString(a) {
		t.Fatalf("passwords %q %q", a, b)
	}
	if got := answerFilename("20260301T030000Z-1a2b3c4d"); got != "templated-answers-20260301T030000Z-1a2b3c4d.iso" {
		t.Errorf("answerFilename = %q", got)
	}
	if got := answerFilename("../a b/"); got != "templated-answers-a-b.iso" {
		t.Errorf("answerFilename of an odd id = %q", got)
	}
}

// fakePacker writes a packer script that records its arguments and
// environment in dir and exits with code.
func fakePacker(t *testing.T, dir string, code int) string {
	t.Helper()
	bin := filepath.Join(dir, "packer")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$@\" > %s/args\nenv > %s/env\nexit %d\n", dir, dir, code)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// win2022 is the default desired entry of Windows, as templated builds it.
func win2022(t *testing.T) state.Template {
	t.Helper()
	d, err := workspace.LoadDesired(filepath.Join(repoRoot(t), "desired", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, ok := d.Template("tpl-win2022")
	if !ok || tmpl.Build != "iso" {
		t.Fatalf("tpl-win2022 in the default desired file: %+v", tmpl)
	}
	return tmpl
}

// TestAnswerCDReachesPacker: for the Windows ISO build the answer files are
// rendered with a fresh password, uploaded as an ISO, passed as answer_iso;
// the password travels only in the environment and matches the one on the
// CD; the ISO is deleted after the build, whether Packer succeeds or not.
func TestAnswerCDReachesPacker(t *testing.T) {
	needXorriso(t)
	tmpl := win2022(t)
	for _, code := range []int{0, 1} {
		t.Run(fmt.Sprintf("packer exit %d", code), func(t *testing.T) {
			dir := t.TempDir()
			isos := &spyISOs{Cluster: proxmoxfake.New()}
			p := &Packer{
				Runner: &packer.Runner{Packer: fakePacker(t, dir, code), Env: []string{"PATH=" + os.Getenv("PATH")}},
				Root:   filepath.Join(repoRoot(t), "packer"), Conn: workspace.Conn{URL: "https://pve.invalid:8006/api2/json", TokenID: "a@pve!b", TokenSecret: "s3cr3t-token"},
				ISOStore: isos, Communicator: "none", WorkDir: t.TempDir(), Plugin: "1.1.1",
			}
			_, err := p.Build(t.Context(), reconcile.BuildRequest{Template: tmpl, BuildID: "20260301T030000Z-1a2b3c4d", StagingVMID: 9900,
				StagingName: "tpl-win2022-staging", LogPath: filepath.Join(dir, "packer.log"), ManifestPath: filepath.Join(dir, "manifest.json")})
			if (err != nil) != (code != 0) {
				t.Fatalf("build: %v (packer exit %d)", err, code)
			}
			volid := "local:iso/templated-answers-20260301T030000Z-1a2b3c4d.iso"
			if len(isos.uploaded) != 1 {
				t.Fatalf("uploads: %d", len(isos.uploaded))
			}
			if left := isos.ISOVolids(); len(left) != 0 || !slices.Contains(isos.Calls(), "DeleteVolume pve1 local "+volid) {
				t.Fatalf("after the build: ISOs %v, calls %v; want the answer CD deleted", left, isos.Calls())
			}
			files, _ := readISO(t, isos.uploaded[volid])
			xml := files["Autounattend.xml"]
			m := regexp.MustCompile(`<AdministratorPassword><Value>(Tpl-[A-Z2-7]{26})</Value>`).FindStringSubmatch(xml)
			if m == nil || !strings.Contains(xml, "<Username>Administrator</Username>") || strings.Contains(xml, "${") {
				t.Fatalf("Autounattend.xml on the CD:\n%s", xml)
			}
			password := m[1]
			args, _ := os.ReadFile(filepath.Join(dir, "args"))
			env, _ := os.ReadFile(filepath.Join(dir, "env"))
			if !strings.Contains(string(args), "answer_iso="+volid+"\n") || strings.Contains(string(args), password) || strings.Contains(string(args), "s3cr3t") {
				t.Errorf("packer arguments:\n%s", args)
			}
			if !strings.Contains(string(env), "PKR_VAR_build_password="+password+"\n") {
				t.Errorf("PKR_VAR_build_password is not the CD's password in Packer's environment")
			}
		})
	}
}

// spyISOs keeps what was uploaded, even after it is deleted.
type spyISOs struct {
	*proxmoxfake.Cluster
	uploaded map[string][]byte
}

func (s *spyISOs) UploadISO(ctx context.Context, node, storage, filename string, r io.Reader, size int64) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.uploaded == nil {
		s.uploaded = map[string][]byte{}
	}
	s.uploaded[storage+":iso/"+filename] = data
	return s.Cluster.UploadISO(ctx, node, storage, filename, bytes.NewReader(data), size)
}

// TestNoAnswerCDWithoutStoreOrFiles: Linux ISO builds have no cd/ files,
// clone builds need no CD, and without an ISOStore, or with a plugin of
// generation v1.2 (cd_content works there), Packer makes the CD.
func TestNoAnswerCDWithoutStoreOrFiles(t *testing.T) {
	d, err := workspace.LoadDesired(filepath.Join(repoRoot(t), "desired", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ubuntu, _ := d.Template("tpl-ubuntu-24.04")
	ubuntu.Build = "iso"
	winClone := win2022(t)
	winClone.Build = "clone"
	for name, tc := range map[string]struct {
		tmpl   state.Template
		store  bool
		plugin string
	}{"linux iso": {ubuntu, true, "1.1.1"}, "windows clone": {winClone, true, "1.1.1"}, "no store": {win2022(t), false, "1.1.1"},
		"plugin 1.2.4": {win2022(t), true, "1.2.4"}} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fake := proxmoxfake.New()
			p := &Packer{Runner: &packer.Runner{Packer: fakePacker(t, dir, 0), Env: []string{"PATH=" + os.Getenv("PATH")}}, Plugin: tc.plugin,
				Root: filepath.Join(repoRoot(t), "packer"), WorkDir: t.TempDir()}
			if tc.store {
				p.ISOStore = fake
			}
			if _, err := p.Build(t.Context(), reconcile.BuildRequest{Template: tc.tmpl, BuildID: "b1", StagingVMID: 9900, StagingName: "s",
				LogPath: filepath.Join(dir, "log"), ManifestPath: filepath.Join(dir, "m.json")}); err != nil {
				t.Fatal(err)
			}
			args, _ := os.ReadFile(filepath.Join(dir, "args"))
			env, _ := os.ReadFile(filepath.Join(dir, "env"))
			if len(fake.Calls()) != 0 || strings.Contains(string(args), "answer_iso") || strings.Contains(string(env), "PKR_VAR_build_password") {
				t.Fatalf("calls %v, args\n%s", fake.Calls(), args)
			}
		})
	}
}

// A var file setting a variable the shared files do not declare fails the
// build before Packer runs (Packer alone would only warn), naming file and
// line.
func TestBuildRefusesUndeclaredVariable(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join(repoRoot(t), "packer"))); err != nil {
		t.Fatal(err)
	}
	d, err := workspace.LoadDesired(filepath.Join(repoRoot(t), "desired", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ubuntu, _ := d.Template("tpl-ubuntu-24.04")
	vf := filepath.Join(root, ubuntu.VarFile)
	src, _ := os.ReadFile(vf)
	if err := os.WriteFile(vf, append(src, []byte("iso_checksumm = \"sha256:00\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &Packer{Runner: &packer.Runner{Packer: fakePacker(t, dir, 0), Env: []string{"PATH=" + os.Getenv("PATH")}}, Plugin: "1.1.1",
		Root: root, WorkDir: t.TempDir()}
	_, err = p.Build(t.Context(), reconcile.BuildRequest{Template: ubuntu, BuildID: "b1", StagingVMID: 9900, StagingName: "s",
		LogPath: filepath.Join(dir, "log"), ManifestPath: filepath.Join(dir, "m.json")})
	if err == nil || !strings.Contains(err.Error(), "iso_checksumm ("+ubuntu.VarFile+":") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "args")); err == nil {
		t.Fatal("Packer ran although the workspace check failed")
	}
}

// repoRoot is the repository: go test runs in internal/builder.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestBuildRefusesUnsupportedPlugin: a plugin no generation fits stops
// the build before Packer runs, naming the version and the fix.
func TestBuildRefusesUnsupportedPlugin(t *testing.T) {
	dir := t.TempDir()
	p := &Packer{Runner: &packer.Runner{Packer: fakePacker(t, dir, 0), Env: []string{"PATH=" + os.Getenv("PATH")}}, Plugin: "1.0.5",
		Root: filepath.Join(repoRoot(t), "packer"), WorkDir: t.TempDir()}
	_, err := p.Build(t.Context(), reconcile.BuildRequest{Template: win2022(t), BuildID: "b1", StagingVMID: 9900, StagingName: "s",
		LogPath: filepath.Join(dir, "log"), ManifestPath: filepath.Join(dir, "m.json")})
	if err == nil || !strings.Contains(err.Error(), "build tpl-win2022: choose the plugin generation: packer-plugin-proxmox 1.0.5 is not supported: install 1.2.0 or later") {
		t.Fatalf("build with plugin 1.0.5: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "args")); err == nil {
		t.Error("Packer ran")
	}
}
