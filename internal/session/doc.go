// Package session owns one templated session against one cluster: it is
// opened from the settings (the connection, the Packer installation, the
// state directory's journal and lock, the evidence ledger), and it plans
// and reconciles. A reconcile recovers what the journal holds, observes
// the cluster, decides, records the decision, asks for confirmation
// through a callback, builds and swaps, and reports. `templated plan`,
// `templated apply`, rollback, adopt and the daemon all go through it;
// their differences are Options, not copies.
//
// The package also writes reconcile's records into the ledger
// (ledgerRecorder: decisions, builds, events with the git commit, CI run
// and tool versions an auditor needs) and turns a reconcile into the
// daemon's view of it (DaemonReconciler, Outcome).
//
// It sits above reconcile (the planner and the executor), ledger, journal,
// daemon and the Proxmox and Packer adapters, and below cmd/templated,
// which keeps flags, text, the prompt and exit codes.
package session
