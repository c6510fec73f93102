package workspace

import (
	"fmt"
	"os"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"templated/internal/state"
)

// Needs is what a template's build takes from the cluster besides its
// storages, as its var file says: the guest a clone build starts from, or
// the ISOs an ISO build boots (the installer and any extra ones, as file
// names on the template's ISO storage). templated checks them before
// Packer runs, so that a missing one blocks the plan instead of failing a
// build minutes in.
type Needs struct {
	CloneVM string
	ISOs    []string
	// Bridge is the network bridge the build's VM attaches to.
	Bridge string
}

// BuildNeeds reads t's needs from the workspace at root.
func BuildNeeds(root string, t state.Template) (Needs, error) {
	fsys := os.DirFS(root)
	bridge, err := varString(fsys, t, "network_bridge")
	if err != nil {
		return Needs{}, fmt.Errorf("needs of %s: %w", t.Name, err)
	}
	if t.Build == state.BuildClone {
		vm, err := varString(fsys, t, "clone_vm")
		if err != nil {
			return Needs{}, fmt.Errorf("needs of %s: %w", t.Name, err)
		}
		return Needs{CloneVM: vm, Bridge: bridge}, nil
	}
	iso, err := varString(fsys, t, "iso_filename")
	if err != nil {
		return Needs{}, fmt.Errorf("needs of %s: %w", t.Name, err)
	}
	n := Needs{ISOs: []string{iso}, Bridge: bridge}
	e, err := varExpr(fsys, t, "extra_iso_files")
	if err != nil {
		return n, nil // not declared: no extra ISOs
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		return Needs{}, fmt.Errorf("needs of %s: extra_iso_files: %s", t.Name, diagText(diags))
	}
	v, err = convert.Convert(v, cty.List(cty.String))
	if err != nil || v.IsNull() || !v.IsKnown() {
		return Needs{}, fmt.Errorf("needs of %s: extra_iso_files is not a list of file names", t.Name)
	}
	for _, x := range v.AsValueSlice() {
		n.ISOs = append(n.ISOs, x.AsString())
	}
	return n, nil
}
