package session

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"templated/internal/doctor"
	"templated/internal/plan"
	"templated/internal/proxmox"
	"templated/internal/state"
	"templated/internal/workspace"
)

// Inspector reads what builds need from the cluster; proxmox.Client
// implements it. Without one (the in-memory fake) only what the guest
// list shows is checked.
type Inspector interface {
	Storages(ctx context.Context, node string) ([]proxmox.StorageState, error)
	Volumes(ctx context.Context, node, storage, content string) ([]string, error)
	Permissions(ctx context.Context) (proxmox.Permissions, error)
	Version(ctx context.Context) (string, error)
}

// unmet checks, for the templates p would create or rebuild, what their
// builds need from the cluster: the clone base VM (from the guest list
// already read), and with an Inspector the storages, the ISOs and the
// token's privileges, one request per node, per ISO storage and one for
// the privileges. A check that cannot be made is logged and skipped:
// it never blocks a build by itself.
func unmet(ctx context.Context, cluster any, d *state.Desired, p plan.Plan, guests []state.Guest, root string, log logrus.FieldLogger) map[string][]state.Unmet {
	out := map[string][]state.Unmet{}
	add := func(t state.Template, code, format string, args ...any) {
		out[t.Name] = append(out[t.Name], state.Unmet{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	var builds []state.Template
	for _, a := range p.Actions {
		if t, ok := d.Template(a.Template); ok && a.Kind.Changes() {
			builds = append(builds, t)
		}
	}
	if len(builds) == 0 {
		return nil
	}
	insp, _ := cluster.(Inspector)
	c := &inspection{ctx: ctx, insp: insp, log: log, storages: map[string][]proxmox.StorageState{}, volumes: map[string][]string{}}
	for _, t := range builds {
		needs, err := workspace.BuildNeeds(root, t)
		if err != nil {
			log.WithError(err).Warn("prerequisites not checked")
			continue
		}
		if needs.CloneVM != "" && !slices.ContainsFunc(guests, func(g state.Guest) bool { return g.Name == needs.CloneVM }) {
			add(t, plan.ReasonCloneSourceMissing, "the clone build starts from %s, which is on no node: make that base VM, or correct clone_vm in %s", needs.CloneVM, t.VarFile)
		}
		if insp == nil {
			continue
		}
		if why := c.storageUnfit(t.Node, t.Storage, "images"); why != "" {
			add(t, plan.ReasonStorageUnfit, "%s: set storage to one that holds VM disks, or add images to its content", why)
		}
		if len(needs.ISOs) > 0 {
			if why := c.storageUnfit(t.Node, t.ISOStorage, "iso"); why != "" {
				add(t, plan.ReasonStorageUnfit, "%s: set iso_storage to one that holds ISOs, or add iso to its content", why)
			} else if vols, ok := c.isos(t.Node, t.ISOStorage); ok {
				for _, iso := range needs.ISOs {
					if volid := t.ISOStorage + ":iso/" + iso; !slices.Contains(vols, volid) {
						add(t, plan.ReasonISOMissing, "ISO %s is not on storage %s of node %s: upload it, or correct the ISO's name in %s", volid, t.ISOStorage, t.Node, t.VarFile)
					}
				}
			}
		}
		if m := c.missing(t, d, guests, root); m != "" {
			add(t, plan.ReasonPermissionMissing, "the token lacks %s: grant them (docs/permissions.md has the role templated needs)", m)
		}
	}
	return out
}

// inspection caches what the checks read, so that requests grow with
// nodes and storages, not with templates.
type inspection struct {
	ctx       context.Context
	insp      Inspector
	log       logrus.FieldLogger
	storages  map[string][]proxmox.StorageState
	volumes   map[string][]string
	perms     proxmox.Permissions
	permsErr  error
	permsRead bool
	major     int // PVE's major version
}

// storageUnfit says why storage on node cannot hold content ("" when it
// can, or when the node's storages could not be read).
func (c *inspection) storageUnfit(node, storage, content string) string {
	list, ok := c.storages[node]
	if !ok {
		var err error
		if list, err = c.insp.Storages(c.ctx, node); err != nil {
			c.log.WithError(err).WithField("node", node).Warn("storages not checked")
		}
		c.storages[node] = list
	}
	if list == nil {
		return ""
	}
	i := slices.IndexFunc(list, func(s proxmox.StorageState) bool { return s.Name == storage })
	switch {
	case i < 0:
		return fmt.Sprintf("storage %s is not on node %s", storage, node)
	case !list[i].Enabled:
		return fmt.Sprintf("storage %s is disabled on node %s", storage, node)
	case !list[i].Active:
		return fmt.Sprintf("storage %s is not active on node %s", storage, node)
	case !slices.Contains(list[i].Content, content):
		return fmt.Sprintf("storage %s on node %s does not hold %s (content: %s)", storage, node, content, strings.Join(list[i].Content, ","))
	}
	return ""
}

// isos lists the ISO volumes of storage on node; ok is false when they
// could not be read.
func (c *inspection) isos(node, storage string) ([]string, bool) {
	key := node + "/" + storage
	vols, ok := c.volumes[key]
	if !ok {
		var err error
		if vols, err = c.insp.Volumes(c.ctx, node, storage, "iso"); err != nil {
			c.log.WithError(err).WithField("storage", storage).Warn("ISOs not checked")
			vols = nil
		}
		c.volumes[key] = vols
	}
	return vols, vols != nil
}

// missing says which privileges the token lacks for building t and
// swapping it in (doctor.BuildMissing: the table doctor reports), by
// path ("" for none). It reads the privileges and PVE's version once.
func (c *inspection) missing(t state.Template, d *state.Desired, guests []state.Guest, root string) string {
	if !c.permsRead {
		c.permsRead = true
		c.perms, c.permsErr = c.insp.Permissions(c.ctx)
		if c.permsErr == nil {
			var v string
			if v, c.permsErr = c.insp.Version(c.ctx); c.permsErr == nil {
				c.major, _ = strconv.Atoi(strings.SplitN(v, ".", 2)[0])
			}
		}
		if c.permsErr != nil {
			c.log.WithError(c.permsErr).Warn("privileges not checked")
		}
	}
	if c.permsErr != nil {
		return ""
	}
	return doctor.BuildMissing(c.perms, d.VMIDs, root, t, guests, c.major)
}
