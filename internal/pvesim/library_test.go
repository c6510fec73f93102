package pvesim

import (
	"testing"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

// TestLibraryReadsEverything runs the library's heavier readers over every
// seeded guest: none may fail or panic on the simulator's JSON.
func TestLibraryReadsEverything(t *testing.T) {
	srv := startSim(t, Options{})
	c := pxClient(t, srv)
	ctx := testCtx(t)
	if v, err := c.GetVersion(ctx); err != nil || v.String() != "8.4.1" {
		t.Fatalf("version %v %v", v, err)
	}
	if _, err := c.GetNodeList(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetStorageContent(ctx, "local", "pve1"); err != nil {
		t.Fatal(err)
	}
	next, err := c.GetNextID(ctx, nil)
	if err != nil || next != 103 {
		t.Fatalf("next id %v %v", next, err)
	}
	start := pxapi.GuestID(100)
	if next, err := c.GetNextID(ctx, &start); err != nil || next != 103 {
		t.Fatalf("next id from 100: %v %v", next, err)
	}
	for _, id := range []pxapi.GuestID{100, 8000, 8001, 8002} {
		ref := pxapi.NewVmRef(id)
		if err := c.CheckVmRef(ctx, ref); err != nil {
			t.Fatal(err)
		}
		cfg, err := pxapi.NewConfigQemuFromApi(ctx, ref, c)
		if err != nil {
			t.Fatalf("NewConfigQemuFromApi(%d): %v", id, err)
		}
		if cfg.Name == nil || *cfg.Name == "" {
			t.Fatalf("config %d has no name", id)
		}
		if _, err := ref.GetRawGuestStatus(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	ref := pxapi.NewVmRef(100)
	if err := c.CheckVmRef(ctx, ref); err != nil {
		t.Fatal(err)
	}
	ifs, state, err := ref.GetAgentInformation(ctx, c)
	if err != nil || state != pxapi.GuestAgentStateRunning || len(ifs.Get()) < 2 {
		t.Fatalf("agent %v %v %v", ifs, state, err)
	}
	ref8000 := pxapi.NewVmRef(8000)
	_ = c.CheckVmRef(ctx, ref8000)
	_, state, err = ref8000.GetAgentInformation(ctx, c)
	if err != nil || state != pxapi.GuestAgentStateVmNotRunning {
		t.Fatalf("agent of a stopped VM: %v %v", state, err)
	}
}
