package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginGeneration: each plugin version gets the generation whose
// required_plugins accepts it (packer/shared/gen/*/sources.pkr.hcl), and
// anything else is refused naming the version and what to install.
func TestPluginGeneration(t *testing.T) {
	for v, want := range map[string]string{
		"1.1.1": "v1.1", "v1.1.1": "v1.1", "1.1.2": "v1.1", "1.1.3": "v1.1", "v1.1.8": "v1.1",
		"1.2.0": "v1.2", "1.2.4": "v1.2", "v1.2.4": "v1.2", "1.2.5-dev": "v1.2", "1.3.0": "v1.2", "2.0.0": "v1.2",
	} {
		if got, err := PluginGeneration(v); err != nil || got != want {
			t.Errorf("PluginGeneration(%q) = %q, %v; want %q", v, got, err, want)
		}
	}
	for v, want := range map[string]string{
		"1.0.8":  "packer-plugin-proxmox 1.0.8 is not supported: install 1.2.0 or later",
		"1.1.0":  "packer-plugin-proxmox 1.1.0 is not supported",
		"1.0.5":  "packer-plugin-proxmox 1.0.5 is not supported",
		"":       "no packer-plugin-proxmox installed (github.com/hashicorp/proxmox): run `make tools`",
		"latest": `packer-plugin-proxmox version "latest" is not a version`,
	} {
		if got, err := PluginGeneration(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("PluginGeneration(%q) = %q, %v; want an error containing %q", v, got, err, want)
		}
	}
}

// TestGenerationsMatchTheirFiles: the plugin constraint each generation
// file declares is the range PluginGeneration gives it.
func TestGenerationsMatchTheirFiles(t *testing.T) {
	for gen, constraint := range map[string]string{"v1.1": `">= 1.1.1, < 1.2.0"`, "v1.2": `">= 1.2.0"`} {
		src, err := os.ReadFile(filepath.Join(workspaceRoot(t), "shared", "gen", gen, "sources.pkr.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "version = "+constraint) {
			t.Errorf("generation %s does not require the plugin %s", gen, constraint)
		}
	}
}
