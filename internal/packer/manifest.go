package packer

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Manifest is the JSON file Packer's manifest post-processor writes
// (post-processor/manifest in Packer 1.11: ManifestFile and Artifact). Each
// run appends its builds and sets LastRunUUID.
type Manifest struct {
	Builds      []ManifestBuild `json:"builds"`
	LastRunUUID string          `json:"last_run_uuid"`
}

// ManifestBuild is one build's artifact in a Manifest.
type ManifestBuild struct {
	Name          string            `json:"name"`                 // the source's name ("ubuntu" of proxmox-iso.ubuntu)
	BuilderType   string            `json:"builder_type"`         // "proxmox-iso", "null", ...
	BuildTime     int64             `json:"build_time,omitempty"` // Unix seconds
	Files         []ManifestFile    `json:"files"`
	ArtifactID    string            `json:"artifact_id"` // the VMID for Proxmox builders
	PackerRunUUID string            `json:"packer_run_uuid"`
	CustomData    map[string]string `json:"custom_data"`
}

// ManifestFile is a file an artifact consists of.
type ManifestFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Time returns BuildTime as a time (zero when the manifest strips times).
func (b ManifestBuild) Time() time.Time {
	if b.BuildTime == 0 {
		return time.Time{}
	}
	return time.Unix(b.BuildTime, 0)
}

// ReadManifest reads and parses a manifest file.
func ReadManifest(path string) (Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("read packer manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("parse packer manifest %s: %w", path, err)
	}
	return m, nil
}

// Last returns the last build of the last run (the newest entry whose
// packer_run_uuid is LastRunUUID); ok is false when there is none.
func (m Manifest) Last() (ManifestBuild, bool) {
	for i := len(m.Builds) - 1; i >= 0; i-- {
		if b := m.Builds[i]; b.PackerRunUUID == m.LastRunUUID {
			return b, true
		}
	}
	return ManifestBuild{}, false
}

// manifestWatcher remembers a manifest's last run before a build, so that
// a manifest left by an earlier run is not taken for this one's.
type manifestWatcher struct {
	path    string
	lastRun string // LastRunUUID before the build ("" when unreadable)
}

func manifestWatch(path string, enabled bool) *manifestWatcher {
	if !enabled {
		return nil
	}
	m, _ := ReadManifest(path)
	return &manifestWatcher{path: path, lastRun: m.LastRunUUID}
}

// changed returns the last build in the manifest if a new run was recorded
// in it since manifestWatch.
func (w *manifestWatcher) changed() (ManifestBuild, bool) {
	if w == nil {
		return ManifestBuild{}, false
	}
	m, err := ReadManifest(w.path)
	if err != nil || m.LastRunUUID == "" || m.LastRunUUID == w.lastRun {
		return ManifestBuild{}, false
	}
	return m.Last()
}
