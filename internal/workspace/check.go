package workspace

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"templated/internal/state"
)

// Check finds the mistakes in template t's part of the workspace at root
// that Packer reports late or only as a warning: a missing var file, HCL
// syntax errors (with file and line), and variables set in the var file
// that the shared files do not declare. Packer's own validation (types,
// the iso_checksum format, plugin settings) still runs at build time.
func Check(root string, t state.Template) error {
	fsys := os.DirFS(root)
	files, err := Files(fsys, t)
	if err != nil {
		return fmt.Errorf("check %s: %w", t.Name, err)
	}
	p := hclparse.NewParser()
	declared := map[string]bool{}
	var diags hcl.Diagnostics
	for _, f := range files {
		if !strings.HasSuffix(f, ".pkr.hcl") || strings.HasPrefix(f, genDir+"/") {
			continue
		}
		names, d := declaredVariables(p, fsys, f)
		diags = append(diags, d...)
		for _, n := range names {
			declared[n] = true
		}
	}
	src, err := fs.ReadFile(fsys, t.VarFile)
	if err != nil {
		return fmt.Errorf("check %s: %w", t.Name, err)
	}
	vf, d := p.ParseHCL(src, t.VarFile)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return fmt.Errorf("check %s: %s", t.Name, diagText(diags))
	}
	attrs, d := vf.Body.JustAttributes()
	if d.HasErrors() {
		return fmt.Errorf("check %s: %s", t.Name, diagText(d))
	}
	var unknown []string
	for name, a := range attrs {
		if !declared[name] {
			unknown = append(unknown, fmt.Sprintf("%s (%s:%d)", name, t.VarFile, a.NameRange.Start.Line))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("check %s: the var file sets undeclared variables: %s (declared in %s/*.pkr.hcl)",
			t.Name, strings.Join(unknown, ", "), sharedDir)
	}
	return nil
}

// declaredVariables returns the names of the variable blocks in file f.
func declaredVariables(p *hclparse.Parser, fsys fs.FS, f string) ([]string, hcl.Diagnostics) {
	src, err := fs.ReadFile(fsys, f)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: err.Error()}}
	}
	file, diags := p.ParseHCL(src, f)
	if diags.HasErrors() {
		return nil, diags
	}
	content, _, d := file.Body.PartialContent(&hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}},
	})
	var names []string
	for _, b := range content.Blocks {
		names = append(names, b.Labels[0])
	}
	return names, append(diags, d...)
}

// diagText is the errors of diags, one "file:line: summary; detail" each.
func diagText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		s := d.Summary
		if d.Detail != "" {
			s += ": " + d.Detail
		}
		if d.Subject != nil {
			s = fmt.Sprintf("%s:%d: %s", path.Clean(d.Subject.Filename), d.Subject.Start.Line, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
