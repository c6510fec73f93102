package doctor_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"templated/internal/doctor"
	"templated/internal/journal"
	"templated/internal/packer"
	"templated/internal/proxmox"
	"templated/internal/pvesim"
	"templated/internal/state"
	"templated/internal/workspace"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fakePacker answers like a Packer with the Proxmox plugin at plugin.
type fakePacker struct {
	version, plugin string
	err             error
}

func (f fakePacker) Version(context.Context) (string, error) { return f.version, f.err }
func (f fakePacker) PluginVersions(context.Context) ([]packer.Plugin, error) {
	if f.plugin == "" {
		return nil, nil
	}
	return []packer.Plugin{{Source: workspace.PluginSource, Name: "proxmox", Version: f.plugin}}, nil
}

// world is one doctor run: a simulator from a seed, the repository's
// desired file and workspace (templates adjusted by the case), local
// files in a temporary directory.
type world struct {
	t      testing.TB
	sim    *pvesim.Server
	in     doctor.Input
	dir    string
	desire *state.Desired
}

func repo(t testing.TB, elem ...string) string {
	p, err := filepath.Abs(filepath.Join(append([]string{"..", ".."}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newWorld starts a simulator from seed (a path; "" for the default seed).
func newWorld(t testing.TB, seedPath string, edit func(*pvesim.Seed)) *world {
	t.Helper()
	var seed *pvesim.Seed
	var err error
	if seedPath == "" {
		seed = pvesim.DefaultSeed()
	} else if seed, err = pvesim.LoadSeed(seedPath); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(seed)
	}
	srv, err := pvesim.Start(pvesim.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	d, err := workspace.LoadDesired(repo(t, "desired", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The var files' world: ISOs and base VMs named by the var files
	// (TestDoctorImages keeps the desired images).
	d.Images = nil
	for i := range d.Templates {
		d.Templates[i].Image, d.Templates[i].ExtraImages = "", nil
	}
	w := &world{t: t, sim: srv, dir: t.TempDir(), desire: d}
	key := filepath.Join(w.dir, "keys", "ledger.key")
	if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("PRIVATE+KEY+test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(w.dir, "evidence", "ledger"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.in = doctor.Input{Desired: d, PackerRoot: repo(t, "packer"),
		Conn:    proxmox.Config{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: proxmox.Secret(srv.TokenSecret()), CAFile: srv.CAFile()},
		Packer:  fakePacker{version: "1.11.2", plugin: "1.2.4"},
		KeyPath: key, EvidenceDir: filepath.Join(w.dir, "evidence"), StateDir: filepath.Join(w.dir, "state")}
	return w
}

// token switches to another of the seed's tokens.
func (w *world) token(id, secret string) {
	w.in.Conn.TokenID, w.in.Conn.TokenSecret = id, proxmox.Secret(secret)
}

// only keeps the named templates.
func (w *world) only(names ...string) {
	w.desire.Templates = slices.DeleteFunc(w.desire.Templates, func(t state.Template) bool { return !slices.Contains(names, t.Name) })
}

// each changes every template.
func (w *world) each(f func(*state.Template)) {
	for i := range w.desire.Templates {
		f(&w.desire.Templates[i])
	}
}

func (w *world) run() (*doctor.Snapshot, []doctor.Result) {
	w.t.Helper()
	if w.in.Cluster == nil && w.in.ConnErr == nil {
		cl, err := proxmox.New(w.in.Conn, proxmox.Options{})
		if err != nil {
			w.t.Fatal(err)
		}
		w.in.Cluster = cl
	}
	s := doctor.Gather(context.Background(), w.in)
	return s, doctor.Evaluate(s)
}

// golden compares the text rendering of rs with testdata/golden/name.txt,
// with the simulator's address and the temporary directory replaced.
func (w *world) golden(name string, rs []doctor.Result) {
	w.t.Helper()
	var b bytes.Buffer
	if err := doctor.WriteText(&b, rs, doctor.TextOptions{Verbose: true}); err != nil {
		w.t.Fatal(err)
	}
	got := b.String()
	host := strings.TrimSuffix(strings.TrimPrefix(w.sim.URL(), "https://"), "/api2/json")
	got = strings.ReplaceAll(got, host, "SIM")
	got = strings.ReplaceAll(got, w.dir, "TMP")
	got = strings.ReplaceAll(got, repo(w.t), "REPO")
	got = regexp.MustCompile(`pid \d+`).ReplaceAllString(got, "pid PID")
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		w.t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		w.t.Errorf("%s differs from %s (go test -update rewrites it):\n--- got ---\n%s--- want ---\n%s", name, path, got, want)
	}
}

func failed(rs []doctor.Result) []string {
	var out []string
	for _, r := range rs {
		if r.Status == doctor.Fail {
			out = append(out, r.ID)
		}
	}
	return out
}

// pick returns the results whose id has one of the prefixes.
func pick(rs []doctor.Result, prefixes ...string) []doctor.Result {
	var out []doctor.Result
	for _, r := range rs {
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(r.ID, p) }) {
			out = append(out, r)
		}
	}
	return out
}

const doctorSeed = "../pvesim/testdata/doctor.yaml"

func TestDoctorPassesOnTheDefaultSeed(t *testing.T) {
	w := newWorld(t, "", nil)
	s, rs := w.run()
	if f := failed(rs); len(f) > 0 || doctor.Failed(rs) {
		var b bytes.Buffer
		doctor.WriteText(&b, rs, doctor.TextOptions{})
		t.Fatalf("failures on the default seed: %v\n%s", f, b.String())
	}
	if len(rs) < 20 {
		t.Fatalf("only %d checks ran", len(rs))
	}
	for _, id := range []string{"api", "tls", "token", "version", "privileges.build", "privileges.lease", "node.pve1", "storage.pve1.local-lvm", "storage.pve1.local", "isos", "clone-bases", "ranges.foreign", "next-id", "clock.pve1", "packer", "plugin", "ledger.key", "ledger.dir", "state.lock"} {
		if !slices.ContainsFunc(rs, func(r doctor.Result) bool { return r.ID == id && r.Status == doctor.Pass }) {
			t.Errorf("check %s did not pass", id)
		}
	}
	// 5 cluster-wide requests, time and storages of pve1, the ISO listing
	// of local (the Windows ISO build).
	if s.API.Requests != 8 {
		t.Errorf("requests = %d, want 8", s.API.Requests)
	}
}

// failureCase is one first-day failure provoked on a simulator seed.
type failureCase struct {
	name  string
	seed  string
	edit  func(*pvesim.Seed)
	setup func(*world)
	// want are the prefixes of the checks that must fail (and are golden).
	want []string
}

func failureCases() []failureCase {
	onlyTpl := func(name string, f func(*state.Template)) func(*world) {
		return func(w *world) {
			w.only(name)
			if f != nil {
				w.each(f)
			}
		}
	}
	return []failureCase{
		{name: "api-unreachable", setup: func(w *world) { w.in.Conn.URL = "https://127.0.0.1:1/api2/json" }, want: []string{"api"}},
		{name: "tls-unknown-ca", setup: func(w *world) { w.in.Conn.CAFile = "" }, want: []string{"tls"}},
		{name: "token-invalid", setup: func(w *world) { w.in.Conn.TokenSecret = "00000000-0000-4000-8000-000000000000" }, want: []string{"token"}},
		{name: "config-missing", setup: func(w *world) { w.in.ConnErr = errors.New("PROXMOX_URL is not set (environment or env file)") }, want: []string{"config"}},
		{name: "privileges-missing", seed: doctorSeed, setup: func(w *world) {
			w.token("templated@pve!weak", "6f0f8a52-0000-4000-8000-00000000000b")
			w.only("tpl-ubuntu-24.04", "tpl-win2022")
		}, want: []string{"privileges."}},
		{name: "privileges-pve8-role-on-pve9", seed: doctorSeed, setup: func(w *world) {
			w.token("templated@pve!legacy", "6f0f8a52-0000-4000-8000-00000000000c")
			w.only("tpl-ubuntu-24.04")
		}, want: []string{"privileges.build"}},
		{name: "storage-without-images", seed: doctorSeed, setup: onlyTpl("tpl-ubuntu-24.04", func(t *state.Template) { t.Storage = "scratch" }), want: []string{"storage.pve1.scratch"}},
		{name: "storage-without-iso", seed: doctorSeed, setup: onlyTpl("tpl-win2022", func(t *state.Template) { t.ISOStorage = "backup-nfs" }), want: []string{"storage.pve1.backup-nfs"}},
		{name: "storage-disabled", seed: doctorSeed, setup: onlyTpl("tpl-ubuntu-24.04", func(t *state.Template) { t.Storage = "old-nfs" }), want: []string{"storage.pve1.old-nfs"}},
		{name: "storage-missing", seed: doctorSeed, setup: onlyTpl("tpl-ubuntu-24.04", func(t *state.Template) { t.Storage = "ceph-vm" }), want: []string{"storage.pve1.ceph-vm"}},
		{name: "iso-missing", seed: doctorSeed, setup: func(w *world) {
			w.only("tpl-ubuntu-24.04", "tpl-rocky-9", "tpl-win2022")
			w.each(func(t *state.Template) { t.Build = "iso" })
		}, want: []string{"isos"}},
		{name: "clone-base-missing", seed: doctorSeed, setup: func(w *world) { w.only("tpl-ubuntu-22.04", "tpl-ubuntu-24.04", "tpl-rocky-9") }, want: []string{"clone-bases"}},
		{name: "node-offline", seed: doctorSeed, setup: onlyTpl("tpl-ubuntu-24.04", func(t *state.Template) { t.Node = "pve2" }), want: []string{"node.pve2"}},
		{name: "node-unknown", seed: doctorSeed, setup: onlyTpl("tpl-ubuntu-24.04", func(t *state.Template) { t.Node = "pve7" }), want: []string{"node.pve7"}},
		{name: "clock-skew", seed: doctorSeed, setup: onlyTpl("tpl-ubuntu-24.04", func(t *state.Template) { t.Node = "pve3" }), want: []string{"clock.pve3"}},
		{name: "next-id-overlap", seed: doctorSeed, setup: onlyTpl("tpl-ubuntu-24.04", nil), want: []string{"next-id"}},
		{name: "lease-vmid-taken", edit: func(s *pvesim.Seed) {
			s.Guests = append(s.Guests, pvesim.GuestSpec{VMID: 9949, Node: "pve1", Name: "scratch-vm", Config: map[string]string{"memory": "512"}},
				pvesim.GuestSpec{VMID: 9960, Node: "pve1", Name: "old-golden", Template: true, Config: map[string]string{"memory": "512"}})
		}, want: []string{"ranges.foreign"}},
		{name: "packer-missing", setup: func(w *world) {
			w.in.Packer = fakePacker{err: errors.New(`packer version: exec: "packer": executable file not found in $PATH`)}
		}, want: []string{"packer", "plugin"}},
		{name: "plugin-unsupported", setup: func(w *world) { w.in.Packer = fakePacker{version: "1.11.2", plugin: "1.0.5"} }, want: []string{"plugin"}},
		{name: "plugin-missing", setup: func(w *world) { w.in.Packer = fakePacker{version: "1.11.2"} }, want: []string{"plugin"}},
		{name: "ledger-key-missing", setup: func(w *world) { w.in.KeyPath = filepath.Join(w.dir, "keys", "absent.key") }, want: []string{"ledger.key"}},
		{name: "ledger-key-readable-by-others", setup: func(w *world) {
			if err := os.Chmod(w.in.KeyPath, 0o644); err != nil {
				w.t.Fatal(err)
			}
		}, want: []string{"ledger.key"}},
		{name: "ledger-not-initialised", setup: func(w *world) { w.in.EvidenceDir = filepath.Join(w.dir, "no-evidence") }, want: []string{"ledger.dir"}},
		{name: "state-locked", setup: func(w *world) {
			j, err := journal.OpenJournal(w.in.StateDir)
			if err != nil {
				w.t.Fatal(err)
			}
			unlock, err := j.Lock() // flock: a second open file conflicts, even in this process
			if err != nil {
				w.t.Fatal(err)
			}
			w.t.Cleanup(unlock)
		}, want: []string{"state.lock"}},
	}
}

func TestDoctorFailures(t *testing.T) {
	for _, c := range failureCases() {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.seed, c.edit)
			if c.setup != nil {
				c.setup(w)
			}
			_, rs := w.run()
			var got []doctor.Result
			for _, r := range pick(rs, c.want...) {
				if r.Status != doctor.Pass {
					got = append(got, r)
				}
			}
			if len(got) == 0 {
				t.Fatalf("no check %v failed; failed: %v", c.want, failed(rs))
			}
			for _, r := range got {
				if r.Status != doctor.Fail {
					t.Errorf("%s: %s (%s), want fail", r.ID, r.Status, r.Message)
				}
				if r.Fix == "" {
					t.Errorf("%s fails without a fix", r.ID)
				}
			}
			if !doctor.Failed(rs) {
				t.Error("Failed(results) is false")
			}
			w.golden(c.name, got)
		})
	}
}

