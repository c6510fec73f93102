package workspace

import (
	"context"
	"maps"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-version"

	"templated/internal/packertest"
	"templated/internal/state"
)

// defaultTemplates mirrors the default desired set (desired/templates.yaml):
// the Linux templates build from their cloud-image base VMs, Windows from
// its installer ISO.
func defaultTemplates() []state.Template {
	tpl := func(name string, vmid int, osName, osVersion, dir, varFile, build string) state.Template {
		return state.Template{
			Name: name, VMID: vmid, OS: osName, OSVersion: osVersion,
			Release: version.Must(version.NewVersion("1.0.0")),
			Packer:  dir, VarFile: dir + "/" + varFile, Build: build,
			Node: "pve1", Storage: "local-lvm", ISOStorage: "local",
			Cores: 2, MemoryMiB: 2048, DiskGB: 20,
		}
	}
	return []state.Template{
		tpl("tpl-ubuntu-22.04", 9000, "ubuntu", "22.04", "linux/ubuntu", "ubuntu-22.04.pkrvars.hcl", "clone"),
		tpl("tpl-ubuntu-24.04", 9001, "ubuntu", "24.04", "linux/ubuntu", "ubuntu-24.04.pkrvars.hcl", "clone"),
		tpl("tpl-rocky-9", 9002, "rocky", "9", "linux/rocky", "rocky-9.pkrvars.hcl", "clone"),
		tpl("tpl-win2022", 9100, "windows", "2022", "windows/server", "win2022.pkrvars.hcl", "iso"),
	}
}

// repoRoot is the repository the test runs in.
func repoRoot(t testing.TB) string { return packertest.RepoRoot(t) }

// workspaceRoot is the repository's packer/ directory.
func workspaceRoot(t testing.TB) string { return filepath.Join(repoRoot(t), "packer") }

// packerTool is the real Packer from .tools (make tools), or PATH.
type packerTool struct {
	bin string
	env []string // PATH, PACKER_PLUGIN_PATH, CHECKPOINT_DISABLE
	gen string   // the plugin generation of the installed plugin
}

// needPacker returns the Packer toolchain (see packertest.Find).
func needPacker(t testing.TB) packerTool {
	t.Helper()
	tool := packertest.Find(t)
	p := packerTool{bin: tool.Bin, env: tool.Env}
	out, err := p.run(t, time.Minute, t.TempDir(), nil, "plugins", "installed")
	if err != nil {
		t.Fatalf("packer plugins installed: %v\n%s", err, out)
	}
	var newest string
	for _, m := range installedPlugin.FindAllStringSubmatch(out, -1) {
		if newest == "" || version.Must(version.NewVersion(m[1])).GreaterThan(version.Must(version.NewVersion(newest))) {
			newest = m[1]
		}
	}
	if p.gen, err = PluginGeneration(newest); err != nil {
		t.Fatal(err)
	}
	return p
}

// installedPlugin matches the Proxmox plugin in `packer plugins installed`.
var installedPlugin = regexp.MustCompile(`/hashicorp/proxmox/packer-plugin-proxmox_v([^_]+)_x`)

// run runs packer in dir with the toolchain's environment plus env (and
// nothing else from the test's environment), bounded by timeout.
func (p packerTool) run(t testing.TB, timeout time.Duration, dir string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{}, p.env...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("packer %s: %v after %s\n%s", strings.Join(args, " "), ctx.Err(), timeout, out)
	}
	return string(out), err
}

// validateEnv is what `packer validate` needs from a cluster: nothing is
// contacted, so placeholders do (validate-all.sh uses the same).
var validateEnv = map[string]string{
	"PROXMOX_URL":          "https://pve.invalid:8006/api2/json",
	"PROXMOX_TOKEN_ID":     "validate@pve!validate",
	"PROXMOX_TOKEN_SECRET": "00000000-0000-0000-0000-000000000000",
}

// varArgs are the variable arguments and the directory of a packer run,
// as templated passes them: the OS var file, then templated's variables,
// which win.
func varArgs(t state.Template, vars map[string]string) []string {
	args := []string{"-var-file=" + VarFileName(t)}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		args = append(args, "-var", k+"="+vars[k])
	}
	return append(args, ".")
}
