package doctor

import (
	"fmt"
	"slices"
	"strings"

	"templated/internal/workspace"
)

// leaseName is the name of the cluster lease's guest (internal/lease).
const leaseName = "templated-lease"

// localChecks: Packer, the plugin, the ledger and the state lock.
func localChecks(s *Snapshot) []Result {
	l := s.Local
	var out []Result
	if l.PackerErr != "" {
		out = append(out, fail("packer", "Packer", l.PackerErr,
			"install Packer 1.11.2 (`make tools` builds it into .tools/bin), put it on PATH or pass --packer"))
	} else {
		out = append(out, pass("packer", "Packer", "Packer "+l.PackerVersion))
	}
	out = append(out, pluginCheck(l))
	switch {
	case l.KeyErr != "":
		out = append(out, fail("ledger.key", "ledger signing key", l.KeyErr,
			"create it with `templated ledger init` (or point TEMPLATED_LEDGER_KEY at it); it must be a regular file of mode 0600 readable by templated's user"))
	default:
		out = append(out, pass("ledger.key", "ledger signing key", l.KeyPath+" readable, mode 0600"))
	}
	if l.LedgerErr != "" {
		out = append(out, fail("ledger.dir", "ledger directory", l.LedgerErr,
			"run `templated ledger init` and make the evidence directory writable by templated's user (--evidence-dir, TEMPLATED_EVIDENCE_DIR)"))
	} else {
		out = append(out, pass("ledger.dir", "ledger directory", l.LedgerDir+" writable"))
	}
	if l.LockErr != "" {
		out = append(out, fail("state.lock", "state directory lock", l.LockErr,
			"wait for the other templated (an apply or the daemon: `systemctl status templated`) to finish, or stop it"))
	} else {
		out = append(out, pass("state.lock", "state directory lock", "free ("+l.StateDir+")"))
	}
	return out
}

func pluginCheck(l Local) Result {
	const id, name = "plugin", "Proxmox plugin"
	if l.PackerErr != "" {
		return fail(id, name, "not checked: Packer does not run", "install Packer first")
	}
	if l.PluginErr != "" {
		return fail(id, name, "Packer could not list its plugins: "+l.PluginErr, "run `packer plugins installed` to see why; set PACKER_PLUGIN_PATH to the plugin directory")
	}
	gen, err := workspace.PluginGeneration(l.PluginVersion)
	if err != nil {
		msg, fix, _ := strings.Cut(err.Error(), ": ")
		return fail(id, name, msg, fix)
	}
	if !slices.Contains(l.Generations, gen) {
		return fail(id, name, fmt.Sprintf("packer-plugin-proxmox %s needs plugin generation %s, which %s/shared/gen does not have (it has %s)", l.PluginVersion, gen, l.PackerRoot, strings.Join(l.Generations, ", ")),
			"update the packer/ workspace from templated's repository, or install a plugin version it supports")
	}
	return pass(id, name, fmt.Sprintf("packer-plugin-proxmox %s (generation %s)", l.PluginVersion, gen))
}
