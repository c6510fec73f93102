package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"templated/internal/state"
	"templated/internal/workspace"
)

// templateNeeds reads what t's build needs from the desired entry (and
// the desired images it names) and the workspace (workspace.BuildNeeds:
// the var file, else the shared declarations' defaults).
func templateNeeds(root string, t state.Template, images []state.Image) Template {
	out := Template{Name: t.Name, VMID: t.VMID, Node: t.Node, Storage: t.Storage, ISOStorage: t.ISOStorage, Build: t.Build,
		Images: templateImages(t, images), Replicas: t.Replicas}
	if fi, err := os.Stat(filepath.Join(root, t.Packer, "cd")); err == nil && fi.IsDir() {
		out.Answers = true
	}
	n, err := workspace.BuildNeeds(root, t)
	if err != nil {
		out.VarErr = err.Error()
		return out
	}
	out.ISOs, out.CloneVM, out.Bridge = varFileISOs(t, n.ISOs), n.CloneVM, n.Bridge
	if t.Image != "" && t.Build == state.BuildClone {
		out.CloneVM = "" // templated makes the base VM from the image
	}
	if t.Build == state.BuildClone && n.CloneVM == "" && t.Image == "" {
		out.VarErr = fmt.Sprintf("%s sets no clone_vm, which clone builds need", t.VarFile)
	}
	return out
}

// varFileISOs are the ISOs of isos (the var file's installer, then its
// extra ISOs) that t still takes from its var file: a desired image
// replaces the installer, extra images the extra ISOs, and templated
// downloads those itself.
func varFileISOs(t state.Template, isos []string) []string {
	var out []string
	for i, iso := range isos {
		if (i == 0 && t.Image == "") || (i > 0 && len(t.ExtraImages) == 0) {
			out = append(out, iso)
		}
	}
	return out
}

// templateImages resolves t's image and extra images among the desired
// images; names the desired file does not declare are skipped (the
// parser refuses them).
func templateImages(t state.Template, images []state.Image) []Image {
	var out []Image
	for _, name := range append([]string{t.Image}, t.ExtraImages...) {
		i := slices.IndexFunc(images, func(im state.Image) bool { return im.Name == name })
		if name == "" || i < 0 {
			continue
		}
		im := images[i]
		storage, nodes := im.Storage, slices.Clone(im.Nodes)
		if storage == "" {
			storage = t.ISOStorage
		}
		if len(nodes) == 0 {
			nodes = []string{t.Node}
		}
		out = append(out, Image{Name: im.Name, Kind: im.Kind, Storage: storage, Nodes: nodes})
	}
	return out
}
