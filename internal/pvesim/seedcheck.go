package pvesim

import (
	"fmt"
	"time"
	_ "time/tzdata" // node time zones resolve the same on every machine
)

// pluginContent is the content types each storage plugin type supports:
// plugindata()'s content in pve-storage src/PVE/Storage/*Plugin.pm
// (import on dir, nfs, cifs, cephfs and btrfs since pve-storage 8.2.8,
// commit d955a46, shipped with PVE 8.3).
var pluginContent = map[string][]string{
	"dir":     {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"},
	"nfs":     {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"},
	"cifs":    {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"},
	"btrfs":   {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"},
	"cephfs":  {"vztmpl", "iso", "backup", "snippets", "import"},
	"lvmthin": {"images", "rootdir"},
	"lvm":     {"images", "rootdir"},
	"zfspool": {"images", "rootdir"},
	"rbd":     {"images", "rootdir"},
	"iscsi":   {"images"},
	"pbs":     {"backup"},
}

// checkContent refuses content types the storage's plugin cannot hold, as
// pvesm does when the storage is configured.
func checkContent(st StorageSpec) error {
	allowed, known := pluginContent[st.Type]
	if !known {
		return nil
	}
	for _, c := range st.Content {
		ok := false
		for _, a := range allowed {
			ok = ok || a == c
		}
		if !ok {
			return fmt.Errorf("storage %s: content type '%s' is not supported by storage type '%s'", st.Name, c, st.Type)
		}
	}
	return nil
}

// validateExtras checks the version, cluster, datacenter and node fields
// and the access section.
func (s *Seed) validateExtras() error {
	if s.Version != "" {
		if m := majorVersion(s.Version); m != 8 && m != 9 {
			return fmt.Errorf("version %q: the simulator knows PVE 8 and 9", s.Version)
		}
	}
	if s.Nodes[0].Status == "offline" {
		return fmt.Errorf("nodes[0] %s answers the API and cannot be offline", s.Nodes[0].Name)
	}
	for i, n := range s.Nodes {
		switch n.Status {
		case "", "online", "offline":
		default:
			return fmt.Errorf("nodes[%d]: status %q: want online or offline", i, n.Status)
		}
		if n.ClockOffset != "" {
			if _, err := time.ParseDuration(n.ClockOffset); err != nil {
				return fmt.Errorf("nodes[%d]: clock_offset: %w", i, err)
			}
		}
		if n.Timezone != "" {
			if _, err := time.LoadLocation(n.Timezone); err != nil {
				return fmt.Errorf("nodes[%d]: timezone: %w", i, err)
			}
		}
	}
	if d := s.Datacenter; d != nil && d.NextID != nil {
		lo, up := d.NextID.Lower, d.NextID.Upper
		if lo == 0 {
			lo = 100
		}
		if up == 0 {
			up = 1000000
		}
		if lo < 100 || up > 1000000000 || lo >= up {
			return fmt.Errorf("datacenter next-id: want 100 <= lower < upper <= 1000000000, got %d, %d", lo, up)
		}
	}
	if s.Access != nil {
		major := majorVersion(s.Version)
		if major == 0 {
			major = 8
		}
		if _, err := newAccess(s.Access, major); err != nil {
			return err
		}
	}
	return nil
}
