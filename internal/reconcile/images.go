package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"templated/internal/journal"

	"github.com/sirupsen/logrus"

	"templated/internal/plan"
	"templated/internal/state"
)

// ImageStore makes desired images present on the cluster. Implementation:
// session's adapter over proxmox.Client; tests use proxmoxfake through the
// same adapter.
type ImageStore interface {
	// Volumes lists the volume ids of one content type ("iso",
	// "import") on node's storage.
	Volumes(ctx context.Context, node, storage, content string) ([]string, error)
	// Download has node download r into its storage, verifying r's
	// checksum, and waits for the task. The task's log is returned also
	// when the task failed.
	Download(ctx context.Context, node string, r state.ResolvedImage) ([]string, error)
	// CreateBase makes the base VM for cloud image r at vmid on node
	// (boot disk imported from r's volume onto storage), named
	// r.BaseName(), stamped with s, converted to a template.
	CreateBase(ctx context.Context, node string, vmid int, storage string, r state.ResolvedImage, s state.Stamp) error
	// DeleteVolume removes a volume templated downloaded.
	DeleteVolume(ctx context.Context, node, volid string) error
}

// prepared is what a build gets from its images: the resolved images,
// made present on its node, and the base VM a clone build starts from.
type prepared struct {
	images []state.ResolvedImage
	base   string
}

// checksums returns the images' checksums, for the stamp.
func (p prepared) checksums() []string {
	var out []string
	for _, r := range p.images {
		out = append(out, r.Checksum)
	}
	return out
}

// imageFlight is one image (or base VM) made present on one node, shared
// by every build of the run that needs it.
type imageFlight struct {
	done chan struct{}
	err  error
}

// prepareImages makes t's images present on its node, and for a clone
// build from a cloud image its base VM, and returns them for the build.
// Builds of one run share the work: an image is downloaded once per node,
// and a failure fails every build that needs it without touching any
// template. It acts only on what the plan decided: the resolved checksum
// must be the plan's.
func (e *Executor) prepareImages(ctx context.Context, d *state.Desired, t state.Template, a plan.Action) (prepared, error) {
	var p prepared
	names := t.ExtraImages
	if t.Image != "" {
		names = append([]string{t.Image}, names...)
	}
	if len(names) == 0 {
		return p, nil
	}
	if e.Images == nil {
		return p, errors.New("no image store is configured")
	}
	planned := map[string]string{}
	for _, u := range a.Images {
		planned[u.Name] = u.Checksum
	}
	for _, name := range names {
		r, ok := e.Resolved[name]
		switch {
		case !ok || r.Err != "":
			return p, fmt.Errorf("image %s is not resolved", name)
		case r.Checksum != planned[name]:
			return p, fmt.Errorf("image %s resolved to %s, not the plan's %q; the next run plans again", name, r.Checksum, planned[name])
		}
		if err := e.shared(ctx, "image "+name+" on "+t.Node, func(ctx context.Context) error {
			return e.fetchImage(ctx, t.Node, r)
		}); err != nil {
			return p, err
		}
		p.images = append(p.images, r)
	}
	if first := p.images[0]; first.Kind == state.ImageCloud && t.Build == state.BuildClone {
		if err := e.shared(ctx, "base "+first.BaseName()+" on "+t.Node, func(ctx context.Context) error {
			return e.ensureBase(ctx, d, t, first)
		}); err != nil {
			return p, err
		}
		p.base = first.BaseName()
	}
	return p, nil
}