// TestDoctorSeedAllAtOnce runs the repository's four templates against
// doctor.yaml as it is: each of its problems shows up in one run.
func TestDoctorSeedAllAtOnce(t *testing.T) {
	w := newWorld(t, doctorSeed, nil)
	_, rs := w.run()
	want := []string{"isos", "clone-bases", "next-id"}
	if got := failed(rs); !slices.Equal(got, want) {
		t.Fatalf("failed = %v, want %v", got, want)
	}
	var fails []doctor.Result
	for _, r := range rs {
		if r.Status != doctor.Pass {
			fails = append(fails, r)
		}
	}
	w.golden("doctor-seed", fails)
}

func TestDoctorRequestsGrowWithNodesNotTemplates(t *testing.T) {
	counts := map[int]int64{}
	for _, n := range []int{4, 200} {
		w := newWorld(t, "", nil)
		w.desire.Templates = manyTemplates(w.desire, n)
		s, rs := w.run()
		if doctor.Failed(rs) {
			t.Fatalf("%d templates: failed %v", n, failed(rs))
		}
		counts[n] = s.API.Requests
	}
	if counts[4] != counts[200] {
		t.Fatalf("requests: %d with 4 templates, %d with 200", counts[4], counts[200])
	}
}

// manyTemplates makes n templates from d's, at VMIDs 9000.. of the
// templates range.
func manyTemplates(d *state.Desired, n int) []state.Template {
	out := make([]state.Template, 0, n)
	for i := range n {
		t := d.Templates[i%len(d.Templates)]
		t.Name, t.VMID = fmt.Sprintf("%s-%03d", t.Name, i), d.VMIDs.Templates.First+i
		out = append(out, t)
	}
	return out
}

func BenchmarkDoctor(b *testing.B) {
	for _, n := range []int{4, 200} {
		b.Run(fmt.Sprintf("templates=%d", n), func(b *testing.B) {
			w := newWorld(b, "", nil)
			w.desire.Templates = manyTemplates(w.desire, n)
			var reqs int64
			for b.Loop() {
				w.in.Cluster = nil
				s, _ := w.run()
				reqs = s.API.Requests
			}
			b.ReportMetric(float64(reqs), "requests/op")
		})
	}
}
