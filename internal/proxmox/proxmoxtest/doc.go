// Package proxmoxtest holds the contract tests every reconcile.Cluster
// implementation must pass (Run), and the Harnesses that let one suite set
// up state on the in-memory fake (NewFakeHarness) and on the simulator
// through the real adapter (NewSimHarness, over HTTP or HTTPS).
package proxmoxtest
