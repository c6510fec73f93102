// Package daemon owns the long-running loop of `templated daemon`: it keeps
// the last good desired state (reloaded, fully validated, on file changes
// and SIGHUP), turns every trigger (start, a change under the watched
// directories, a template's patch schedule, the safety-net interval, a
// retry after Proxmox was unreachable) into at most one reconcile at a time,
// backs off while the cluster cannot be reached, suspends templates whose
// builds keep failing, and tells systemd and an HTTP listener on loopback
// what it is doing. A desired file that is missing or invalid never stops
// it: at start (no last good state yet) it waits, not ready, until a valid
// file appears.
//
// The daemon does not plan or build itself: it calls a Reconciler, declared
// here and implemented elsewhere. It touches no signals and never exits the
// process; cmd/templated turns signals into Options.Reload, a cancelled
// context and Options.Abort.
package daemon
