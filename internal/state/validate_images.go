package state

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// checkImages finds problems between images and the templates that use
// them: names no image declares, an image of the wrong kind for the build,
// extra images on a clone build or listed twice, and clone templates with
// an image but no bases range. It gives each image that names no nodes
// those of its templates. An image no template uses and that names no
// nodes is allowed: it is resolved (plan shows it) and kept nowhere, so
// that taking a template out of the file leaves its image harmless.
func (p *parser) checkImages(rs ranges, images imageSet, entries []*entry) {
	users := map[*imageEntry]map[string]bool{} // image → nodes of its templates
	use := func(ie *imageEntry, node string) {
		if users[ie] == nil {
			users[ie] = map[string]bool{}
		}
		if node != "" {
			users[ie][node] = true
		}
	}
	needBases := false
	for _, e := range entries {
		if e.image != nil {
			if ie := p.imageRef(images, e.image.Value, e.image, e.path+".image"); ie != nil {
				p.checkImageKind(e, ie)
				use(ie, e.t.Node)
			}
			needBases = needBases || (e.buildOK && e.t.Build == BuildClone)
		}
		p.checkExtraImages(e, images, use)
	}
	for _, ie := range images.list {
		if ie.nodesWritten || images.byName[ie.im.Name] != ie {
			continue // a duplicate or unnamed entry is refused already
		}
		for n := range users[ie] {
			ie.im.Nodes = append(ie.im.Nodes, n)
		}
		slices.Sort(ie.im.Nodes)
	}
	if bases := rs.r[rangeBases]; needBases && bases.at == nil && rs.at != nil {
		p.addf(rs.at, bases.key, "clone templates with an image need vmids.bases: a range for their base VMs")
	}
}

// imageRef looks up the image a template names at field, recording a
// problem when no image declares it.
func (p *parser) imageRef(images imageSet, name string, at *yaml.Node, field string) *imageEntry {
	ie, ok := images.byName[name]
	if !ok && images.complete {
		p.addf(at, field, "%s names no image declared in images", quote(name))
	}
	return ie
}

// checkImageKind checks that a template's image is of the kind its build
// starts from: an iso for build iso, a cloud-image for build clone.
func (p *parser) checkImageKind(e *entry, ie *imageEntry) {
	if !ie.kindOK || !e.buildOK {
		return
	}
	want, what := ImageCloud, "a cloud-image (made into its base VM)"
	if e.t.Build == BuildISO {
		want, what = ImageISO, "an iso image (the installer)"
	}
	if ie.im.Kind != want {
		p.addf(e.image, e.path+".image", "%s is %s, but build %s starts from %s",
			ie.im.Name, article(ie.im.Kind), e.t.Build, what)
	}
}

// checkExtraImages checks a template's extra_images: iso builds only, each
// a declared iso image, listed once and not the template's image.
func (p *parser) checkExtraImages(e *entry, images imageSet, use func(*imageEntry, string)) {
	if e.extras == nil {
		return
	}
	field := e.path + ".extra_images"
	if e.buildOK && e.t.Build != BuildISO {
		p.addf(e.extras, field, "only iso builds attach extra images; this template's build is %s", e.t.Build)
	}
	seen := map[string]int{}
	for j, name := range e.t.ExtraImages {
		at, f := e.extraAt[j], fmt.Sprintf("%s[%d]", field, j)
		if first, dup := seen[name]; dup {
			p.addf(at, f, "%s is already listed at %s[%d]", quote(name), field, first)
			continue
		}
		seen[name] = j
		if e.image != nil && name == e.t.Image {
			p.addf(at, f, "%s is already the template's image", quote(name))
			continue
		}
		ie := p.imageRef(images, name, at, f)
		if ie == nil {
			continue
		}
		if ie.kindOK && ie.im.Kind != ImageISO {
			p.addf(at, f, "%s is %s; extra images are iso images (drivers, tools)", name, article(ie.im.Kind))
		}
		use(ie, e.t.Node)
	}
}

// article puts "a" or "an" before an image kind.
func article(kind string) string {
	if kind == ImageISO {
		return "an " + kind
	}
	return "a " + kind
}
