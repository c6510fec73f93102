package session

import (
	"cmp"
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
// the privileges (and one for PVE's version). The ISO or base VM of a
// template's image, and the ISOs of its extra images, are templated's to
// make, so the var file's are not looked for; the image's storage must
// hold the image's content (iso, or import for a cloud image). A check
// that cannot be made is logged and skipped: it never blocks a build by
// itself.
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
		// A var file that cannot be read leaves out only the checks of
		// what it names.
		needs, err := workspace.BuildNeeds(root, t)
		if err != nil {
			log.WithError(err).WithField("template", t.Name).Warn("prerequisites named by the var file not checked")
		}
		if needs.CloneVM != "" && t.Image == "" && !slices.ContainsFunc(guests, func(g state.Guest) bool { return g.Name == needs.CloneVM }) {
			add(t, plan.ReasonCloneSourceMissing, "the clone build starts from %s, which is on no node: make that base VM, or correct clone_vm in %s", needs.CloneVM, t.VarFile)
		}
		if insp == nil {
			continue
		}
		if why := c.storageUnfit(t.Node, t.Storage, "images"); why != "" {
			add(t, plan.ReasonStorageUnfit, "%s: set storage to one that holds VM disks, or add images to its content", why)
		}
		images := imageStorages(t, d)
		if isos := varFileISOs(t, needs); len(isos) > 0 {
			st := isoStorage(t, images)
			if why := c.storageUnfit(t.Node, st, "iso"); why != "" {
				if st == t.ISOStorage { // else the image's storage, reported below
					add(t, plan.ReasonStorageUnfit, "%s: set iso_storage to one that holds ISOs, or add iso to its content", why)
				}
			} else if vols, ok := c.isos(t.Node, st); ok {
				for _, iso := range isos {
					if volid := st + ":iso/" + iso; !slices.Contains(vols, volid) {
						add(t, plan.ReasonISOMissing, "ISO %s is not on storage %s of node %s: upload it, or correct the ISO's name in %s", volid, st, t.Node, t.VarFile)
					}
				}
			}
		}
		for _, u := range images {
			if why := c.storageUnfit(t.Node, u.storage, u.content); why != "" {
				add(t, plan.ReasonStorageUnfit, "%s: %s", why, c.imageFix(u))
			}
		}
		if m := c.missing(t, d, guests, root); m != "" {
			add(t, plan.ReasonPermissionMissing, "the token lacks %s: grant them (docs/permissions.md has the role templated needs)", m)
		}
	}
	return out
}

// varFileISOs are the ISOs of t's var file that must already be on its
// iso_storage: the installer unless t names an image, the extra ISOs
// unless t names extra images (templated makes those present itself).
func varFileISOs(t state.Template, needs workspace.Needs) []string {
	var out []string
	for i, iso := range needs.ISOs {
		if (i == 0 && t.Image == "") || (i > 0 && len(t.ExtraImages) == 0) {
			out = append(out, iso)
		}
	}
	return out
}

// isoStorage is where t's build looks for ISOs: the storage of its ISO
// images when it has any (the builder points iso_storage there), else its
// iso_storage.
func isoStorage(t state.Template, images []imageStorage) string {
	for _, u := range images {
		if u.content == "iso" {
			return u.storage
		}
	}
	return t.ISOStorage
}

// imageStorage is a storage t's images are kept on, with the content
// they need there and their names.
type imageStorage struct {
	storage, content string
	images           []string
}

// imageStorages lists the storages of t's image and extra images, each
// with its content type once, in order.
func imageStorages(t state.Template, d *state.Desired) []imageStorage {
	var out []imageStorage
	for _, name := range append([]string{t.Image}, t.ExtraImages...) {
		im, ok := d.Image(name)
		if name == "" || !ok {
			continue
		}
		st, content := cmp.Or(im.Storage, t.ISOStorage), "iso"
		if im.Kind == state.ImageCloud {
			content = "import"
		}
		i := slices.IndexFunc(out, func(u imageStorage) bool { return u.storage == st && u.content == content })
		if i < 0 {
			out = append(out, imageStorage{storage: st, content: content})
			i = len(out) - 1
		}
		out[i].images = append(out[i].images, im.Name)
	}
	return out
}

// imageFix says how to make u's storage fit its images. Import content
// exists since PVE 8.3: an older cluster is told so (its version is read
// once).
func (c *inspection) imageFix(u imageStorage) string {
	what := "ISOs"
	if u.content == "import" {
		what = "cloud images (import content)"
	}
	who := "image " + u.images[0] + " is"
	if len(u.images) > 1 {
		who = "images " + strings.Join(u.images, ", ") + " are"
	}
	fix := fmt.Sprintf("%s kept there: set the image's storage to one that holds %s, or add %s to its content", who, what, u.content)
	if u.content == "import" {
		switch major, minor, ok := c.version(); {
		case !ok:
			fix += " (PVE 8.3 or later)"
		case major < 8 || major == 8 && minor < 3:
			fix += fmt.Sprintf(" (PVE %d.%d has no import content: it needs PVE 8.3 or later)", major, minor)
		}
	}
	return fix
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
	// PVE's version (major.minor), read once
	major, minor int
	versionErr   error
	versionRead  bool
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

// version is PVE's version, read once; ok is false when it could not be
// read (logged).
func (c *inspection) version() (major, minor int, ok bool) {
	if !c.versionRead {
		c.versionRead = true
		v, err := c.insp.Version(c.ctx)
		if err != nil {
			c.log.WithError(err).Warn("PVE version not read")
			c.versionErr = err
		} else {
			parts := strings.SplitN(v, ".", 3)
			c.major, _ = strconv.Atoi(parts[0])
			if len(parts) > 1 {
				c.minor, _ = strconv.Atoi(parts[1])
			}
		}
	}
	return c.major, c.minor, c.versionErr == nil
}

// missing says which privileges the token lacks for building t and
// swapping it in (doctor.BuildMissing: the table doctor reports), by
// path ("" for none). It reads the privileges and PVE's version once.
func (c *inspection) missing(t state.Template, d *state.Desired, guests []state.Guest, root string) string {
	if !c.permsRead {
		c.permsRead = true
		c.perms, c.permsErr = c.insp.Permissions(c.ctx)
		if c.permsErr != nil {
			c.log.WithError(c.permsErr).Warn("privileges not checked")
		}
	}
	if c.permsErr != nil {
		return ""
	}
	major, _, ok := c.version()
	if !ok {
		return "" // the privileges PVE checks depend on its version
	}
	return doctor.BuildMissing(c.perms, d.VMIDs, root, t, guests, major, d.Images...)
}
