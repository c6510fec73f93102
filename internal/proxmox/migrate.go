package proxmox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"templated/internal/state"
)

// reNodeName is pve-common's pve-node format (JSONSchema.pm,
// pve_verify_node_name).
var reNodeName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$`)

// CheckMigrate refuses, before anything is sent, a migration PVE's
// migrate_vm would refuse for its parameters alone: node names that are
// not pve-node names, a VMID out of range, a target storage that is not
// a storage ID ("" keeps each disk's storage ID), and a target that is
// the VM's own node (PVE: "target is local node."). proxmoxfake uses it
// too.
func CheckMigrate(node string, vmid int, target, targetStorage string) error {
	invalid := func(format string, args ...any) error { return NewError(ErrInvalid, 0, format, args...) }
	switch {
	case !reNodeName.MatchString(node):
		return invalid("invalid node name %q", node)
	case !reNodeName.MatchString(target):
		return invalid("invalid target node name %q", target)
	case vmid < 100 || vmid > 999999999:
		return invalid("VMID %d out of range 100-999999999", vmid)
	case targetStorage != "" && !reStorageID.MatchString(targetStorage):
		return invalid("invalid target storage %q", targetStorage)
	case target == node:
		return invalid("target %s is the VM's own node (PVE: target is local node.)", target)
	}
	return nil
}

// Migrate moves the stopped VM or template vmid from node to target
// offline (POST /nodes/{node}/qemu/{vmid}/migrate target=…
// [targetstorage=…]) and waits for the qmigrate task, bounded by
// Options.TaskTimeout: the task copies every disk on local storage over
// the migration network onto targetStorage of the target node ("" keeps
// each disk's storage ID, which must then exist there), moves the config
// and frees the source volumes. Disks on shared storage stay where they
// are. with-local-disks is not sent: PVE needs it only to live-migrate a
// running VM's disks (QemuMigrate.pm, scan_local_volumes); an offline
// migration always copies them.
//
// PVE refuses a running VM ("can't migrate running VM without --online":
// ErrConflict), an unknown target ("no such cluster node": ErrInvalid), a
// locked VM (ErrLocked) and a VM that is not on node (ErrNotFound). Its
// worker refuses a template whose base volumes linked clones use
// (ErrConflict) and linked clones on directory and ZFS storages, and
// fails when the target node is unreachable. A failed task ends with the exit status
// "migration aborted" (the VM stays on node) or "migration problems" (the
// VM is on target, but a source volume or the migrate lock was left
// behind); the error unwraps to *state.TaskError and its message carries
// the reasons from the task log (NewMigrateError).
//
// Needs VM.Migrate on /vms/{vmid}; with targetStorage also VM.Config.Disk
// there and Datastore.AllocateSpace on /storage/{targetStorage}.
//
// Requests: 1 + task polls (+ log pages when the task fails).
func (c *Client) Migrate(ctx context.Context, node string, vmid int, target, targetStorage string) error {
	fail := func(err error) error { return fmt.Errorf("migrate %d to %s: %w", vmid, target, err) }
	if err := CheckMigrate(node, vmid, target, targetStorage); err != nil {
		return fail(err)
	}
	params := map[string]any{"target": target}
	if targetStorage != "" {
		params["targetstorage"] = targetStorage
	}
	url := qemuPath(node, vmid) + "/migrate"
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	c.log.WithFields(logrus.Fields{"node": node, "vmid": vmid, "target": target, "storage": targetStorage}).Info("migrating offline")
	err := c.runTask(ctx, node, "POST "+url, func(ctx context.Context) error { return c.api.Post(ctx, params, url) })
	if err != nil {
		return fail(c.migrateError(ctx, node, err))
	}
	return nil
}

// migrateError classifies migrate_vm's refusals and completes a failed
// task's error with the reasons its log gives.
func (c *Client) migrateError(ctx context.Context, node string, err error) error {
	var te *state.TaskError
	if errors.As(err, &te) {
		tl, lerr := c.taskLog(ctx, node, te.UPID)
		if lerr != nil {
			c.log.WithError(lerr).WithField("upid", te.UPID).Warn("migration failed and its task log could not be read")
			return err
		}
		e := NewMigrateError(te.UPID, te.ExitStatus, tl.Lines)
		e.Msg = c.scrub(e.Msg)
		return e
	}
	var e *Error
	if errors.As(err, &e) && e.Kind == ErrAPI {
		switch m := e.Msg; {
		case strings.Contains(m, "can't migrate running VM"):
			e.Kind = ErrConflict
		case strings.Contains(m, "no such cluster node"):
			e.Kind = ErrInvalid
		}
	}
	return err
}

// migrateLogTime is the time stamp AbstractMigrate's log puts before each
// line.
var migrateLogTime = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d `)

// maxMigrateReasons bounds the log lines a migration error quotes.
const maxMigrateReasons = 5

// NewMigrateError is the error of a qmigrate task that ended with exit
// status exit, given its log: the exit status ("migration aborted",
// "migration problems") followed by the reasons the log gives, that is
// the cause of the abort, the other errors and the volumes PVE cannot
// migrate ("can't migrate local disk '…': referenced by linked
// clone(s)"). Its Kind is ErrConflict when linked clones are in the way,
// else as NewTaskError decides. It unwraps to *state.TaskError.
// proxmoxfake uses it too.
func NewMigrateError(upid, exit string, lines []string) *Error {
	var cause string
	var reasons []string
	for _, l := range lines {
		l = strings.TrimSpace(migrateLogTime.ReplaceAllString(l, ""))
		switch {
		case strings.HasPrefix(l, "TASK "), strings.HasPrefix(l, "ERROR: migration finished with problems"):
		case strings.HasPrefix(l, "ERROR: migration aborted ("):
			if _, c, ok := strings.Cut(l, "): "); ok {
				cause = c
			}
		case strings.HasPrefix(l, "ERROR: "):
			reasons = append(reasons, strings.TrimPrefix(l, "ERROR: "))
		case strings.HasPrefix(l, "can't migrate"):
			reasons = append(reasons, l)
		}
	}
	var quoted []string
	for _, r := range append([]string{cause}, reasons...) {
		if r != "" && len(quoted) < maxMigrateReasons && !slices.Contains(quoted, r) {
			quoted = append(quoted, r)
		}
	}
	e := NewTaskError(upid, exit)
	if len(quoted) > 0 {
		e.Msg += ": " + strings.Join(quoted, "; ")
	}
	if strings.Contains(e.Msg, "referenced by linked clone") {
		e.Kind = ErrConflict
	}
	return e
}
