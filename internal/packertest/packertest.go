// Package packertest finds, for tests, the Packer toolchain that `make
// tools` builds into .tools/ at the repository root: the packer binary and
// the environment that makes it find the Proxmox plugin. A test that needs
// it is skipped when it is missing, except under `make test`
// (TEMPLATED_REQUIRE_PACKER=1), where it fails: CI must run those tests.
package packertest

import (
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Tool is the real Packer.
type Tool struct {
	// Bin is the packer binary.
	Bin string
	// Env is the whole environment to run it with: PATH (with .tools/bin
	// first), PACKER_PLUGIN_PATH, HOME and CHECKPOINT_DISABLE=1.
	Env []string
	// Dir is the directory holding Bin.
	Dir string
}

// Required reports whether tests must fail rather than skip without Packer.
func Required() bool { return os.Getenv("TEMPLATED_REQUIRE_PACKER") == "1" }

// RepoRoot is the repository the test runs in: the nearest directory up
// from the working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ToolsDir is where make tools put Packer and the plugin:
// $TEMPLATED_TOOLS_DIR (make test-plugin builds into .tools-plugin), else
// .tools at the repository root.
func ToolsDir(t testing.TB) string {
	t.Helper()
	return cmp.Or(os.Getenv("TEMPLATED_TOOLS_DIR"), filepath.Join(RepoRoot(t), ".tools"))
}

// Find returns the Packer from the tools directory's bin, else from PATH.
// Without one it skips the test, or fails it when Required.
func Find(t testing.TB) Tool {
	t.Helper()
	tools := ToolsDir(t)
	bin := filepath.Join(tools, "bin", "packer")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("packer"); err != nil {
			if Required() {
				t.Fatal("packer is required (TEMPLATED_REQUIRE_PACKER=1) but not in .tools/bin or PATH: run make tools")
			}
			t.Skip("packer not found (run make tools)")
		}
	}
	plugins := os.Getenv("PACKER_PLUGIN_PATH")
	if plugins == "" {
		plugins = filepath.Join(tools, "plugins")
	}
	dir := filepath.Dir(bin)
	return Tool{Bin: bin, Dir: dir, Env: []string{
		"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"PACKER_PLUGIN_PATH=" + plugins,
		"HOME=" + os.Getenv("HOME"),
		"CHECKPOINT_DISABLE=1",
	}}
}