// shared runs fn once per key for the whole run; later callers wait for
// the first one's result.
func (e *Executor) shared(ctx context.Context, key string, fn func(context.Context) error) error {
	e.mu.Lock()
	if e.flights == nil {
		e.flights = map[string]*imageFlight{}
	}
	f, running := e.flights[key]
	if !running {
		f = &imageFlight{done: make(chan struct{})}
		e.flights[key] = f
	}
	e.mu.Unlock()
	if !running {
		f.err = fn(ctx)
		close(f.done)
		return f.err
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetchImage has node download r unless its volume is there already, and
// records the download with the node's task log.
func (e *Executor) fetchImage(ctx context.Context, node string, r state.ResolvedImage) error {
	log := e.log().WithFields(logrus.Fields{"image": r.Name, "node": node, "volume": r.VolumeID()})
	vols, err := e.Images.Volumes(ctx, node, r.Storage, r.Content())
	if err != nil {
		return fmt.Errorf("image %s on %s: %w", r.Name, node, err)
	}
	if slices.Contains(vols, r.VolumeID()) {
		log.Debug("image present")
		return nil
	}
	start := e.now()
	// Known before it exists: a crash mid-download leaves a volume the
	// inventory names, which clean-up may remove once superseded.
	if err := e.Journal.AddImageVolume(journal.ImageVolume{Node: node, Volume: r.VolumeID(), Image: r.Name,
		Checksum: r.Checksum, Added: start.UTC()}); err != nil {
		return fmt.Errorf("image %s on %s: %w", r.Name, node, err)
	}
	e.imageProgress(r.Name, start, "downloading %s (%s) to %s on %s", r.File, shortChecksum(r.Checksum), r.VolumeID(), node)
	lines, err := e.Images.Download(ctx, node, r)
	ev := Event{Kind: EventImageFetch, Image: r.Name, Node: node, Result: "success", Log: lines,
		Detail: fmt.Sprintf("%s %s from %s to %s", r.File, r.Checksum, r.URL, r.VolumeID())}
	if err != nil {
		ev.Result, ev.Error = "failure", err.Error()
	}
	if rerr := e.Recorder.Event(context.WithoutCancel(ctx), ev); rerr != nil {
		log.WithError(rerr).Error("record image download")
		if err == nil {
			err = fmt.Errorf("record download: %w", rerr)
		}
	}
	if err != nil {
		e.imageProgress(r.Name, start, "download failed: %v", err)
		return fmt.Errorf("image %s on %s: %w", r.Name, node, err)
	}
	log.Info("image downloaded and verified by the node")
	e.imageProgress(r.Name, start, "downloaded and verified")
	return nil
}

// ensureBase makes the base VM for cloud image r on t's node unless one
// is there. A base VM of this installation left half-made (by a crash
// during its creation) is removed first.
func (e *Executor) ensureBase(ctx context.Context, d *state.Desired, t state.Template, r state.ResolvedImage) error {
	name := r.BaseName()
	guests, err := e.Cluster.ListGuests(ctx)
	if err != nil {
		return fmt.Errorf("base %s: list guests: %w", name, err)
	}
	for _, g := range guests {
		if g.Name != name {
			continue
		}
		s, owned := state.StampFromTags(g.Tags)
		switch {
		case g.Template && g.Node == t.Node:
			return nil
		case g.Template:
			continue // a base on another node serves that node's builds
		case owned && s.Role == state.RoleBase && s.Installation == e.Installation && g.Lock == "":
			if err := e.Cluster.Delete(ctx, g.Node, g.VMID); err != nil {
				return fmt.Errorf("base %s: remove the half-made VM %d: %w", name, g.VMID, err)
			}
		default:
			return fmt.Errorf("base %s: VMID %d carries the name but is not a template templated can replace (%s)", name, g.VMID, orNone(g.Lock))
		}
	}
	if d.VMIDs.Bases.First == 0 {
		return fmt.Errorf("base %s: vmids.bases is not declared", name)
	}
	vmid, err := e.allocate(ctx, d.VMIDs.Bases)
	if err != nil {
		return fmt.Errorf("base %s: allocate a VMID: %w", name, err)
	}
	defer e.release(vmid)
	start := e.now()
	stamp := state.Stamp{Template: name, BuiltAt: start.UTC(), Commit: e.Commit, Role: state.RoleBase,
		Installation: e.Installation, Images: []string{r.Checksum}}
	e.imageProgress(r.Name, start, "creating base VM %s at %d on %s from %s", name, vmid, t.Node, r.VolumeID())
	err = e.Images.CreateBase(ctx, t.Node, vmid, t.Storage, r, stamp)
	ev := Event{Kind: EventImageBase, Image: r.Name, Node: t.Node, VMID: vmid, Result: "success",
		Detail: fmt.Sprintf("%s from %s (%s)", name, r.VolumeID(), r.Checksum)}
	if err != nil {
		ev.Result, ev.Error = "failure", err.Error()
	}
	if rerr := e.Recorder.Event(context.WithoutCancel(ctx), ev); rerr != nil && err == nil {
		err = fmt.Errorf("record: %w", rerr)
	}
	if err != nil {
		return fmt.Errorf("base %s: %w", name, err)
	}
	e.imageProgress(r.Name, start, "base VM %s ready at %d", name, vmid)
	return nil
}

func (e *Executor) imageProgress(image string, started time.Time, format string, args ...any) {
	e.progress("image "+image, "images", started, format, args...)
}

func shortChecksum(c string) string {
	alg, hex, _ := strings.Cut(c, ":")
	if len(hex) > 12 {
		hex = hex[:12] + "…"
	}
	return alg + ":" + hex
}

func orNone(s string) string {
	if s == "" {
		return "not a template"
	}
	return "locked: " + s
}
