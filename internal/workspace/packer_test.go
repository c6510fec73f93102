package workspace

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"templated/internal/state"
)

// validate assembles tmpl from the workspace at root and runs the real
// `packer validate` on it with templated's variables.
func validate(t *testing.T, p packerTool, root string, tmpl state.Template) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "build")
	if err := Assemble(root, tmpl, p.gen, dir); err != nil {
		t.Fatal(err)
	}
	vars, err := BuildVars(tmpl, Build{ID: "validate", ManifestPath: "manifest.json"})
	if err != nil {
		t.Fatal(err)
	}
	return p.run(t, time.Minute, dir, validateEnv, append([]string{"validate"}, varArgs(tmpl, vars)...)...)
}

// TestPackerValidatesEveryTemplate: the real Packer and plugin accept every
// OS version in both build modes.
func TestPackerValidatesEveryTemplate(t *testing.T) {
	p := needPacker(t)
	for _, tmpl := range defaultTemplates() {
		for _, mode := range []string{"iso", "clone"} {
			tmpl.Build = mode
			t.Run(tmpl.Name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				out, err := validate(t, p, workspaceRoot(t), tmpl)
				if err != nil || !strings.Contains(out, "The configuration is valid.") || strings.Contains(out, "Warning") {
					t.Fatalf("packer validate: %v\n%s", err, out)
				}
			})
		}
	}
}

