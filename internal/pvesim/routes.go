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
	handle := func(pattern string, h handlerFunc) {
		method, _, _ := strings.Cut(pattern, " ")
		mux.Handle(pattern, &route{method: method, h: h})
	}

	handle("GET /version", getVersion)
	handle("GET /access/permissions", getPermissions)
	handle("GET /cluster/resources", getResources)
	handle("GET /cluster/nextid", getNextID)
	handle("GET /cluster/ha/resources", getHAResources)
	handle("GET /cluster/ha/resources/{sid}", getHAResource)
	handle("DELETE /cluster/ha/resources/{sid}", deleteHAResource)
	handle("GET /nodes", getNodes)
	handle("GET /nodes/{node}", getNodeIndex)
	handle("GET /nodes/{node}/status", getNodeStatus)

	handle("GET /nodes/{node}/qemu", listQemu)
	handle("POST /nodes/{node}/qemu", createQemu)
	handle("GET /nodes/{node}/qemu/{vmid}", qemuIndex)
	handle("DELETE /nodes/{node}/qemu/{vmid}", deleteQemu)
	handle("GET /nodes/{node}/qemu/{vmid}/config", getQemuConfig)
	handle("PUT /nodes/{node}/qemu/{vmid}/config", putQemuConfig)
	handle("POST /nodes/{node}/qemu/{vmid}/config", postQemuConfig)
	handle("GET /nodes/{node}/qemu/{vmid}/pending", getQemuPending)
	handle("GET /nodes/{node}/qemu/{vmid}/status", statusIndex)
	handle("GET /nodes/{node}/qemu/{vmid}/status/current", getQemuStatus)
	handle("POST /nodes/{node}/qemu/{vmid}/status/start", powerAction("start"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/stop", powerAction("stop"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/shutdown", powerAction("shutdown"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/reboot", powerAction("reboot"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/reset", powerAction("reset"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/suspend", powerAction("suspend"))
	handle("POST /nodes/{node}/qemu/{vmid}/status/resume", powerAction("resume"))
	handle("POST /nodes/{node}/qemu/{vmid}/clone", cloneQemu)
	handle("POST /nodes/{node}/qemu/{vmid}/template", templateQemu)
	handle("PUT /nodes/{node}/qemu/{vmid}/resize", resizeQemu)
	handle("PUT /nodes/{node}/qemu/{vmid}/sendkey", sendKey)
	handle("GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces", agentInterfaces)
	handle("POST /nodes/{node}/qemu/{vmid}/agent/ping", agentPing)

	handle("GET /nodes/{node}/lxc", listLXC)
	handle("GET /nodes/{node}/lxc/{vmid}/config", getLXCConfig)
	handle("GET /nodes/{node}/lxc/{vmid}/status/current", getLXCStatus)

	handle("GET /nodes/{node}/storage", listStorage)
	handle("GET /nodes/{node}/storage/{storage}/status", storageStatus)
	handle("GET /nodes/{node}/storage/{storage}/content", listContent)
	handle("POST /nodes/{node}/storage/{storage}/content", allocContent)
	handle("DELETE /nodes/{node}/storage/{storage}/content/{volume...}", deleteContent)
	handle("POST /nodes/{node}/storage/{storage}/upload", uploadContent)
	handle("POST /nodes/{node}/storage/{storage}/download-url", downloadURL)

	handle("GET /nodes/{node}/tasks", listTasks)
	handle("GET /nodes/{node}/tasks/{upid}", taskIndex)
	handle("DELETE /nodes/{node}/tasks/{upid}", stopTask)
	handle("GET /nodes/{node}/tasks/{upid}/status", taskStatus)
	handle("GET /nodes/{node}/tasks/{upid}/log", taskLog)
	return mux
}
