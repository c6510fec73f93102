package workspace

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"templated/internal/state"
)

func memWorkspace() fstest.MapFS {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }
	return fstest.MapFS{
		"shared/variables.pkr.hcl":              f(`variable "os_slug" {}`),
		"shared/build.pkr.hcl":                  f(`build {}`),
		"shared/scripts/linux/cleanup.sh":       {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"shared/gen/v1.1/sources.pkr.hcl":       f(`source "proxmox-iso" "template" {}`),
		"shared/gen/v1.2/sources.pkr.hcl":       f(`source "proxmox-iso" "template" {}`),
		"linux/ubuntu/ubuntu-22.04.pkrvars.hcl": f(`os_slug = "ubuntu-22.04"`),
		"linux/ubuntu/ubuntu-24.04.pkrvars.hcl": f(`os_slug = "ubuntu-24.04"`),
		"linux/ubuntu/http/user-data.pkrtpl":    f("#cloud-config\n"),
		"linux/rocky/rocky-9.pkrvars.hcl":       f(`os_slug = "rocky-9"`),
		"linux/rocky/http/ks.cfg.pkrtpl":        f("text\n"),
	}
}

func TestFilesListsSharedOSDirAndOwnVarFile(t *testing.T) {
	tmpl := defaultTemplates()[0] // ubuntu 22.04
	got, err := Files(memWorkspace(), tmpl)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"linux/ubuntu/http/user-data.pkrtpl",
		"linux/ubuntu/ubuntu-22.04.pkrvars.hcl",
		"shared/build.pkr.hcl",
		"shared/gen/v1.1/sources.pkr.hcl",
		"shared/gen/v1.2/sources.pkr.hcl",
		"shared/scripts/linux/cleanup.sh",
		"shared/variables.pkr.hcl",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Files = %q\nwant %q", got, want)
	}
}

