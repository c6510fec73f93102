package pvesim

import (
	"net/http"
	"strings"
)

// routes is the API the simulator answers, in one table: method and path
// below /api2/json. A wildcard holds one path segment, read with
// reqCtx.pathValue; {volume...} takes the rest of the path, slashes
// included ("local:iso/x.iso"). Every other method and path gets PVE's
// 501 (see resolve).
func routes() *http.ServeMux {
	mux := http.NewServeMux()
	// check is the method's "permissions => { check => ... }" in PVE's
	// API (nil: user => 'all', any checks are the handler's own).
	// Sources: qemu-server src/PVE/API2/Qemu.pm and Qemu/Agent.pm,
	// pve-storage src/PVE/API2/Storage/{Status,Content}.pm, pve-manager
	// PVE/API2/{Nodes,Cluster}.pm.
	handle := func(pattern string, h handlerFunc, check ...*permCheck) {
		method, path, _ := strings.Cut(pattern, " ")
		rt := &route{method: method, h: h, proxied: strings.HasPrefix(path, "/nodes/{node}/")}
		if len(check) > 0 {
			rt.check = check[0]
		}
		mux.Handle(pattern, rt)
	}
	vm := func(privs ...string) *permCheck { return perm("/vms/{vmid}", privs...) }
	storeRead := permAny("/storage/{storage}", "Datastore.Audit", "Datastore.AllocateSpace")
	vmConfig := permAny("/vms/{vmid}", "VM.Config.Disk", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Memory",
		"VM.Config.Network", "VM.Config.HWType", "VM.Config.Options", "VM.Config.Cloudinit")

	handle("GET /version", getVersion)
	handle("GET /access/permissions", getPermissions)
	handle("GET /cluster/resources", getResources)
	handle("GET /cluster/nextid", getNextID)
	handle("GET /cluster/status", getClusterStatus, perm("/", "Sys.Audit"))
	handle("GET /cluster/options", getClusterOptions)
	handle("GET /cluster/ha/resources", getHAResources)
	handle("GET /cluster/ha/resources/{sid}", getHAResource)
	handle("DELETE /cluster/ha/resources/{sid}", deleteHAResource)
	handle("GET /nodes", getNodes)
	handle("GET /nodes/{node}", getNodeIndex)
	handle("GET /nodes/{node}/status", getNodeStatus, perm("/nodes/{node}", "Sys.Audit"))
	handle("GET /nodes/{node}/time", getNodeTime, perm("/nodes/{node}", "Sys.Audit"))

	handle("GET /nodes/{node}/qemu", listQemu)
	handle("POST /nodes/{node}/qemu", createQemu)
	handle("GET /nodes/{node}/qemu/{vmid}", qemuIndex)
	handle("DELETE /nodes/{node}/qemu/{vmid}", deleteQemu, vm("VM.Allocate"))
	handle("GET /nodes/{node}/qemu/{vmid}/config", getQemuConfig, vm("VM.Audit"))
	handle("PUT /nodes/{node}/qemu/{vmid}/config", putQemuConfig, vmConfig)
	handle("POST /nodes/{node}/qemu/{vmid}/config", postQemuConfig, vmConfig)
	handle("GET /nodes/{node}/qemu/{vmid}/pending", getQemuPending, vm("VM.Audit"))
	handle("GET /nodes/{node}/qemu/{vmid}/status", statusIndex)
	handle("GET /nodes/{node}/qemu/{vmid}/status/current", getQemuStatus, vm("VM.Audit"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/start", powerAction("start"), vm("VM.PowerMgmt"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/stop", powerAction("stop"), vm("VM.PowerMgmt"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/shutdown", powerAction("shutdown"), vm("VM.PowerMgmt"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/reboot", powerAction("reboot"), vm("VM.PowerMgmt"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/reset", powerAction("reset"), vm("VM.PowerMgmt"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/suspend", powerAction("suspend"), vm("VM.PowerMgmt"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/resume", powerAction("resume"), vm("VM.PowerMgmt"))
	handle("POST /nodes/{node}/qemu/{vmid}/clone", cloneQemu, permAnd(vm("VM.Clone"),
		permOr(perm("/vms/{newid}", "VM.Allocate"), permIf("pool", "/pool/{pool}", "VM.Allocate"))))
	handle("POST /nodes/{node}/qemu/{vmid}/template", templateQemu, vm("VM.Allocate"))
	handle("POST /nodes/{node}/qemu/{vmid}/migrate", migrateQemu, vm("VM.Migrate"))
	handle("PUT /nodes/{node}/qemu/{vmid}/resize", resizeQemu, vm("VM.Config.Disk"))
	handle("PUT /nodes/{node}/qemu/{vmid}/sendkey", sendKey, vm("VM.Console"))
	handle("GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces", agentInterfaces, agentPerm)
	handle("POST /nodes/{node}/qemu/{vmid}/agent/ping", agentPing, agentPerm)

	handle("GET /nodes/{node}/lxc", listLXC)
	handle("GET /nodes/{node}/lxc/{vmid}/config", getLXCConfig, vm("VM.Audit"))
	handle("GET /nodes/{node}/lxc/{vmid}/status/current", getLXCStatus, vm("VM.Audit"))

	handle("GET /nodes/{node}/storage", listStorage)
	handle("GET /nodes/{node}/storage/{storage}/status", storageStatus, storeRead)
	handle("GET /nodes/{node}/storage/{storage}/content", listContent, storeRead)
	handle("GET /nodes/{node}/storage/{storage}/content/{volume...}", volumeInfo)
	handle("POST /nodes/{node}/storage/{storage}/content", allocContent, perm("/storage/{storage}", "Datastore.AllocateSpace"))
	handle("DELETE /nodes/{node}/storage/{storage}/content/{volume...}", deleteContent)
	handle("POST /nodes/{node}/storage/{storage}/upload", uploadContent, perm("/storage/{storage}", "Datastore.AllocateTemplate"))
	handle("POST /nodes/{node}/storage/{storage}/download-url", downloadURL, permAnd(perm("/storage/{storage}", "Datastore.AllocateTemplate"),
		permOr(perm("/", "Sys.Audit", "Sys.Modify"), perm("/nodes/{node}", "Sys.AccessNetwork"))))

	handle("GET /nodes/{node}/tasks", listTasks)
	handle("GET /nodes/{node}/tasks/{upid}", taskIndex)
	handle("DELETE /nodes/{node}/tasks/{upid}", stopTask)
	handle("GET /nodes/{node}/tasks/{upid}/status", taskStatus)
	handle("GET /nodes/{node}/tasks/{upid}/log", taskLog)
	return mux
}
