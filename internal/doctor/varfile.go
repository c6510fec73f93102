package doctor

import (
	"fmt"
	"os"
	"path/filepath"

	"templated/internal/state"
	"templated/internal/workspace"
)

// templateNeeds reads what t's build needs from the desired entry and the
// workspace (workspace.BuildNeeds: the var file, else the shared
// declarations' defaults).
func templateNeeds(root string, t state.Template) Template {
	out := Template{Name: t.Name, VMID: t.VMID, Node: t.Node, Storage: t.Storage, ISOStorage: t.ISOStorage, Build: t.Build}
	if fi, err := os.Stat(filepath.Join(root, t.Packer, "cd")); err == nil && fi.IsDir() {
		out.Answers = true
	}
	n, err := workspace.BuildNeeds(root, t)
	if err != nil {
		out.VarErr = err.Error()
		return out
	}
	out.ISOs, out.CloneVM, out.Bridge = n.ISOs, n.CloneVM, n.Bridge
	if t.Build == state.BuildClone && n.CloneVM == "" {
		out.VarErr = fmt.Sprintf("%s sets no clone_vm, which clone builds need", t.VarFile)
	}
	return out
}
