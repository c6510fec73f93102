package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"templated/internal/atomicfile"
)

// ImageVolume is one volume this installation had a node download: the
// inventory that removing superseded images is limited to, so that
// templated never deletes a file someone uploaded by hand.
type ImageVolume struct {
	Node     string    `json:"node"`
	Volume   string    `json:"volume"` // "local:iso/…"
	Image    string    `json:"image"`  // the desired image's name
	Checksum string    `json:"checksum"`
	Added    time.Time `json:"added"`
}

func (j *Journal) imagesPath() string { return filepath.Join(j.dir, "images.json") }

// ImageVolumes returns the inventory, ordered by node and volume.
func (j *Journal) ImageVolumes() ([]ImageVolume, error) {
	b, err := os.ReadFile(j.imagesPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image inventory: %w", err)
	}
	var vs []ImageVolume
	if err := json.Unmarshal(b, &vs); err != nil {
		return nil, fmt.Errorf("read image inventory %s: %w", j.imagesPath(), err)
	}
	return vs, nil
}

// AddImageVolume records v (replacing an entry for the same node and
// volume). It is written before the download starts, so that a crash
// mid-download leaves the volume known.
func (j *Journal) AddImageVolume(v ImageVolume) error {
	return j.editImages(func(vs []ImageVolume) []ImageVolume {
		out := vs[:0]
		for _, x := range vs {
			if x.Node != v.Node || x.Volume != v.Volume {
				out = append(out, x)
			}
		}
		return append(out, v)
	})
}

// RemoveImageVolume forgets node's volume.
func (j *Journal) RemoveImageVolume(node, volume string) error {
	return j.editImages(func(vs []ImageVolume) []ImageVolume {
		out := vs[:0]
		for _, x := range vs {
			if x.Node != node || x.Volume != volume {
				out = append(out, x)
			}
		}
		return out
	})
}

func (j *Journal) editImages(edit func([]ImageVolume) []ImageVolume) error {
	return atomicfile.WithLock(filepath.Join(j.dir, "images.lock"), func() error {
		vs, err := j.ImageVolumes()
		if err != nil {
			return err
		}
		vs = edit(vs)
		sort.Slice(vs, func(a, b int) bool {
			if vs[a].Node != vs[b].Node {
				return vs[a].Node < vs[b].Node
			}
			return vs[a].Volume < vs[b].Volume
		})
		b, err := json.MarshalIndent(vs, "", "  ")
		if err != nil {
			return err
		}
		return atomicfile.WriteFile(j.imagesPath(), append(b, '\n'), 0o600)
	})
}
