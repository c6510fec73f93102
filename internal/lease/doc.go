// Package lease owns the cluster lease: a guard held in Proxmox VE
// itself so that two templated installations (two control nodes, or two
// working copies with their own state directories) never act on one
// cluster at the same time. The local flock on the state directory only
// keeps out processes of the same installation.
//
// The lease is a guest at a VMID the caller reserves for it (the last of
// the staging range): a QEMU VM without disks, never started, never a
// template, named and tagged "templated-lease", whose description names
// the holder (see Holder.Description). Two properties of PVE make it
// safe:
//
//   - POST /nodes/{node}/qemu takes a VMID atomically across the cluster
//     (qemu-server's create_vm runs create_and_lock_config before forking
//     its worker; pmxcfs refuses a VM config whose VMID another node has),
//     so of two installations creating the lease exactly one succeeds and
//     the other gets "already exists".
//   - PUT /nodes/{node}/qemu/{vmid}/config with digest changes the config
//     only if it still has that SHA-1 digest (checked under the guest's
//     config lock), so renewing or taking over a lease is a
//     compare-and-swap.
//
// Acquire creates the lease, or takes over one that has expired or that
// an earlier run of the same installation left behind, or waits for (or
// refuses with *HeldError naming) a live lease of another installation.
// Keep renews it in the background; Lost is closed when it is lost;
// Release deletes the lease guest only while it still names this holder.
//
// Expiry is judged by the clock of the installation looking at it, so
// the clocks of control nodes must agree to well within the TTL (NTP).
// Acquire must be called while holding the installation's state lock:
// a lease naming this installation is taken over as a crashed
// predecessor's.
package lease
