package main

// End-to-end tests of the built binary against the simulator. TestMain
// builds templated once; each test gets its own copy of the repository's
// desired/ and packer/ (so it may edit them), its own simulator, state
// and evidence directories.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goversion "github.com/hashicorp/go-version"

	"templated/internal/image"
	"templated/internal/mirror"
	"templated/internal/packertest"
	"templated/internal/pvesim"
	"templated/internal/state"
	"templated/internal/workspace"
)

var binary string // the templated binary TestMain built

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "templated-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "templated")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build templated:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the repository this test runs in.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// e2e is one test's world: a repository copy, a simulator, directories.
type e2e struct {
	t       testing.TB
	repo    string // holds desired/ and packer/
	dir     string // state, evidence, keys, env file
	sim     *pvesim.Server
	env     []string
	packers string // directory of the packer binary on PATH
	// plugin is the Proxmox plugin templated finds: the one in .tools with
	// the real Packer, none with the stub (it lists no plugins).
	plugin string
	// mirror serves the vendors' image and checksum-file URLs on
	// loopback; the copy's pinned checksums are its bytes'.
	mirror *mirror.Server
}

// newE2E copies desired/ and packer/, starts a simulator over HTTPS and
// writes the .env file. realPacker selects the real Packer from .tools
// (needed by apply); otherwise a stub that only answers `packer version`
// (all plan needs, for the inputs hash).
func newE2E(t testing.TB, realPacker bool, opts pvesim.Options) *e2e {
	t.Helper()
	e := &e2e{t: t, repo: t.TempDir(), dir: t.TempDir()}
	for _, d := range []string{"desired", "packer"} {
		if err := os.CopyFS(filepath.Join(e.repo, d), os.DirFS(filepath.Join(repoRoot(t), d))); err != nil {
			t.Fatal(err)
		}
	}
	m, err := mirror.Start(mirror.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.mirror = m
	e.edit("desired/templates.yaml", func(s string) string { return string(mirror.PinDesired([]byte(s), m.PinnedChecksums())) })
	if opts.TaskDuration == 0 {
		opts.TaskDuration = 50 * time.Millisecond
	}
	srv, err := pvesim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e.sim = srv
	e.writeEnv(srv.URL(), srv.TokenID(), srv.TokenSecret())
	if realPacker {
		e.packers = filepath.Join(toolsDir(t), "bin")
		if _, err := os.Stat(filepath.Join(e.packers, "packer")); err != nil {
			if os.Getenv("TEMPLATED_REQUIRE_PACKER") != "" {
				t.Fatalf("real Packer required but missing (run make tools): %v", err)
			}
			t.Skip("real Packer not built (make tools)")
		}
		e.plugin = installedPlugin(t)
	} else {
		e.packers = t.TempDir()
		stub := "#!/bin/sh\n[ \"$1\" = version ] && { echo 'Packer v1.11.2'; exit 0; }\necho 'stub packer: only version' >&2; exit 1\n"
		if err := os.WriteFile(filepath.Join(e.packers, "packer"), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.env = []string{
		"PATH=" + e.packers + ":" + os.Getenv("PATH"),
		"HOME=" + e.dir,
		"NO_COLOR=1",
		"TEMPLATED_ENV_FILE=" + filepath.Join(e.dir, ".env"),
		"TEMPLATED_STATE_DIR=" + filepath.Join(e.dir, "state"),
		"TEMPLATED_EVIDENCE_DIR=" + filepath.Join(e.dir, "evidence"),
		"TEMPLATED_LEDGER_KEY=" + filepath.Join(e.dir, "keys", "ledger.key"),
		"TEMPLATED_COMMUNICATOR=none",
		"PACKER_PLUGIN_PATH=" + filepath.Join(toolsDir(t), "plugins"),
		"CHECKPOINT_DISABLE=1",
		"TEMPLATED_IMAGE_MIRRORS=" + m.Mirrors(),
	}
	return e
}

// imageChecksums are the checksums t's images resolve to now (through
// the mirror), as a build from them stamps.
func (e *e2e) imageChecksums(d *state.Desired, t state.Template) []string {
	e.t.Helper()
	names := t.ExtraImages
	if t.Image != "" {
		names = append([]string{t.Image}, names...)
	}
	ms, err := mirror.ParseMirrors(e.mirror.Mirrors())
	if err != nil {
		e.t.Fatal(err)
	}
	f := &image.Fetcher{MinInterval: -1}
	var out []string
	for _, n := range names {
		im, ok := d.Image(n)
		switch {
		case !ok:
			e.t.Fatalf("%s names image %s, which the desired file does not declare", t.Name, n)
		case im.Checksum != "":
			out = append(out, im.Checksum)
		default:
			r, err := f.Resolve(context.Background(), mirror.Rewrite(ms, im.ChecksumURL), im.File)
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, r.Checksum.String())
		}
	}
	return out
}

// writeEnv writes the .env file (mode 0600) for url and token.
func (e *e2e) writeEnv(url, tokenID, secret string) {
	body := fmt.Sprintf("PROXMOX_URL=%s\nPROXMOX_TOKEN_ID=%s\nPROXMOX_TOKEN_SECRET=%s\nPROXMOX_NODE=pve1\nPROXMOX_STORAGE=local-lvm\nPROXMOX_ISO_STORAGE=local\nPROXMOX_CA_FILE=%s\n",
		url, tokenID, secret, e.sim.CAFile())
	if err := os.WriteFile(filepath.Join(e.dir, ".env"), []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout ---\n%s--- stderr ---\n%s", r.code, r.stdout, r.stderr)
}

// run runs templated with args in the repository copy.
func (e *e2e) run(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = e.repo
	cmd.Env = e.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		e.t.Fatalf("run templated %v: %v", args, err)
	}
	return r
}

// desired loads the repository copy's desired file.
func (e *e2e) desired() *state.Desired {
	e.t.Helper()
	d, err := workspace.LoadDesired(filepath.Join(e.repo, "desired", "templates.yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// inputs is the inputs hash templated computes for t (with the stub's or
// the real Packer's version 1.11.2, and the plugin templated finds).
func (e *e2e) inputs(d *state.Desired, t state.Template) string {
	e.t.Helper()
	h, err := workspace.InputsHashWith(d, t, filepath.Join(e.repo, "packer"), workspace.Toolchain{Packer: "1.11.2", Plugin: e.plugin})
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimPrefix(h, "sha256:")
}

// seedBuilt puts t in the simulator as templated would have left it,
// built at builtAt from the current inputs (or inputs, when not empty).
func (e *e2e) seedBuilt(d *state.Desired, t state.Template, builtAt time.Time, inputs string) {
	e.t.Helper()
	if inputs == "" {
		inputs = e.inputs(d, t)
	}
	s := state.Stamp{Template: t.Name, Release: t.Release.String(), InputsHash: inputs, BuiltAt: builtAt.UTC().Truncate(time.Second),
		BuildID: "seed", Role: state.RoleTemplate, Images: e.imageChecksums(d, t)}
	err := e.sim.Cluster().AddGuest(pvesim.GuestSpec{VMID: t.VMID, Node: "pve1", Name: t.Name, Template: true,
		Tags: strings.Join(s.Tags(), ";"), Description: s.Description(),
		Config: map[string]string{"cores": fmt.Sprint(t.Cores), "sockets": "1", "memory": fmt.Sprint(t.MemoryMiB),
			"scsi0": fmt.Sprintf("local-lvm:base-%d-disk-0,size=%dG", t.VMID, t.DiskGB), "agent": "1",
			"ide2": fmt.Sprintf("local-lvm:vm-%d-cloudinit,media=cdrom", t.VMID), "ostype": "l26"}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// seedAll seeds every desired template, built at builtAt.
func (e *e2e) seedAll(builtAt time.Time) {
	d := e.desired()
	for _, t := range d.Templates {
		e.seedBuilt(d, t, builtAt, "")
	}
}

// edit rewrites a file of the repository copy.
func (e *e2e) edit(rel string, f func(string) string) {
	e.t.Helper()
	p := filepath.Join(e.repo, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(f(string(b))), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// writes lists the requests the simulator saw that change something.
func (e *e2e) writes() []string {
	var out []string
	for _, r := range e.sim.Requests() {
		if r.Method != "GET" {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// files lists every regular file under dir (relative paths).
func files(t testing.TB, dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// installedPlugin is the version of the Proxmox plugin in .tools/plugins,
// read from its file name as Packer does (packer-plugin-proxmox_v1.1.1_x5.0_linux_amd64).
func installedPlugin(t testing.TB) string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(toolsDir(t), "plugins", "github.com", "hashicorp", "proxmox", "packer-plugin-proxmox_v*_x5.0_*"))
	var newest string
	for _, n := range names {
		v, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(n), "packer-plugin-proxmox_v"), "_")
		if strings.HasSuffix(n, "_SHA256SUM") {
			continue
		}
		if newest == "" || goversion.Must(goversion.NewVersion(v)).GreaterThan(goversion.Must(goversion.NewVersion(newest))) {
			newest = v
		}
	}
	if newest == "" {
		t.Fatal("no Proxmox plugin in .tools/plugins (make tools)")
	}
	return newest
}

// toolsDir is where make tools put Packer and the plugin:
// $TEMPLATED_TOOLS_DIR (make test-plugin's), else .tools.
func toolsDir(t testing.TB) string {
	return packertest.ToolsDir(t)
}
