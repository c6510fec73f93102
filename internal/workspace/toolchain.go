package workspace

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-version"
)

// PluginSource is the Proxmox plugin's source address, as `packer plugins
// installed` lays it out and required_plugins names it.
const PluginSource = "github.com/hashicorp/proxmox"

// Toolchain is what a build runs with besides the workspace: Packer's
// version and the installed packer-plugin-proxmox version ("" when it
// could not be read). Both are part of every inputs hash, and the plugin
// version decides the plugin generation the build directory is made with.
type Toolchain struct {
	Packer string // "1.11.2"
	Plugin string // "1.2.4", without the "v"
}

// generations are the plugin generations under shared/gen/, newest first,
// with the plugin versions each one's required_plugins accepts
// (packer/README.md, "Plugin generations"). Plugin 1.1.3 to 1.1.8 take
// generation v1.1 (they only warn that storage_pool_type is deprecated;
// they lack boot_iso and the drive type/index of generation v1.2): make
// test-plugin passed with 1.1.8 built from its tag.
var generations = []struct {
	name string
	min  *version.Version
	max  *version.Version // exclusive; nil: no upper bound
}{
	{"v1.2", version.Must(version.NewVersion("1.2.0")), nil},
	{"v1.1", version.Must(version.NewVersion("1.1.1")), version.Must(version.NewVersion("1.2.0"))},
}

// PluginGeneration returns the plugin generation (the directory under
// shared/gen/) that works with packer-plugin-proxmox pluginVersion ("1.2.4"
// or "v1.2.4"), or an error naming the version and the fix.
func PluginGeneration(pluginVersion string) (string, error) {
	if pluginVersion == "" {
		return "", fmt.Errorf("no packer-plugin-proxmox installed (%s): run `make tools`, or `packer plugins install %s` and set PACKER_PLUGIN_PATH", PluginSource, PluginSource)
	}
	v, err := version.NewVersion(pluginVersion)
	if err != nil {
		return "", fmt.Errorf("packer-plugin-proxmox version %q is not a version: reinstall the plugin (`make tools`): %w", pluginVersion, err)
	}
	// A pre-release (1.2.5-dev, built from a branch) counts as its release.
	core := v.Core()
	for _, g := range generations {
		if !core.LessThan(g.min) && (g.max == nil || core.LessThan(g.max)) {
			return g.name, nil
		}
	}
	return "", fmt.Errorf("packer-plugin-proxmox %s is not supported: install 1.2.0 or later (`packer plugins install %s`, or `make tools PLUGIN_SRC=DIR`), or 1.1.1 to 1.1.8 (`make tools`)", strings.TrimPrefix(pluginVersion, "v"), PluginSource)
}

// Generation is the plugin generation tc builds with ("" when the plugin
// version is unknown).
func (tc Toolchain) Generation() (string, error) {
	if tc.Plugin == "" {
		return "", nil
	}
	return PluginGeneration(tc.Plugin)
}
