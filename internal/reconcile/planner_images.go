package reconcile

import (
	"fmt"
	"net/url"
	"strings"

	"templated/internal/plan"
	"templated/internal/state"
)

// The planner's part of images: which images a template uses and what they
// resolve to now, whether a template was built from them, what blocks a
// build whose image cannot be resolved, and what the plan says about each
// desired image. None of it runs when the observation carries no images.

// imageNames returns the images a build of t uses: its image first, then
// its extra images, each once.
func imageNames(t state.Template) []string {
	var names []string
	seen := map[string]bool{}
	for _, n := range append([]string{t.Image}, t.ExtraImages...) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names
}

// lookupImage returns what image name resolved to, and why it did not
// ("" when it did).
func lookupImage(images map[string]state.ResolvedImage, name string) (state.ResolvedImage, string) {
	r, ok := images[name]
	switch {
	case !ok:
		return state.ResolvedImage{Name: name}, "not resolved"
	case r.Err != "":
		return r, r.Err
	}
	return r, ""
}

// imageUpdated returns an image-updated reason for each image of t that
// resolved to a digest the template's stamp does not carry.
func imageUpdated(t state.Template, s state.Stamp, images map[string]state.ResolvedImage) []plan.Reason {
	if images == nil {
		return nil
	}
	var reasons []plan.Reason
	for _, name := range imageNames(t) {
		r, why := lookupImage(images, name)
		if why != "" || s.HasImage(r.Checksum) {
			continue
		}
		reasons = append(reasons, plan.Reason{Code: plan.ReasonImageUpdated,
			Message: fmt.Sprintf("image %s is now %s (%s); the template was built from %s", name, r.File, plan.ShortChecksum(r.Checksum), builtFrom(t, s, images))})
	}
	return reasons
}

// builtFrom names the digests a stamp carries that none of t's images
// resolves to now (all of them if each matches one), or says it has none.
func builtFrom(t state.Template, s state.Stamp, images map[string]state.ResolvedImage) string {
	if len(s.Images) == 0 {
		return "no declared image"
	}
	var stale, all []string
	for _, c := range s.Images {
		all = append(all, plan.ShortChecksum(c))
		current := false
		for _, name := range imageNames(t) {
			if r, why := lookupImage(images, name); why == "" && state.ImageDigest(r.Checksum) == state.ImageDigest(c) {
				current = true
			}
		}
		if !current {
			stale = append(stale, plan.ShortChecksum(c))
		}
	}
	if len(stale) == 0 {
		stale = all
	}
	return strings.Join(stale, ", ")
}

// withImages adds to a what the images of t resolve to now; a create or
// rebuild that needs an image that did not resolve is blocked, and a keep
// says it could not look for a newer release.
func withImages(a plan.Action, t state.Template, images map[string]state.ResolvedImage) plan.Action {
	var unresolved []plan.Reason
	var unknown []string
	for _, name := range imageNames(t) {
		r, why := lookupImage(images, name)
		a.Images = append(a.Images, plan.ImageUse{Name: name, File: r.File, Checksum: r.Checksum})
		if why != "" {
			unresolved = append(unresolved, plan.Reason{Code: plan.ReasonImageUnresolved,
				Message: fmt.Sprintf("image %s: %s; the build waits until it resolves", name, why)})
			unknown = append(unknown, fmt.Sprintf("image %s could not be resolved (%s), so a newer release of it is not known", name, why))
		}
	}
	switch {
	case len(unresolved) == 0:
	case a.Kind.Changes():
		a = blockWith(a, unresolved)
	case a.Kind == plan.Keep:
		reasons := append([]plan.Reason(nil), a.Reasons...)
		reasons[0].Message += "; " + strings.Join(unknown, "; ")
		a.Reasons = reasons
	}
	return a
}

// planImages says, for each desired image in the file's order, what it
// resolves to, whether a stamped guest was ever built from that digest, and
// which of the plan's builds use it. It is nil when the observation carries
// no images or the file declares none.
func planImages(d *state.Desired, obs state.Observed, actions []plan.Action) []plan.ImageAction {
	if obs.Images == nil || len(d.Images) == 0 {
		return nil
	}
	built := map[string]bool{}
	for _, g := range obs.Guests {
		// Templates, previous versions and bases; a clone carries its
		// template's tags but was not built from anything.
		if s, ok := state.StampFromTags(g.Tags); ok && g.Template {
			for _, c := range s.Images {
				built[state.ImageDigest(c)] = true
			}
		}
	}
	users := map[string][]string{}
	for i, t := range d.Templates {
		if i < len(actions) && actions[i].Kind.Changes() {
			for _, name := range imageNames(t) {
				users[name] = append(users[name], t.Name)
			}
		}
	}
	out := make([]plan.ImageAction, 0, len(d.Images))
	for _, im := range d.Images {
		r, why := lookupImage(obs.Images, im.Name)
		nodes := r.Nodes
		if len(nodes) == 0 {
			nodes = im.Nodes
		}
		ia := plan.ImageAction{Name: im.Name, Kind: im.Kind, Nodes: append([]string{}, nodes...), Templates: users[im.Name], Error: why}
		if why == "" {
			ia.File, ia.Checksum, ia.URL, ia.Volume = r.File, r.Checksum, publicURL(r.URL), r.VolumeID()
			ia.New = !built[state.ImageDigest(r.Checksum)]
			if im.Kind == state.ImageCloud {
				ia.Base = r.BaseName()
			}
		}
		out = append(out, ia)
	}
	return out
}

// publicURL returns raw without credentials, query or fragment; "" when it
// does not parse (it could not be shown safely).
func publicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}
