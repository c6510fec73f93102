package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestReplicaVMIDs parses files of many templates, each kept on a random
// set of nodes, and checks the VMID scheme: every replica sits in its
// node's range at its template's offset, and no two guests (templates or
// replicas) share a VMID or a name.
func TestReplicaVMIDs(t *testing.T) {
	nodes := []string{"pve1", "pve2", "pve3", "pve4", "Node-5"}
	rng := rand.New(rand.NewPCG(15, 2))
	for round := range 20 {
		data := replicaFile(rng, nodes)
		d, err := Parse(strings.NewReader(data), "replicas.yaml", ParseOptions{})
		if err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, data)
		}
		vmids, names := map[int]string{}, map[string]bool{}
		claim := func(vmid int, name string) {
			if other, dup := vmids[vmid]; dup {
				t.Errorf("round %d: %s and %s share VMID %d", round, other, name, vmid)
			}
			if names[name] {
				t.Errorf("round %d: name %s twice", round, name)
			}
			vmids[vmid], names[name] = name, true
		}
		for _, tpl := range d.Templates {
			claim(tpl.VMID, tpl.Name)
			offset := tpl.VMID - d.VMIDs.Templates.First
			for _, r := range tpl.Replicas {
				claim(r.VMID, r.Name)
				nr := d.VMIDs.Replicas[r.Node]
				if !nr.Contains(r.VMID) || r.VMID-nr.First != offset {
					t.Errorf("round %d: %s's replica on %s at %d, want %d", round, tpl.Name, r.Node, r.VMID, nr.First+offset)
				}
				if n, ok := d.VMIDs.ReplicaNode(r.VMID); !ok || n != r.Node {
					t.Errorf("round %d: ReplicaNode(%d) = %q, %t; want %s", round, r.VMID, n, ok, r.Node)
				}
				if r.Name != tpl.Name+"-"+strings.ToLower(r.Node) {
					t.Errorf("round %d: replica name %s", round, r.Name)
				}
				if got, ok := tpl.Replica(r.Node); !ok || got != r {
					t.Errorf("round %d: Replica(%s) = %+v, %t", round, r.Node, got, ok)
				}
			}
			if got := tpl.Nodes(); got[0] != tpl.Node || len(got) != 1+len(tpl.Replicas) {
				t.Errorf("round %d: Nodes() = %v", round, got)
			}
		}
		if _, ok := d.VMIDs.ReplicaNode(d.VMIDs.Templates.First); ok {
			t.Errorf("round %d: ReplicaNode found a node for a template VMID", round)
		}
	}
}

// replicaFile writes a valid desired file: 150 templates at random VMIDs
// of a 200-VMID range, on random nodes, each with a random list of the
// other nodes, and a range per node.
func replicaFile(rng *rand.Rand, nodes []string) string {
	var b strings.Builder
	b.WriteString("version: 1\ndefaults: {keep_previous: 0}\n")
	b.WriteString("vmids:\n  templates: 9000-9199\n  staging: 9900-9949\n  previous: 9950-9999\n  replicas:\n")
	for i, n := range nodes {
		fmt.Fprintf(&b, "    %s: %d-%d\n", n, 10000+200*i, 10199+200*i)
	}
	b.WriteString("templates:\n")
	for i, vmid := range rng.Perm(200)[:150] {
		node := nodes[rng.IntN(len(nodes))]
		var replicas []string
		for _, n := range nodes {
			if n != node && rng.IntN(2) == 0 {
				replicas = append(replicas, n)
			}
		}
		rng.Shuffle(len(replicas), func(a, b int) { replicas[a], replicas[b] = replicas[b], replicas[a] })
		fmt.Fprintf(&b, "  - {name: tpl-ubuntu-%d.04, vmid: %d, os: ubuntu, os_version: \"%d.04\", release: 1.0.0, "+
			"packer: linux/ubuntu, var_file: linux/ubuntu/u.pkrvars.hcl, node: %s, replicas: [%s]}\n",
			i, 9000+vmid, i, node, strings.Join(replicas, ", "))
	}
	return b.String()
}

// TestReplicasDefaults: a template takes defaults.replicas unless it sets
// its own list, and an empty list means none; VMIDRanges.ReplicaNodes is
// sorted whatever the file's order.
func TestReplicasDefaults(t *testing.T) {
	d, err := loadFile(t, "testdata/good/replicas.yaml", testPackerRoot)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"tpl-ubuntu-22.04": {"pve1", "pve2", "pve3"},
		"tpl-rocky-9":      {"pve2", "PVE-4", "pve1"},
		"tpl-win2022":      {"pve1"},
	}
	for _, tpl := range d.Templates {
		if got := tpl.Nodes(); !slices.Equal(got, want[tpl.Name]) {
			t.Errorf("%s: Nodes() = %v, want %v", tpl.Name, got, want[tpl.Name])
		}
	}
	if win, _ := d.Template("tpl-win2022"); win.Replicas != nil {
		t.Errorf("replicas: [] gave %v, want nil", win.Replicas)
	}
	if got := d.VMIDs.ReplicaNodes(); !slices.Equal(got, []string{"PVE-4", "pve1", "pve2", "pve3"}) {
		t.Errorf("ReplicaNodes() = %v", got)
	}
	if d.Defaults.Replicas == nil || !slices.Equal(d.Defaults.Replicas, []string{"pve2", "pve3"}) {
		t.Errorf("Defaults.Replicas = %v", d.Defaults.Replicas)
	}
	plain, err := loadFile(t, "testdata/good/minimal.yaml", testPackerRoot)
	if err != nil {
		t.Fatal(err)
	}
	if plain.VMIDs.Replicas != nil || plain.Templates[0].Replicas != nil || len(plain.VMIDs.ReplicaNodes()) != 0 {
		t.Errorf("a file without replicas: %+v, %+v", plain.VMIDs, plain.Templates[0].Replicas)
	}
}
