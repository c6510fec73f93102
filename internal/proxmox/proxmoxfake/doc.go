// Package proxmoxfake is an in-memory Proxmox VE cluster implementing
// reconcile.Cluster with PVE's rules: locks block changes, only stopped
// non-templates become templates, a template with linked clones cannot be
// deleted, tags are normalised, a clone inherits tags and description.
// Errors match the proxmox package's sentinels (proxmox.ErrNotFound, ...)
// and failed "tasks" return *state.TaskError, like proxmox.Client.
//
// Faults are injected with Funcs hooks (in the spirit of controller-runtime's
// interceptor.Funcs); Add, AddLinkedClone, SetRunning and SetLock seed
// state. It is ordinary (non-test) code so that cmd tests can use it.
package proxmoxfake
