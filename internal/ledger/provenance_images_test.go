package ledger

import (
	"encoding/json"
	"testing"
)

// TestProvenanceListsImages: each image a build started from is a
// resolved dependency with its upstream URL and the digest the node
// verified; the ledger entry carries them too.
func TestProvenanceListsImages(t *testing.T) {
	im := Image{Name: "ubuntu-24.04-cloud", URI: "https://cloud-images.ubuntu.com/releases/noble/release/noble-server-cloudimg-amd64.img",
		File: "noble-server-cloudimg-amd64.img", Digest: map[string]string{"sha256": "3f1c2e44a1b2"},
		Volume: "local:import/noble-server-cloudimg-amd64-3f1c2e44a1b2.qcow2", ChecksumURL: "https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS"}
	st := provenanceFor(&BuildEvidence{Template: "tpl-ubuntu-24.04", BuildID: "b1"}, BuildInfo{InputsSHA256: "ab", Images: []Image{im}},
		"https://example.invalid/builder", Evidence{Name: FileManifest, SHA256: "cd"}, nil)
	deps := st.Predicate.BuildDefinition.ResolvedDependencies
	if len(deps) != 2 {
		t.Fatalf("resolvedDependencies %+v", deps)
	}
	d := deps[1]
	if d.Name != "image:ubuntu-24.04-cloud" || d.URI != im.URI || d.Digest["sha256"] != "3f1c2e44a1b2" ||
		d.Annotations["volume"] != im.Volume || d.Annotations["checksumUrl"] != im.ChecksumURL || d.Annotations["file"] != im.File {
		t.Fatalf("image dependency %+v", d)
	}
	b, err := json.Marshal(Entry{Kind: KindBuildFinished, Images: []Image{im}})
	if err != nil {
		t.Fatal(err)
	}
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil || len(back.Images) != 1 || back.Images[0].Digest["sha256"] != "3f1c2e44a1b2" {
		t.Fatalf("entry images do not round-trip: %s (%v)", b, err)
	}
}
