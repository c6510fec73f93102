// Package pvesim is a simulated Proxmox VE API server (/api2/json) for
// tests and for people ("templated sim"). It owns the simulated cluster
// state — nodes, storages with ISO content, QEMU guests (plus LXC
// containers clients must filter out), their config maps, running state,
// locks, pending changes and per-node tasks — and answers the subset of the
// PVE API that proxmox-api-go and Packer's Proxmox plugin (1.11.2 / v1.1.1)
// use, the way real PVE does (see docs in research/pve-api-subset.md):
//
//   - {"data":…} envelopes; JSON numbers and strings where PVE has them
//     (vmid, template, cores are numbers; memory "2048" and nextid "102"
//     are strings).
//   - API-token auth (Authorization: PVEAPIToken=USER@REALM!ID=SECRET);
//     401 "No ticket" / "Authentication failed!" with an empty body.
//   - Errors carry PVE's message twice: as the HTTP reason phrase (the
//     connection is hijacked to write the status line, over TLS too) and
//     as {"data":null,"message":"…\n"}; 400s add "errors".
//   - Tasks with PVE UPIDs that are seen "running" at least once, then
//     "stopped" with an exitstatus. Clone takes "lock: clone" while it runs,
//     template conversion makes base volumes, linked clones keep their
//     template from being destroyed, tags are normalised as PVE does.
//   - Fault injection (latency, HTTP errors, failed or hanging tasks,
//     dropped connections) by method, path pattern and VMID.
//
// Go API:
//
//	srv, err := pvesim.Start(pvesim.Options{})        // HTTPS on 127.0.0.1:0, default seed
//	defer srv.Close()
//	srv.URL()                      // "https://127.0.0.1:41234/api2/json"
//	srv.CAFile(), srv.CACertPEM()  // the CA that signed the server certificate
//	srv.TokenID(), srv.TokenSecret(), srv.AuthHeader(), srv.Node()
//	srv.Faults().Add(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", TaskExit: "clone failed: disk full"})
//	srv.Requests(), srv.ResetRequests(), srv.RequestCount()
//	c := srv.Cluster()
//	c.Guests(), c.Guest(9000), c.Config(9000), c.SetConfig(9000, map[string]string{"memory": "4096"})
//	c.AddGuest(pvesim.GuestSpec{VMID: 9000, Name: "x", Template: true, Config: …}), c.AddGuests(…)
//	c.AddLinkedClone(9000, 123, "lc"), c.SetRunning(100, false), c.RemoveGuest(100)
//	c.Tasks(), c.Task(upid), c.CompleteTasks(), c.AddISO(…), c.Volumes(node, storage), c.NextID(), c.Export()
//
// The default seed (DefaultSeed, embedded seed/default.yaml) has node pve1,
// storages local (dir: iso, vztmpl, backup, snippets) and local-lvm
// (lvmthin: images, rootdir), installer ISOs for Ubuntu 22.04/24.04, Rocky 9
// (minimal, dvd), Windows Server 2022 eval and virtio-win.iso, cloud-image
// base templates 8000 base-ubuntu-22.04, 8001 base-ubuntu-24.04 and 8002
// base-rocky-9, running VMs 100-102 (rke2 nodes) and containers 200 and 201.
// There are no guests in 9000-9199.
//
// With Options.StatePath the state is saved atomically as JSON (the Seed
// format) after every change and on Close, and loaded at start.
package pvesim
