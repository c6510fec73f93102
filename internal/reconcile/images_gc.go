package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"templated/internal/state"
)

// Event kinds of superseded images removed.
const (
	EventImageRemove = "image.remove"      // a superseded image volume was deleted
	EventBaseRemove  = "image.base.remove" // a superseded base VM was deleted
)

// collectImages removes what a new image release superseded, once no
// template needs it: the volumes this installation downloaded (its
// inventory; never a file uploaded by hand) and its base VMs, whose digest
// is not the one the image resolves to now and that no template, staged
// build or previous version kept for rollback was built from. An image
// that did not resolve is left alone (which digest is current is
// unknown), as is one no longer in the desired file. Failures are logged
// and retried by the next run.
func (e *Executor) collectImages(ctx context.Context) {
	if e.Images == nil || len(e.Resolved) == 0 {
		return
	}
	log := e.log().WithField("step", "image-gc")
	guests, err := e.Cluster.ListGuests(ctx)
	if err != nil {
		log.WithError(err).Warn("superseded images not collected")
		return
	}
	// 12-hex digests templated's templates (current, previous, staged)
	// were built from. Clones carry their template's tags too, but they
	// are copies: they need neither the image nor the base.
	carried := map[string]bool{}
	for _, g := range guests {
		if s, ok := state.StampFromTags(g.Tags); ok && s.Role != state.RoleBase && g.Template {
			for _, c := range s.Images {
				carried[state.ImageDigest(c)] = true
			}
		}
	}
	superseded := func(image, checksum string) bool {
		r, ok := e.Resolved[image]
		if !ok || r.Err != "" || r.Checksum == "" {
			return false
		}
		d := state.ImageDigest(checksum)
		return d != state.ImageDigest(r.Checksum) && !carried[d]
	}

	inv, err := e.Journal.ImageVolumes()
	if err != nil {
		log.WithError(err).Warn("superseded images not collected")
		return
	}
	present := map[string][]string{} // node/storage/content → volumes
	for _, v := range inv {
		if !superseded(v.Image, v.Checksum) {
			continue
		}
		storage, rest, _ := strings.Cut(v.Volume, ":")
		content, _, _ := strings.Cut(rest, "/")
		key := v.Node + "/" + storage + "/" + content
		if _, ok := present[key]; !ok {
			vols, err := e.Images.Volumes(ctx, v.Node, storage, content)
			if err != nil {
				log.WithError(err).WithField("node", v.Node).Warn("superseded images not collected")
				continue
			}
			present[key] = vols
		}
		if slices.Contains(present[key], v.Volume) {
			err := e.Images.DeleteVolume(ctx, v.Node, v.Volume)
			e.recordRemoval(ctx, log, Event{Kind: EventImageRemove, Image: v.Image, Node: v.Node,
				Detail: fmt.Sprintf("%s (%s), superseded by %s", v.Volume, v.Checksum, e.Resolved[v.Image].Checksum)}, err)
			if err != nil {
				continue
			}
		}
		if err := e.Journal.RemoveImageVolume(v.Node, v.Volume); err != nil {
			log.WithError(err).Warn("update the image inventory")
		}
	}

	for _, g := range guests {
		s, ok := state.StampFromTags(g.Tags)
		if !ok || s.Role != state.RoleBase || s.Installation != e.Installation || e.Installation == "" || len(s.Images) != 1 || !g.Template || g.Lock != "" {
			continue
		}
		image := baseImage(g.Name, s.Images[0], e.Resolved)
		if image == "" || !superseded(image, s.Images[0]) {
			continue
		}
		err := e.Cluster.Delete(ctx, g.Node, g.VMID)
		e.recordRemoval(ctx, log, Event{Kind: EventBaseRemove, Image: image, Node: g.Node, VMID: g.VMID,
			Detail: fmt.Sprintf("%s (%s), superseded by %s", g.Name, s.Images[0], e.Resolved[image].Checksum)}, err)
	}
}

// baseImage returns the desired image a base VM named name
// ("base-<image>-<12 hex>") was made from, "" when none.
func baseImage(name, checksum string, resolved map[string]state.ResolvedImage) string {
	for img := range resolved {
		if name == "base-"+img+"-"+state.ImageDigest(checksum) {
			return img
		}
	}
	return ""
}

func (e *Executor) recordRemoval(ctx context.Context, log logrus.FieldLogger, ev Event, err error) {
	ev.Result = "success"
	if err != nil {
		ev.Result, ev.Error = "failure", err.Error()
		log.WithError(err).WithField("image", ev.Image).Warn("remove superseded image; the next run tries again")
	} else {
		log.WithFields(logrus.Fields{"image": ev.Image, "detail": ev.Detail}).Info("removed superseded image")
	}
	if rerr := e.Recorder.Event(context.WithoutCancel(ctx), ev); rerr != nil {
		log.WithError(rerr).Error("record image removal")
	}
}
