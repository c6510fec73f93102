package doctor

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/gocty"

	"templated/internal/state"
)

// templateNeeds reads what t's build needs from the desired entry and its
// var file (iso_filename, extra_iso_files, clone_vm or clone_vm_id,
// network_bridge; packer/shared/variables.pkr.hcl declares them).
func templateNeeds(root string, t state.Template) Template {
	out := Template{Name: t.Name, VMID: t.VMID, Node: t.Node, Storage: t.Storage, ISOStorage: t.ISOStorage, Build: t.Build, Bridge: "vmbr0"}
	if fi, err := os.Stat(filepath.Join(root, t.Packer, "cd")); err == nil && fi.IsDir() {
		out.Answers = true
	}
	vars, err := readVarFile(filepath.Join(root, t.VarFile))
	if err != nil {
		out.VarErr = err.Error()
		return out
	}
	out.Bridge = cmp.Or(vars.str("network_bridge"), out.Bridge)
	switch t.Build {
	case "iso":
		if iso := vars.str("iso_filename"); iso != "" {
			out.ISOs = append(out.ISOs, iso)
		}
		out.ISOs = append(out.ISOs, vars.list("extra_iso_files")...)
	case "clone":
		out.CloneVM = vars.str("clone_vm")
		out.CloneVMID = vars.num("clone_vm_id")
		if out.CloneVM == "" && out.CloneVMID == 0 {
			out.VarErr = fmt.Sprintf("%s sets neither clone_vm nor clone_vm_id, which clone builds need", t.VarFile)
		}
	}
	return out
}

// varFile is a var file's constant attributes.
type varFile map[string]cty.Value

func readVarFile(path string) (varFile, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read var file: %w", err)
	}
	f, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, fmt.Errorf("parse var file: %s", diags.Error())
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return nil, fmt.Errorf("parse var file: %s", diags.Error())
	}
	out := varFile{}
	for name, a := range attrs {
		v, d := a.Expr.Value(&hcl.EvalContext{})
		if !d.HasErrors() {
			out[name] = v
		}
	}
	return out, nil
}

func (v varFile) str(name string) string {
	var s string
	if val, ok := v[name]; ok && val.Type() == cty.String && gocty.FromCtyValue(val, &s) == nil {
		return s
	}
	return ""
}

func (v varFile) num(name string) int {
	var n int
	if val, ok := v[name]; ok && val.Type() == cty.Number && gocty.FromCtyValue(val, &n) == nil {
		return n
	}
	return 0
}

func (v varFile) list(name string) []string {
	val, ok := v[name]
	if !ok || !(val.Type().IsTupleType() || val.Type().IsListType()) {
		return nil
	}
	var out []string
	for it := val.ElementIterator(); it.Next(); {
		_, e := it.Element()
		var s string
		if e.Type() == cty.String && gocty.FromCtyValue(e, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}
