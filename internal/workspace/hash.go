package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"templated/internal/state"
)

// hashFormat versions the encoding below; change it when the encoding
// changes, so that old and new digests never compare equal by accident.
const hashFormat = "templated-workspace-inputs/2"

// buildFields are the fields of a state.Template that change what a build
// produces. Scheduling (MaxAge, PatchSchedule, Timezone), suspension,
// retention, the build timeout and Line do not, and are left out.
type buildFields struct {
	Name       string `json:"name"`
	VMID       int    `json:"vmid"`
	OS         string `json:"os"`
	OSVersion  string `json:"os_version"`
	Release    string `json:"release"`
	Packer     string `json:"packer"`
	VarFile    string `json:"var_file"`
	Build      string `json:"build"`
	Node       string `json:"node"`
	Storage    string `json:"storage"`
	ISOStorage string `json:"iso_storage"`
	Cores      int    `json:"cores"`
	MemoryMiB  int    `json:"memory_mib"`
	DiskGB     int    `json:"disk_gb"`
}

func fieldsOf(t state.Template) buildFields {
	f := buildFields{
		Name: t.Name, VMID: t.VMID, OS: t.OS, OSVersion: t.OSVersion,
		Packer: t.Packer, VarFile: t.VarFile, Build: t.Build,
		Node: t.Node, Storage: t.Storage, ISOStorage: t.ISOStorage,
		Cores: t.Cores, MemoryMiB: t.MemoryMiB, DiskGB: t.DiskGB,
	}
	if t.Release != nil {
		f.Release = t.Release.Original()
	}
	return f
}

// InputsHash is the digest ("sha256:<hex>") of everything that decides
// what template t's build produces: its desired entry (the fields in
// buildFields), the path and content of every file Files lists in the
// workspace at root, Packer's version, and the plugin's version and the
// generation it selects. Editing one OS version's var file changes only
// that template's digest; editing shared/ or changing the plugin changes
// every template's. d, when not nil, must hold t. A plugin version that
// no generation supports is an error.
func InputsHashWith(d *state.Desired, t state.Template, root string, tc Toolchain) (string, error) {
	if d != nil {
		if _, ok := d.Template(t.Name); !ok {
			return "", fmt.Errorf("inputs hash: template %s is not in the desired state", t.Name)
		}
	}
	return inputsHash(os.DirFS(root), t, tc)
}

// InputsHash is InputsHashWith for Packer packerVersion and a plugin whose
// version is unknown (what a Packer that cannot list its plugins gives).
func InputsHash(d *state.Desired, t state.Template, root string, packerVersion string) (string, error) {
	return InputsHashWith(d, t, root, Toolchain{Packer: packerVersion})
}

func inputsHash(fsys fs.FS, t state.Template, tc Toolchain) (string, error) {
	gen, err := tc.Generation()
	if err != nil {
		return "", fmt.Errorf("inputs hash: %w", err)
	}
	files, err := Files(fsys, t)
	if err != nil {
		return "", fmt.Errorf("inputs hash: %w", err)
	}
	entry, err := json.Marshal(fieldsOf(t))
	if err != nil {
		return "", fmt.Errorf("inputs hash: %w", err)
	}
	h := sha256.New()
	// Every part is length-prefixed, so no two different inputs encode the
	// same byte stream.
	part := func(b []byte) {
		h.Write([]byte(strconv.Itoa(len(b)) + ":"))
		h.Write(b)
	}
	part([]byte(hashFormat))
	part(entry)
	part([]byte(tc.Packer))
	part([]byte(tc.Plugin))
	part([]byte(gen))
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return "", fmt.Errorf("inputs hash: %w", err)
		}
		part([]byte(f))
		part(data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
