// Package pvesim is a simulated Proxmox VE API server (/api2/json) for
// tests and for people ("templated sim"). It owns the simulated cluster
// state — nodes, storages with ISO content, QEMU guests (plus LXC
// containers clients must filter out), their config maps, running state,
// locks, pending changes and per-node tasks — and answers the subset of the
// PVE API that proxmox-api-go and Packer's Proxmox plugin (1.11.2 / v1.1.1)
// use, the way real PVE does (as pve-api-subset.md in the shared research notes
// describes it):
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
//     template conversion makes base volumes, linked clones that name
//     their base (not LVM-thin's, as in PVE) keep their template from
//     being destroyed or migrated, tags are normalised as PVE does.
//   - A PUT or POST body that is neither form-urlencoded nor JSON, outside
//     the upload path, gets pveproxy's 506 "upload 'Content-Type
//     '<header>' not implemented" with an empty body: what plugin v1.1.1's
//     API library gets after an upload (packer-plugin-proxmox#150).
//   - DELETE …/storage/{storage}/content/{volume} takes "local:iso/x.iso"
//     or "iso/x.iso" and answers an "imgdel" task whose worker frees it.
//   - Clone (clone.go) makes clone_vm's checks before forking, in its
//     order (unknown target node, target storage, locked source, linked
//     clone with storage/format, local storage for another node, existing
//     newid, "Linked clone feature is not supported for …"). The clone
//     keeps every key but template, lock, snapshot/running state and
//     unused disks (tags, description, meta included; a description only
//     from a true parameter), gets new MACs, a new smbios1 uuid and
//     vmgenid, "Copy-of-VM-<name or vmid>" without a name; its config
//     is on the source node, "lock: clone", until the task moves it to
//     the target. Linked clone volumes are clone_image's per storage
//     type: "local:9000/base-9000-disk-0.raw/123/vm-123-disk-0.qcow2",
//     ZFS/RBD "base-9000-disk-0/vm-123-disk-0" (content parent
//     "base-9000-disk-0@__base__"), LVM-thin a plain "vm-123-disk-0".
//   - POST …/migrate (migrate.go, migtask.go, storagemap.go) answers
//     migrate_vm's synchronous errors (400 "target is local node.",
//     "no such cluster node", "can't migrate running VM without
//     --online", lock, check_storage_availability, targetstorage maps
//     "1" / "ID" / "src:dst") and starts a "qmigrate" task that locks the
//     VM "migrate", copies its local volumes (storage_migrate's names:
//     same name between storages of one type, base- names kept) and moves
//     the config to the target node; what QemuMigrate's prepare and
//     scan_local_volumes refuse (offline target, local ISO, local
//     devices, base volumes of linked clones, linked clones on local
//     storage, formats the target cannot take) ends it "migration
//     aborted" with PVE's log, the VM left where it was. Running VMs
//     migrate with online=1 (and with-local-disks=1 for local disks).
//   - Fault injection (latency, HTTP errors, failed or hanging tasks,
//     dropped connections) by method, path pattern and VMID.
//   - Permissions (access.go, privs.go, h_access.go, vmperm.go): with a
//     seed "access" section (users, groups, tokens with privilege
//     separation, custom roles, pools, ACLs) every route runs PVE's check
//     for its method (routes.go) and the checks PVE makes inside create,
//     config, clone, resize and content delete: 403 "Permission check
//     failed (/vms/9000, VM.Allocate)". The seed's version (8.x or 9.x)
//     selects the privilege names and built-in roles (PVE 9 has
//     VM.GuestAgent.* and VM.Replicate, no VM.Monitor). GET
//     /access/permissions answers path → privilege → propagate flag.
//     Without an access section every token is root's.
//   - Storage content types are enforced whatever the ACLs: a new disk on
//     a storage without images, a clone to one (400 storage: "storage 'X'
//     does not support vm images"), an upload of content the storage does
//     not hold (500). GET /nodes/{node}/storage reports enabled/active as
//     storage_info does (disabled or not on the node: enabled 0).
//   - POST …/storage/{storage}/download-url really downloads (download.go,
//     fetch.go, wget.go): PVE's schema per version (content import since
//     8.3, import .qcow2/.raw/.vmdk besides .ova since 8.4), Status.pm's
//     checks, a "download" task whose worker streams the body through the
//     checksum to a temporary file in the data dir (Options.DataDir, never
//     memory), logs what download_file_from_url and wget print, checks
//     the image (qcow2/vmdk header, OVA's .ovf, no backing file), and on
//     success lists the volume (local:iso/…, local:vztmpl/…,
//     local:import/…) with its size and ctime. Deliberate difference: it
//     only connects to loopback hosts (127.0.0.0/8, ::1, localhost, also
//     after redirects; no proxy) and never retries; any other host fails
//     the task with a pvesim message.
//   - Create (and config) drives "STORAGE:0,import-from=local:import/X"
//     or another VM's disk get a disk of the source's (virtual) size,
//     rounded as the target storage rounds (importfrom.go, volname.go);
//     a missing source fails the create task as PVE's worker does.
//   - GET /cluster/status (a lone node or a cluster), /cluster/options
//     (next-id), /nodes/{node}/status (every field), /nodes/{node}/time
//     (the seed's clock_offset and timezone), one volume's attributes
//     (…/content/{volume}); a node marked offline answers 595 "No route
//     to host" to every request routed to it.
//
// testdata/doctor.yaml is an example seed that provokes each first-day
// failure (missing privilege, storage without images or iso, missing ISO
// and clone base, offline node, clock skew, next-id overlap).
//
// The routes are declared in one table (routes.go): method and wildcard
// patterns of an http.ServeMux, matched against the decoded path below
// /api2/json with slashes at either end ignored (never a redirect). Any
// other method or path gets PVE's 501 "Method 'PATCH /version' not
// implemented" (resolve in router.go).
//
// Every request is recorded (Requests) before its answer is written, so a
// client that has its answer finds its request there.
//
// Vacancies(vmid) records, per VMID, the intervals during which no guest
// config existed there after one had: from the commit of the delete task
// (or a failed clone's or create's rollback, or RemoveGuest) to the moment
// a clone or create takes the VMID again (its config appears, locked) or
// AddGuest fills it. It measures a swap's window precisely: Vacancy.From,
// To (zero while still vacant), Duration(). It is not persisted.
//
// Go API:
//
//	srv, err := pvesim.Start(pvesim.Options{})        // HTTPS on 127.0.0.1:0, default seed
//	defer srv.Close()
//	srv.URL()                      // "https://127.0.0.1:41234/api2/json"
//	srv.CAFile(), srv.CACertPEM()  // the CA that signed the server certificate
//	srv.TokenID(), srv.TokenSecret(), srv.AuthHeader(), srv.Node()
//	srv.Faults().Add(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", TaskExit: "clone failed: disk full"})
//	srv.Requests(), srv.ResetRequests()
//	c := srv.Cluster()
//	c.Guests(), c.Guest(9000), c.Config(9000), c.SetConfig(9000, map[string]string{"memory": "4096"})
//	c.AddGuest(pvesim.GuestSpec{VMID: 9000, Name: "x", Template: true, Config: …}), c.AddGuests(…)
//	c.AddLinkedClone(9000, 123, "lc"), c.SetRunning(100, false), c.RemoveGuest(100)
//	c.Tasks(), c.Task(upid), c.CompleteTasks(), c.AddISO(…), c.Volumes(node, storage)
//	c.AddFile(pvesim.ISOSpec{Storage: "local", Content: "import", File: "x.qcow2", Size: n, VirtualSize: v})
//	c.DataPath("local:import/x.qcow2") // the downloaded bytes, if any
//	c.Vacancies(9000)              // []Vacancy{{From, To}}: when VMID 9000 had no config
//	c.SetNodeStatus("pve2", "offline") // and back "online"; not the first node
//
// The default seed (DefaultSeed, embedded seed/default.yaml) has node pve1,
// storages local (dir: iso, vztmpl, backup, snippets) and local-lvm
// (lvmthin: images, rootdir), installer ISOs for Ubuntu 22.04/24.04, Rocky 9
// (minimal, dvd), Windows Server 2022 eval and virtio-win.iso, cloud-image
// base templates 8000 base-ubuntu-22.04, 8001 base-ubuntu-24.04 and 8002
// base-rocky-9, running VMs 100-102 (rke2 nodes) and containers 200 and 201.
// There are no guests in 9000-9199.
//
// ThreeNodeSeed (embedded seed/three-node.yaml) has nodes pve1 (answering
// the API), pve2 and pve3, on each a non-shared local (dir: iso, import,
// vztmpl, snippets, backup) and local-lvm (lvmthin: images, rootdir), the
// shared rbd storage ceph (images) on all; templates 8000 (local-lvm) and
// 8001 (ceph) on pve1, one running VM per node. Seeds are chosen in Go
// (Options.Seed) or by file; `templated sim --seed` takes a file.
//
// With Options.StatePath the state is saved atomically as JSON (the Seed
// format) after every change and on Close, and loaded at start.
//
// Tasks: the first status poll of a task always answers "running"; the task
// ends TaskDuration after it started but not before that first poll (a task
// nobody polls ends on its own after 10s more). Options.TaskDuration 0 means
// DefaultTaskDuration (300ms); a negative value means "end right after the
// first poll". Worker-side failures (start of a template, a locked VM, a
// template whose base volumes linked clones use) are exit statuses, checks
// PVE makes before forking are synchronous 500s, as in PVE.
package pvesim
