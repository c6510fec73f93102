package proxmox

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"

	"templated/internal/state"
)

// ListGuests lists the cluster's guests, QEMU VMs and LXC containers
// alike (a VMID is unique across both, so a container can block a
// template's VMID), with exactly one request, GET /cluster/resources?type=vm,
// sorted by VMID. Other resource types are skipped.
func (c *Client) ListGuests(ctx context.Context) ([]state.Guest, error) {
	guests, err := do(ctx, c, c.opts.ReadTimeout, "GET /cluster/resources", func(ctx context.Context) ([]state.Guest, error) {
		raw, err := c.api.GetResourceList(ctx, "vm")
		if err != nil {
			return nil, err
		}
		return guestsFromResources(raw)
	})
	if err != nil {
		return nil, fmt.Errorf("list guests: %w", err)
	}
	return guests, nil
}

func guestsFromResources(raw []any) ([]state.Guest, error) {
	out := make([]state.Guest, 0, len(raw))
	for i, item := range raw {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource %d is not an object", i)
		}
		typ := str(m["type"])
		if typ != "qemu" && typ != "lxc" {
			continue
		}
		vmid, ok := num(m["vmid"])
		if !ok {
			return nil, fmt.Errorf("resource %d (%s) has no numeric vmid", i, str(m["id"]))
		}
		cpu, _ := num(m["maxcpu"])
		mem, _ := num(m["maxmem"])
		disk, _ := num(m["maxdisk"])
		tpl, _ := num(m["template"])
		out = append(out, state.Guest{
			VMID:     int(vmid),
			Name:     str(m["name"]),
			Node:     str(m["node"]),
			Type:     typ,
			Template: tpl == 1 || m["template"] == true,
			Status:   str(m["status"]),
			Lock:     str(m["lock"]),
			Tags:     ParseTags(str(m["tags"])),
			MaxCPU:   int(cpu),
			MaxMem:   int64(mem),
			MaxDisk:  int64(disk),
		})
	}
	slices.SortFunc(out, func(a, b state.Guest) int { return a.VMID - b.VMID })
	return out, nil
}

// GuestConfig reads one guest's config (GET /nodes/{node}/qemu/{vmid}/config).
// A guest that does not exist on node gives an error matching ErrNotFound.
func (c *Client) GuestConfig(ctx context.Context, node string, vmid int) (state.GuestConfig, error) {
	op := fmt.Sprintf("GET /nodes/%s/qemu/%d/config", node, vmid)
	gc, err := do(ctx, c, c.opts.ReadTimeout, op, func(ctx context.Context) (state.GuestConfig, error) {
		raw, err := c.api.GetVmConfig(ctx, vmRef(node, vmid))
		if err != nil {
			return state.GuestConfig{}, err
		}
		return ParseConfig(node, vmid, raw), nil
	})
	if err != nil {
		return state.GuestConfig{}, fmt.Errorf("read config of %d: %w", vmid, err)
	}
	return gc, nil
}

// vmRef builds a resolved VmRef, so the library does not look the guest up
// with an extra GET /cluster/resources (and never sends /nodes//...).
func vmRef(node string, vmid int) *pxapi.VmRef {
	r := pxapi.NewVmRef(pxapi.GuestID(vmid))
	r.SetNode(node)
	r.SetVmType(pxapi.GuestQemu)
	return r
}

var diskKeyRE = regexp.MustCompile(`^(scsi|virtio|sata|ide)(\d+)$`)

// ParseConfig maps a raw PVE config (as decoded JSON) to a GuestConfig.
func ParseConfig(node string, vmid int, raw map[string]any) state.GuestConfig {
	gc := state.GuestConfig{VMID: vmid, Node: node, Raw: make(map[string]string, len(raw))}
	for k, v := range raw {
		gc.Raw[k] = rawString(v)
	}
	r := gc.Raw
	gc.Name = r["name"]
	gc.Template = r["template"] == "1"
	gc.Lock = r["lock"]
	gc.Description = r["description"]
	gc.Digest = r["digest"]
	gc.Tags = ParseTags(r["tags"])
	gc.Cores = atoiDefault(r["cores"], 1)
	gc.Sockets = atoiDefault(r["sockets"], 1)
	gc.MemoryMiB = parseMemory(r["memory"])
	gc.Agent = parseAgent(r["agent"])
	for k, v := range r {
		m := diskKeyRE.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		if strings.Contains(v, "cloudinit") {
			gc.CloudInit = true
			continue
		}
		if v == "none" || strings.Contains(v, "media=cdrom") {
			continue
		}
		vol, opts, _ := strings.Cut(v, ",")
		gc.Disks = append(gc.Disks, state.Disk{Key: k, Volume: vol, SizeGB: parseSizeGB(optValue(opts, "size"))})
	}
	slices.SortFunc(gc.Disks, func(a, b state.Disk) int { return diskOrder(a.Key) - diskOrder(b.Key) })
	return gc
}

// diskOrder sorts scsi before virtio before sata before ide, by index.
func diskOrder(key string) int {
	m := diskKeyRE.FindStringSubmatch(key)
	bus := map[string]int{"scsi": 0, "virtio": 1, "sata": 2, "ide": 3}[m[1]]
	n, _ := strconv.Atoi(m[2])
	return bus*1000 + n
}

func optValue(opts, key string) string {
	for _, kv := range strings.Split(opts, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// parseSizeGB reads PVE's size option ("32G", "512M", "1T", bytes).
func parseSizeGB(s string) float64 {
	if s == "" {
		return 0
	}
	mult := 1.0 / (1 << 30)
	switch s[len(s)-1] {
	case 'K', 'k':
		mult, s = 1.0/(1<<20), s[:len(s)-1]
	case 'M', 'm':
		mult, s = 1.0/(1<<10), s[:len(s)-1]
	case 'G', 'g':
		mult, s = 1, s[:len(s)-1]
	case 'T', 't':
		mult, s = 1<<10, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return f * mult
}

// parseMemory reads "2048", 2048 or "current=2048,..." (PVE 9); PVE's
// default is 512 MiB.
func parseMemory(s string) int {
	if s == "" {
		return 512
	}
	if v := optValue(s, "current"); v != "" {
		s = v
	} else {
		s, _, _ = strings.Cut(s, ",")
	}
	return atoiDefault(s, 512)
}

// parseAgent reads "1", "0", "enabled=1,fstrim_cloned_disks=1" or
// "1,fstrim_cloned_disks=1".
func parseAgent(s string) bool {
	first, _, _ := strings.Cut(s, ",")
	if v, ok := strings.CutPrefix(first, "enabled="); ok {
		first = v
	}
	b, err := strconv.ParseBool(first)
	return err == nil && b
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		return int(f)
	}
	return def
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func rawString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
