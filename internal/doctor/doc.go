// Package doctor owns `templated doctor`: the checks of the control node
// and the cluster that find, before anything is built, what would make a
// build, swap or the cluster lease fail on the first day — the API's
// reachability, TLS and token, the token's privileges for every operation
// templated makes (privileges.go holds the table, docs/permissions.md its
// sources), nodes, storages and their content types, the ISOs and clone
// base VMs the var files name, guests in templated's VMID ranges that it
// does not own, next-id, Packer and its plugin, the ledger, the state
// lock and the nodes' clocks.
//
// It is two halves. Gather makes the requests (a fixed number per node
// and storage, never per template) and reads local files into a
// Snapshot; Evaluate turns a Snapshot into Results without any I/O, so
// the checks are tested against golden files. WriteText and WriteJSON
// render the results (docs/doctor-json.md).
package doctor
