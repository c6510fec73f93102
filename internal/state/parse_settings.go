package state

import (
	"fmt"
	"slices"
	"time"
)

// settings are the setting keys one mapping (defaults or a template) sets.
type settings struct {
	d   Defaults
	set []string // keys present and valid
	// replicaAt is where each node of d.Replicas was written.
	replicaAt []listItem
}

// Limits of the hardware and count settings.
const (
	maxCores        = 1024
	minMemoryMiB    = 16
	maxMemoryMiB    = 16 << 20 // 16 TiB
	maxDiskGB       = 1 << 20  // 1 PiB
	maxKeepPrevious = 100
)

// none is how a file switches max_age or patch_schedule off.
const none = "none"

// readSettings reads and checks the setting keys of m (path is "defaults"
// or "templates[i]").
func (p *parser) readSettings(m *mapping, path string) settings {
	var s settings
	for _, spec := range settingFields {
		v, ok := m.vals[spec.Key]
		if !ok {
			continue
		}
		field := joinField(path, spec.Key)
		if spec.Key == "replicas" {
			// A list with a bad node still replaces the defaults', so
			// that its other nodes are checked as the ones it keeps.
			s.d.Replicas, s.replicaAt = p.readNodeList(v, field)
			s.set = append(s.set, spec.Key)
			continue
		}
		if p.readSetting(&s.d, spec.Key, v, field) {
			s.set = append(s.set, spec.Key)
		}
	}
	return s
}

// readSetting checks one setting and stores it in d.
func (p *parser) readSetting(d *Defaults, key string, v value, field string) bool {
	text := v.n.Value
	var err error
	switch key {
	case "node":
		d.Node, err = text, mustMatch(nodeName, text, nodeNameFormat)
	case "storage":
		d.Storage, err = text, mustMatch(storageID, text, storageIDFormat)
	case "iso_storage":
		d.ISOStorage, err = text, mustMatch(storageID, text, storageIDFormat)
	case "cores":
		var ok bool
		d.Cores, ok = p.intValue(v, field, 1, maxCores)
		return ok
	case "memory":
		var ok bool
		d.MemoryMiB, ok = p.intValue(v, field, minMemoryMiB, maxMemoryMiB)
		return ok
	case "keep_previous":
		var ok bool
		d.KeepPrevious, ok = p.intValue(v, field, 0, maxKeepPrevious)
		return ok
	case "disk":
		d.DiskGB, err = parseDisk(text)
	case "build":
		d.Build = text
		if !slices.Contains([]string{BuildISO, BuildClone}, text) {
			err = fmt.Errorf("must be %s or %s, got %s", BuildISO, BuildClone, quote(text))
		}
	case "max_age":
		if text != none {
			d.MaxAge, err = positiveDuration(text, `; write "none" for no age limit`)
		}
	case "build_timeout":
		d.BuildTimeout, err = positiveDuration(text, "")
	case "patch_schedule":
		if text != none {
			d.PatchSchedule = text
			_, err = parseCron(text, nil)
		}
	case "timezone":
		d.Timezone = text
		_, err = p.location(text)
	}
	if err != nil {
		p.addf(v.at, field, "%v", err)
		return false
	}
	return true
}

// positiveDuration parses a duration that must be above zero.
func positiveDuration(s, zeroHint string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be longer than zero%s", zeroHint)
	}
	return d, nil
}

// over returns base with the settings s sets replaced.
func (s settings) over(base Defaults) Defaults {
	for _, key := range s.set {
		switch key {
		case "node":
			base.Node = s.d.Node
		case "storage":
			base.Storage = s.d.Storage
		case "iso_storage":
			base.ISOStorage = s.d.ISOStorage
		case "cores":
			base.Cores = s.d.Cores
		case "memory":
			base.MemoryMiB = s.d.MemoryMiB
		case "disk":
			base.DiskGB = s.d.DiskGB
		case "build":
			base.Build = s.d.Build
		case "max_age":
			base.MaxAge = s.d.MaxAge
		case "patch_schedule":
			base.PatchSchedule = s.d.PatchSchedule
		case "timezone":
			base.Timezone = s.d.Timezone
		case "keep_previous":
			base.KeepPrevious = s.d.KeepPrevious
		case "build_timeout":
			base.BuildTimeout = s.d.BuildTimeout
		case "replicas":
			base.Replicas = s.d.Replicas
		}
	}
	return base
}
