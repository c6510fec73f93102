package state

import (
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// encode writes d back as a desired file with every template spelled out,
// for round-trip checks: parsing the result must give the same templates.
func encode(d *Desired) []byte {
	type settingsYAML struct {
		Node          string `yaml:"node,omitempty"`
		Storage       string `yaml:"storage"`
		ISOStorage    string `yaml:"iso_storage"`
		Cores         int    `yaml:"cores"`
		Memory        int    `yaml:"memory"`
		Disk          string `yaml:"disk"`
		Build         string `yaml:"build"`
		MaxAge        string `yaml:"max_age"`
		PatchSchedule string `yaml:"patch_schedule"`
		Timezone      string `yaml:"timezone"`
		KeepPrevious  int    `yaml:"keep_previous"`
		BuildTimeout  string `yaml:"build_timeout"`
		// Replicas is written even when empty: [] overrides defaults.
		Replicas []string `yaml:"replicas"`
	}
	type templateYAML struct {
		Name         string   `yaml:"name"`
		VMID         int      `yaml:"vmid"`
		OS           string   `yaml:"os"`
		OSVersion    string   `yaml:"os_version"`
		Release      string   `yaml:"release"`
		Packer       string   `yaml:"packer"`
		VarFile      string   `yaml:"var_file"`
		Suspend      any      `yaml:"suspend,omitempty"`
		Image        string   `yaml:"image,omitempty"`
		ExtraImages  []string `yaml:"extra_images,omitempty"`
		settingsYAML `yaml:",inline"`
	}
	type imageYAML struct {
		Name        string   `yaml:"name"`
		Kind        string   `yaml:"kind"`
		URL         string   `yaml:"url"`
		Checksum    string   `yaml:"checksum,omitempty"`
		ChecksumURL string   `yaml:"checksum_url,omitempty"`
		File        string   `yaml:"file"`
		Format      string   `yaml:"format,omitempty"`
		Storage     string   `yaml:"storage"`
		Nodes       []string `yaml:"nodes"`
	}
	settings := func(s Defaults) settingsYAML {
		return settingsYAML{
			Node: s.Node, Storage: s.Storage, ISOStorage: s.ISOStorage, Cores: s.Cores, Memory: s.MemoryMiB,
			Disk: strconv.Itoa(s.DiskGB) + "G", Build: s.Build, MaxAge: durationOrNone(s.MaxAge),
			PatchSchedule: textOrNone(s.PatchSchedule), Timezone: s.Timezone, KeepPrevious: s.KeepPrevious,
			BuildTimeout: s.BuildTimeout.String(), Replicas: s.Replicas,
		}
	}
	doc := struct {
		Version   int            `yaml:"version"`
		Defaults  settingsYAML   `yaml:"defaults"`
		VMIDs     map[string]any `yaml:"vmids"`
		Images    []imageYAML    `yaml:"images,omitempty"`
		Templates []templateYAML `yaml:"templates"`
	}{
		Version:  d.Version,
		Defaults: settings(d.Defaults),
		VMIDs: map[string]any{
			"templates": d.VMIDs.Templates.String(), "staging": d.VMIDs.Staging.String(), "previous": d.VMIDs.Previous.String(),
		},
		Templates: []templateYAML{},
	}
	if d.VMIDs.Bases != (Range{}) {
		doc.VMIDs["bases"] = d.VMIDs.Bases.String()
	}
	if len(d.VMIDs.Replicas) > 0 {
		replicas := map[string]string{}
		for n, r := range d.VMIDs.Replicas {
			replicas[n] = r.String()
		}
		doc.VMIDs["replicas"] = replicas
	}
	for _, im := range d.Images {
		doc.Images = append(doc.Images, imageYAML{
			Name: im.Name, Kind: im.Kind, URL: im.URL, Checksum: im.Checksum, ChecksumURL: im.ChecksumURL,
			File: im.File, Format: im.Format, Storage: im.Storage, Nodes: im.Nodes,
		})
	}
	for _, t := range d.Templates {
		ty := templateYAML{
			Name: t.Name, VMID: t.VMID, OS: t.OS, OSVersion: t.OSVersion, Release: t.Release.Original(),
			Packer: t.Packer, VarFile: t.VarFile, Image: t.Image, ExtraImages: t.ExtraImages,
			settingsYAML: settings(Defaults{
				Node: t.Node, Storage: t.Storage, ISOStorage: t.ISOStorage, Cores: t.Cores, MemoryMiB: t.MemoryMiB,
				DiskGB: t.DiskGB, MaxAge: t.MaxAge, PatchSchedule: t.PatchSchedule, Timezone: t.Timezone,
				KeepPrevious: t.KeepPrevious, BuildTimeout: t.BuildTimeout, Build: t.Build,
				Replicas: t.Nodes()[1:],
			}),
		}
		if t.Suspended {
			ty.Suspend = t.SuspendReason
		}
		doc.Templates = append(doc.Templates, ty)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return out
}

func durationOrNone(d time.Duration) string {
	if d == 0 {
		return none
	}
	return d.String()
}

func textOrNone(s string) string {
	if s == "" {
		return none
	}
	return s
}
