package proxmoxtest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"templated/internal/proxmox"
	"templated/internal/pvesim"
	"templated/internal/reconcile"
)

// SimHarness is a Harness over a pvesim server reached through the real
// adapter (proxmox.Client).
type SimHarness struct {
	Server *pvesim.Server
	Client *proxmox.Client
}

// SimOptions configure NewSimHarness.
type SimOptions struct {
	// TLS serves HTTPS; the client trusts the simulator's CA via CAFile.
	TLS bool
	// Client options (PollInterval defaults to 10 ms).
	Client proxmox.Options
	// TaskDuration of simulated tasks (default 20 ms).
	TaskDuration time.Duration
}

// SimSeed is the empty cluster a SimHarness starts with: PVE 8.4.1 (so
// download-url takes import content, qcow2 files included), nodes "pve"
// and "pve2", storages local (dir: ISOs, container templates, import
// images) and local-lvm (lvmthin, images).
func SimSeed() *pvesim.Seed {
	return &pvesim.Seed{
		Version: "8.4.1",
		Nodes:   []pvesim.NodeSpec{{Name: "pve", CPUs: 16, Memory: 64 << 30}, {Name: OtherNode, CPUs: 16, Memory: 64 << 30}},
		Storages: []pvesim.StorageSpec{
			{Name: "local", Type: "dir", Content: []string{"iso", "vztmpl", "backup", "snippets", "import"}, Size: 100 << 30},
			{Name: "local-lvm", Type: "lvmthin", Content: []string{"images", "rootdir"}, Size: 1 << 40},
		},
	}
}

// NewSimHarness starts a simulator (closed with the test) and a client.
func NewSimHarness(t testing.TB, o SimOptions) *SimHarness {
	t.Helper()
	if o.TaskDuration == 0 {
		o.TaskDuration = 20 * time.Millisecond
	}
	srv, err := pvesim.Start(pvesim.Options{NoTLS: !o.TLS, Seed: SimSeed(), TaskDuration: o.TaskDuration})
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := proxmox.Config{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: proxmox.Secret(srv.TokenSecret()), Node: srv.Node()}
	if o.TLS {
		cfg.CAFile = srv.CAFile()
	}
	if o.Client.PollInterval == 0 {
		o.Client.PollInterval = 10 * time.Millisecond
	}
	c, err := proxmox.New(cfg, o.Client)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return &SimHarness{Server: srv, Client: c}
}

func (h *SimHarness) Cluster() reconcile.Cluster { return h.Client }
func (h *SimHarness) Node() string               { return h.Server.Node() }

// GuestSpec translates a seed VM into the simulator's spec.
func GuestSpec(vm VM) pvesim.GuestSpec {
	conf := map[string]string{}
	if vm.Type != "lxc" {
		conf["cores"] = strconv.Itoa(max(vm.Cores, 1))
		conf["sockets"] = strconv.Itoa(max(vm.Sockets, 1))
		conf["memory"] = strconv.Itoa(cmpOr(vm.MemoryMiB, 512))
		if vm.Agent {
			conf["agent"] = "1"
		}
		if vm.CloudInit {
			conf["ide2"] = fmt.Sprintf("local-lvm:vm-%d-cloudinit,media=cdrom", vm.VMID)
		}
		disks := vm.Disks
		if disks == nil {
			prefix := "vm"
			if vm.Template {
				prefix = "base"
			}
			conf["scsi0"] = fmt.Sprintf("local-lvm:%s-%d-disk-0,size=32G", prefix, vm.VMID)
			conf["boot"] = "order=scsi0"
		}
		for _, d := range disks {
			conf[d.Key] = d.Volume + ",size=" + sizeString(d.SizeGB)
		}
	} else {
		conf["rootfs"] = fmt.Sprintf("local-lvm:vm-%d-disk-0,size=8G", vm.VMID)
	}
	if vm.Lock != "" {
		conf["lock"] = vm.Lock
	}
	return pvesim.GuestSpec{VMID: vm.VMID, Node: vm.Node, Type: vm.Type, Name: vm.Name, Template: vm.Template,
		Running: vm.Running, Tags: strings.Join(vm.Tags, ";"), Description: vm.Description, Config: conf}
}

func sizeString(gb float64) string {
	if gb == math.Trunc(gb) {
		return strconv.Itoa(int(gb)) + "G"
	}
	return strconv.Itoa(int(gb*1024)) + "M"
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (h *SimHarness) AddVM(t testing.TB, vm VM) {
	t.Helper()
	if err := h.Server.Cluster().AddGuest(GuestSpec(vm)); err != nil {
		t.Fatal(err)
	}
}

func (h *SimHarness) AddLinkedClone(t testing.TB, tpl, vmid int, name string) {
	t.Helper()
	if err := h.Server.Cluster().AddLinkedClone(tpl, vmid, name); err != nil {
		t.Fatal(err)
	}
}

func (h *SimHarness) SetRunning(t testing.TB, vmid int, running bool) {
	t.Helper()
	if err := h.Server.Cluster().SetRunning(vmid, running); err != nil {
		t.Fatal(err)
	}
}

func (h *SimHarness) SetLock(t testing.TB, vmid int, lock string) {
	t.Helper()
	if err := h.Server.Cluster().SetConfig(vmid, map[string]string{"lock": lock}); err != nil {
		t.Fatal(err)
	}
}
