package layering

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// rules: each package (key) may depend on no templated package but those
// listed, transitively; "*" allows any. Every package under internal/ and
// cmd/ must be listed, so that a new one gets a rule.
var rules = map[string][]string{
	"atomicfile":          {},
	"redact":              {},
	"state":               {},
	"plan":                {},
	"packer":              {"redact"},
	"ledger":              {"atomicfile", "redact"},
	"pvesim":              {"atomicfile"}, // an independent server: none of the product's model
	"journal":             {"atomicfile", "state"},
	"workspace":           {"state", "atomicfile"},
	"proxmox":             {"state", "atomicfile", "redact"},
	"reconcile":           {"journal", "plan", "state", "atomicfile", "ancestry"}, // the planner and executor never see Proxmox's API
	"ancestry":            {"state"},                                              // which guests came from which build: pure
	"daemon":              {"state", "atomicfile", "redact"},                      // the loop knows nothing of how a run is made
	"gitsource":           {"atomicfile", "redact"},                               // follows a git remote; knows nothing of templates
	"image":               {"atomicfile", "redact"},                               // vendors' checksum files
	"notify":              {"atomicfile", "redact", "state"},                      // telling people: sinks, routing, grouping, the durable queue
	"mirror":              {},                                                     // a loopback stand-in for the vendors' download sites
	"builder":             {"packer", "reconcile", "ancestry", "workspace", "journal", "plan", "state", "atomicfile", "redact"},
	"lease":               {"proxmox", "state", "atomicfile", "redact"},                                   // the cluster lease, held in Proxmox through the adapter (and what it imports)
	"doctor":              {"proxmox", "journal", "packer", "workspace", "state", "atomicfile", "redact"}, // checks over a snapshot; the gatherer reads through the adapter
	"session":             {"*"},
	"layering":            {},
	"proxmox/proxmoxfake": {"proxmox", "state", "atomicfile", "redact"},
	"proxmox/proxmoxtest": {"*"},
	"packertest":          {},
	"cmd/templated":       {"*"},
	"contrib":             {}, // the rules and dashboard for others' tools; only its tests import templated
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "templated/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, ok := short(fields[0])
		if !ok {
			continue
		}
		allowed, listed := rules[pkg]
		if !listed {
			t.Errorf("%s has no rule here (and no place in docs/architecture.md)", pkg)
			continue
		}
		if slices.Contains(allowed, "*") {
			continue
		}
		for _, dep := range fields[1:] {
			if d, ok := short(dep); ok && !slices.Contains(allowed, d) {
				t.Errorf("%s depends on %s, which docs/architecture.md forbids", pkg, d)
			}
		}
	}
}

// short names a templated package as the rules do: "state",
// "proxmox/proxmoxfake", "cmd/templated".
func short(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "templated/")
	if !ok {
		return "", false
	}
	return strings.TrimPrefix(rest, "internal/"), true
}
