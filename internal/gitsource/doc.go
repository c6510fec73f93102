// Package gitsource owns following a git remote for the daemon: fetching
// it into the daemon's state directory (go-git, HTTPS or SSH), resolving
// the configured branch, tag or semver range to a commit, refusing what
// must not be applied (a history rewrite, an unsigned or wrongly signed
// head, a desired file that does not validate), and putting an accepted
// revision in force as an immutable checkout behind one symlink swap. It
// also owns the push-webhook receiver that asks for an immediate fetch.
//
// It knows nothing of Proxmox or of how a reconcile is made: the daemon
// watches it (Source implements the daemon's Watcher shape), and its
// refusals and acceptances go to a Recorder.
package gitsource