// copyWorkspace copies the repository's workspace to a temporary
// directory that a test may break.
func copyWorkspace(t *testing.T) string {
	t.Helper()
	src, dst := workspaceRoot(t), filepath.Join(t.TempDir(), "packer")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return copyFile(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func rewrite(t *testing.T, file string, edit func(string) string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(edit(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenWorkspacesFailClearly: each broken workspace is refused with a
// message that names the problem and where it is.
func TestBrokenWorkspacesFailClearly(t *testing.T) {
	p := needPacker(t)
	rocky := defaultTemplates()[2]
	rocky.Build = "iso"

	t.Run("missing var file", func(t *testing.T) {
		t.Parallel()
		root := copyWorkspace(t)
		if err := os.Remove(filepath.Join(root, rocky.VarFile)); err != nil {
			t.Fatal(err)
		}
		want := "template tpl-rocky-9: var file linux/rocky/rocky-9.pkrvars.hcl"
		err := Assemble(root, rocky, "v1.1", filepath.Join(t.TempDir(), "b"))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("Assemble: %v, want %q ... no such file", err, want)
		}
		if err := Check(root, rocky); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v, want %q", err, want)
		}
		if _, err := InputsHash(nil, rocky, root, "1.11.2"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("InputsHash: %v, want %q", err, want)
		}
	})

	t.Run("syntax error in var file", func(t *testing.T) {
		t.Parallel()
		root := copyWorkspace(t)
		rewrite(t, filepath.Join(root, rocky.VarFile), func(s string) string {
			return strings.Replace(s, `clone_vm = "base-rocky-9"`, `clone_vm = "base-rocky-9`, 1)
		})
		err := Check(root, rocky)
		if err == nil || !regexp.MustCompile(`linux/rocky/rocky-9\.pkrvars\.hcl:\d+: (Unterminated|Invalid multi-line)`).MatchString(err.Error()) {
			t.Errorf("Check: %v, want the var file, line and the syntax error", err)
		}
		out, err := validate(t, p, root, rocky)
		if err == nil || !regexp.MustCompile(`on rocky-9\.pkrvars\.hcl line \d+`).MatchString(out) {
			t.Errorf("packer validate: %v, want a failure naming rocky-9.pkrvars.hcl and the line:\n%s", err, out)
		}
	})

	t.Run("unknown variable", func(t *testing.T) {
		t.Parallel()
		root := copyWorkspace(t)
		rewrite(t, filepath.Join(root, rocky.VarFile), func(s string) string { return s + "\ncpu_count = 4\n" })
		err := Check(root, rocky)
		if err == nil || !regexp.MustCompile(`undeclared variables: cpu_count \(linux/rocky/rocky-9\.pkrvars\.hcl:\d+\)`).MatchString(err.Error()) {
			t.Errorf("Check: %v, want cpu_count named with its line", err)
		}
		// Packer itself only warns; validate-all.sh turns the warning into a failure.
		out, _ := validate(t, p, root, rocky)
		if !strings.Contains(out, `The variable "cpu_count" was set but was not declared`) {
			t.Errorf("packer validate does not mention cpu_count:\n%s", out)
		}
	})

	t.Run("malformed ISO checksum", func(t *testing.T) {
		t.Parallel()
		root := copyWorkspace(t)
		rewrite(t, filepath.Join(root, rocky.VarFile), func(s string) string {
			return regexp.MustCompile(`iso_checksum = "sha256:[0-9a-f]+"`).ReplaceAllString(s, `iso_checksum = "sha256:eedbdc28"`)
		})
		if err := Check(root, rocky); err != nil {
			t.Fatalf("Check: %v (the checksum format is Packer's to check)", err)
		}
		for _, mode := range []string{"iso", "clone"} {
			tmpl := rocky
			tmpl.Build = mode
			out, err := validate(t, p, root, tmpl)
			if err == nil || !strings.Contains(out, "The iso_checksum must be") || !strings.Contains(out, "rocky-9.pkrvars.hcl") {
				t.Errorf("packer validate (%s): %v, want the iso_checksum rule and the var file:\n%s", mode, err, out)
			}
		}
	})
}

// TestNewOSVersionNeedsOnlyAVarFile: Rocky 10 is a new var file and a
// desired entry; nothing else changes, and Rocky 9's inputs stay the same.
func TestNewOSVersionNeedsOnlyAVarFile(t *testing.T) {
	p := needPacker(t)
	root := copyWorkspace(t)
	rocky9 := defaultTemplates()[2]
	before, err := InputsHash(nil, rocky9, root, "1.11.2")
	if err != nil {
		t.Fatal(err)
	}
	rocky10 := rocky9
	rocky10.Name, rocky10.VMID, rocky10.OSVersion = "tpl-rocky-10", 9003, "10"
	rocky10.VarFile = "linux/rocky/rocky-10.pkrvars.hcl"
	data, err := os.ReadFile(filepath.Join(root, rocky9.VarFile))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.NewReplacer(`"rocky-9"`, `"rocky-10"`, `os_version      = "9"`, `os_version      = "10"`,
		"Rocky-9.5-x86_64-minimal.iso", "Rocky-10.0-x86_64-minimal.iso", "base-rocky-9", "base-rocky-10").Replace(string(data))
	if err := os.WriteFile(filepath.Join(root, rocky10.VarFile), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(root, rocky10); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"iso", "clone"} {
		rocky10.Build = mode
		if out, err := validate(t, p, root, rocky10); err != nil {
			t.Fatalf("packer validate rocky 10 (%s): %v\n%s", mode, err, out)
		}
	}
	after, err := InputsHash(nil, rocky9, root, "1.11.2")
	if err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Error("adding rocky-10.pkrvars.hcl changed Rocky 9's inputs hash")
	}
}

// TestPackerValidatesAnswerISO: the real Packer accepts the Windows ISO
// build with templated's uploaded answer CD (answer_iso) and refuses a
// value that is not an ISO volume id.
func TestPackerValidatesAnswerISO(t *testing.T) {
	p := needPacker(t)
	win := defaultTemplates()[3]
	dir := filepath.Join(t.TempDir(), "build")
	if err := Assemble(workspaceRoot(t), win, p.gen, dir); err != nil {
		t.Fatal(err)
	}
	vars, err := BuildVars(win, Build{ID: "validate", ManifestPath: "manifest.json", Communicator: "none"})
	if err != nil {
		t.Fatal(err)
	}
	for iso, ok := range map[string]bool{"local:iso/templated-answers-1.iso": true, "answers.iso": false, "local:iso/a.img": false} {
		vars["answer_iso"] = iso
		out, err := p.run(t, time.Minute, dir, validateEnv, append([]string{"validate"}, varArgs(win, vars)...)...)
		valid := err == nil && strings.Contains(out, "The configuration is valid.") && !strings.Contains(out, "Undefined variable")
		if valid != ok || (!ok && !strings.Contains(out, "The answer_iso must be an ISO volume id")) {
			t.Errorf("answer_iso=%s: valid %v, want %v\n%s", iso, valid, ok, out)
		}
	}
}