func TestFilesRefusesBadTemplates(t *testing.T) {
	base := defaultTemplates()[0]
	cases := map[string]struct {
		edit func(*state.Template)
		want string
	}{
		"missing var file":     {func(t *state.Template) { t.VarFile = "linux/ubuntu/ubuntu-26.04.pkrvars.hcl" }, "var file linux/ubuntu/ubuntu-26.04.pkrvars.hcl"},
		"var file elsewhere":   {func(t *state.Template) { t.VarFile = "linux/rocky/rocky-9.pkrvars.hcl" }, "must be a .pkrvars.hcl file directly in linux/ubuntu"},
		"escaping path":        {func(t *state.Template) { t.Packer = "../linux" }, "invalid workspace path"},
		"shared as OS dir":     {func(t *state.Template) { t.Packer, t.VarFile = "shared", "shared/x.pkrvars.hcl" }, "inside shared/"},
		"missing OS directory": {func(t *state.Template) { t.Packer, t.VarFile = "linux/debian", "linux/debian/debian-12.pkrvars.hcl" }, "debian-12.pkrvars.hcl"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tmpl := base
			c.edit(&tmpl)
			_, err := Files(memWorkspace(), tmpl)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), tmpl.Name) {
				t.Fatalf("Files error = %v, want one naming %s and containing %q", err, tmpl.Name, c.want)
			}
		})
	}
	tmpl := base
	tmpl.VarFile = "linux/ubuntu/ubuntu-26.04.pkrvars.hcl"
	if _, err := Files(memWorkspace(), tmpl); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing var file: error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestInputsHashChangesOnlyWithWhatTheBuildUses(t *testing.T) {
	tpls := defaultTemplates()
	u22, u24, rocky := tpls[0], tpls[1], tpls[2]
	hashes := func(fsys fs.FS, tc Toolchain) map[string]string {
		t.Helper()
		m := map[string]string{}
		for _, tmpl := range []state.Template{u22, u24, rocky} {
			h, err := inputsHash(fsys, tmpl, tc)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 {
				t.Fatalf("hash %q is not sha256:<hex>", h)
			}
			m[tmpl.Name] = h
		}
		return m
	}
	ci := Toolchain{Packer: "1.11.2", Plugin: "1.1.1"}
	base := hashes(memWorkspace(), ci)
	if again := hashes(memWorkspace(), ci); !equalMaps(base, again) {
		t.Fatal("the same inputs hash differently")
	}
	changed := func(after map[string]string) []string {
		var names []string
		for n, h := range after {
			if base[n] != h {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return names
	}
	edit := func(file, data string) fs.FS {
		ws := memWorkspace()
		ws[file] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
		return ws
	}
	for _, c := range []struct {
		what string
		fsys fs.FS
		want []string
	}{
		{"one var file", edit("linux/ubuntu/ubuntu-24.04.pkrvars.hcl", `os_slug = "ubuntu-24.04" # edited`), []string{u24.Name}},
		{"the ubuntu answer file", edit("linux/ubuntu/http/user-data.pkrtpl", "#cloud-config\n# edited\n"), []string{u22.Name, u24.Name}},
		{"a shared file", edit("shared/build.pkr.hcl", "build { }"), []string{rocky.Name, u22.Name, u24.Name}},
		{"a generation file", edit("shared/gen/v1.2/sources.pkr.hcl", "# edited"), []string{rocky.Name, u22.Name, u24.Name}},
		{"a new shared file", edit("shared/locals.pkr.hcl", "locals {}"), []string{rocky.Name, u22.Name, u24.Name}},
		{"another OS's new var file", edit("linux/rocky/rocky-10.pkrvars.hcl", `os_slug = "rocky-10"`), nil},
	} {
		if got := changed(hashes(c.fsys, ci)); !slices.Equal(got, c.want) {
			t.Errorf("editing %s changed %v, want %v", c.what, got, c.want)
		}
	}
	for _, tc := range []Toolchain{
		{Packer: "1.12.0", Plugin: "1.1.1"}, // a new Packer
		{Packer: "1.11.2", Plugin: "1.1.2"}, // a new plugin, the same generation
		{Packer: "1.11.2", Plugin: "1.2.4"}, // a new plugin and generation
		{Packer: "1.11.2"},                  // a plugin Packer could not list
	} {
		if got := changed(hashes(memWorkspace(), tc)); len(got) != 3 {
			t.Errorf("toolchain %+v changed %v, want every template", tc, got)
		}
	}
	if _, err := inputsHash(memWorkspace(), u22, Toolchain{Packer: "1.11.2", Plugin: "1.0.8"}); err == nil ||
		!strings.Contains(err.Error(), "packer-plugin-proxmox 1.0.8 is not supported") {
		t.Errorf("an unsupported plugin hashed: %v", err)
	}

	entry := func(edit func(*state.Template)) bool {
		tmpl := u22
		edit(&tmpl)
		h, err := inputsHash(memWorkspace(), tmpl, ci)
		if err != nil {
			t.Fatal(err)
		}
		return h != base[u22.Name]
	}
	for name, e := range map[string]func(*state.Template){
		"cores":   func(t *state.Template) { t.Cores = 4 },
		"memory":  func(t *state.Template) { t.MemoryMiB = 4096 },
		"disk":    func(t *state.Template) { t.DiskGB = 40 },
		"build":   func(t *state.Template) { t.Build = "iso" },
		"storage": func(t *state.Template) { t.Storage = "ceph" },
		"node":    func(t *state.Template) { t.Node = "pve2" },
		"vmid":    func(t *state.Template) { t.VMID = 9010 },
	} {
		if !entry(e) {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	for name, e := range map[string]func(*state.Template){
		"line":          func(t *state.Template) { t.Line = 99 },
		"max age":       func(t *state.Template) { t.MaxAge = 1 },
		"suspended":     func(t *state.Template) { t.Suspended, t.SuspendReason = true, "x" },
		"keep previous": func(t *state.Template) { t.KeepPrevious = 5 },
		"build timeout": func(t *state.Template) { t.BuildTimeout = 1 },
	} {
		if entry(e) {
			t.Errorf("changing %s changes the hash", name)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestInputsHashNeedsTheTemplateInDesired(t *testing.T) {
	tpls := defaultTemplates()
	d := &state.Desired{Templates: tpls[:1]}
	root := workspaceRoot(t)
	if _, err := InputsHash(d, tpls[0], root, "1.11.2"); err != nil {
		t.Fatal(err)
	}
	if _, err := InputsHash(d, tpls[1], root, "1.11.2"); err == nil || !strings.Contains(err.Error(), tpls[1].Name) {
		t.Errorf("template outside desired: error %v", err)
	}
}

func TestBuildVars(t *testing.T) {
	tmpl := defaultTemplates()[3]
	vars, err := BuildVars(tmpl, Build{VMID: 9150, ID: "b-1", ManifestPath: "/out/m.json",
		Description: `a "quoted" description`, Tags: []string{"templated", "win2022"}, Communicator: "none"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"build_mode": "iso", "vm_id": "9150", "template_name": "tpl-win2022", "node": "pve1",
		"storage": "local-lvm", "iso_storage": "local", "cores": "2", "memory": "2048", "disk_size": "20G",
		"build_id": "b-1", "manifest_path": "/out/m.json", "template_description": `a "quoted" description`,
		"tags": "templated;win2022", "communicator": "none",
	}
	if !equalMaps(vars, want) {
		t.Errorf("BuildVars = %v\nwant %v", vars, want)
	}
	vars, err = BuildVars(tmpl, Build{ID: "b-2", ManifestPath: "m.json"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"communicator", "tags", "template_description"} {
		if _, ok := vars[k]; ok {
			t.Errorf("%s set without being asked for", k)
		}
	}
	if vars["vm_id"] != "9100" {
		t.Errorf("vm_id = %s, want the template's 9100", vars["vm_id"])
	}
	if _, err := BuildVars(tmpl, Build{ID: "b", ManifestPath: "m", Tags: []string{"a;b"}}); err == nil {
		t.Error("a tag with ';' accepted")
	}
	if _, err := BuildVars(tmpl, Build{ManifestPath: "m"}); err == nil {
		t.Error("no build id accepted")
	}
}

func TestBuildEnvKeepsSecretsOutOfVars(t *testing.T) {
	env := BuildEnv(Conn{URL: "https://pve:8006/api2/json", TokenID: "t@pve!x", TokenSecret: "s3cret-value", CAFile: "/ca.pem"})
	if env["PROXMOX_TOKEN_SECRET"] != "s3cret-value" || env["SSL_CERT_FILE"] != "/ca.pem" || env["PROXMOX_INSECURE_SKIP_TLS_VERIFY"] != "false" {
		t.Errorf("BuildEnv = %v", env)
	}
	if _, ok := BuildEnv(Conn{})["SSL_CERT_FILE"]; ok {
		t.Error("SSL_CERT_FILE set without a CA file")
	}
	vars, err := BuildVars(defaultTemplates()[0], Build{ID: "b", ManifestPath: "m"})
	if err != nil {
		t.Fatal(err)
	}
	for k := range vars {
		if strings.Contains(k, "token") || strings.Contains(k, "password") || strings.Contains(k, "proxmox") {
			t.Errorf("BuildVars sets %s; connection settings and secrets belong in BuildEnv", k)
		}
	}
}

// TestAssembleMatchesScript: Assemble and packer/assemble.sh make the same
// tree (paths, contents, executable bits) for every template and both
// plugin generations.
func TestAssembleMatchesScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	root := workspaceRoot(t)
	for _, tmpl := range defaultTemplates() {
		for _, gen := range []string{"v1.1", "v1.2"} {
			goDir, shDir := filepath.Join(t.TempDir(), "go"), filepath.Join(t.TempDir(), "sh")
			if err := Assemble(root, tmpl, gen, goDir); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", filepath.Join(root, "assemble.sh"), tmpl.Packer, tmpl.VarFile, gen, shDir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("assemble.sh: %v\n%s", err, out)
			}
			goTree, shTree := readTree(t, goDir), readTree(t, shDir)
			if !equalMaps(goTree, shTree) {
				t.Errorf("%s %s: Assemble and assemble.sh differ:\ngo: %v\nsh: %v", tmpl.Name, gen, keys(goTree), keys(shTree))
			}
			if _, ok := goTree[VarFileName(tmpl)]; !ok {
				t.Errorf("%s: no %s in the build directory", tmpl.Name, VarFileName(tmpl))
			}
			if _, ok := goTree["sources.pkr.hcl"]; !ok {
				t.Errorf("%s: no generation file in the build directory", tmpl.Name)
			}
		}
	}
	if err := Assemble(root, defaultTemplates()[0], "v9", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("unknown generation accepted")
	}
	dst := t.TempDir()
	if err := Assemble(root, defaultTemplates()[0], "v1.1", dst); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("existing destination: %v", err)
	}
}

// readTree maps each file under dir to its mode bits and content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		tree[filepath.ToSlash(rel)] = info.Mode().Perm().String() + "\n" + string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func keys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

// TestGenerationFilesParse: both plugin generations are valid HCL and
// differ where packer/README.md says they do. (v1.1 is also validated by
// the real Packer; v1.2 cannot be, as no 1.2 plugin builds here.)
func TestGenerationFilesParse(t *testing.T) {
	root := workspaceRoot(t)
	p := hclparse.NewParser()
	for _, gen := range []string{"v1.1", "v1.2"} {
		name := filepath.Join(root, "shared", "gen", gen, "sources.pkr.hcl")
		f, diags := p.ParseHCLFile(name)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", gen, diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type != "source" {
				continue
			}
			what := gen + " " + strings.Join(b.Labels, ".")
			_, tags := b.Body.Attributes["tags"]
			_, isoFile := b.Body.Attributes["iso_file"]
			bootISO, poolType := false, false
			for _, inner := range b.Body.Blocks {
				bootISO = bootISO || inner.Type == "boot_iso"
				if inner.Type == "disks" {
					_, poolType = inner.Body.Attributes["storage_pool_type"]
				}
			}
			iso := b.Labels[0] == "proxmox-iso"
			switch gen {
			case "v1.1":
				if tags || bootISO || (iso && (!poolType || !isoFile)) {
					t.Errorf("%s: want storage_pool_type and top-level iso_file, no boot_iso, no tags", what)
				}
			case "v1.2":
				if !tags || poolType || isoFile || (iso && !bootISO) {
					t.Errorf("%s: want tags and boot_iso, no storage_pool_type, no top-level iso_file", what)
				}
			}
		}
	}
	// Every other HCL file of the workspace parses too.
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".hcl") {
			return err
		}
		if _, diags := p.ParseHCLFile(path); diags.HasErrors() {
			t.Errorf("%s", diags.Error())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCheckAcceptsTheWorkspace(t *testing.T) {
	for _, tmpl := range defaultTemplates() {
		if err := Check(workspaceRoot(t), tmpl); err != nil {
			t.Errorf("%s: %v", tmpl.Name, err)
		}
	}
}
