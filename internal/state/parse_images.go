package state

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// imageEntry is one image as read, with where it was written, for the
// checks against the templates that use it.
type imageEntry struct {
	im   Image
	path string     // "images[1]"
	at   *yaml.Node // the entry
	// kindOK says Kind is one of the kinds; nodesWritten that the entry
	// wrote nodes (valid or not), so they are not defaulted.
	kindOK       bool
	nodesWritten bool
}

// imageSet is the images section as read.
type imageSet struct {
	list   []*imageEntry
	byName map[string]*imageEntry
	// complete says every entry was read with its name, so a name not in
	// byName is not declared (rather than hidden by another problem).
	complete bool
}

var imageNameSyntax = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// imageNameFormat describes imageNameSyntax, for messages.
const imageNameFormat = "an image name (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters)"

// fileVar is what an image's url writes for its file name.
const fileVar = "{file}"

// readImages reads the images section. isoStorage is where images are kept
// when they do not say.
func (p *parser) readImages(root *mapping, isoStorage string) imageSet {
	set := imageSet{byName: map[string]*imageEntry{}, complete: true}
	v, ok := root.vals["images"]
	if !ok {
		set.complete = !root.has("images") // written, but not a list
		return set
	}
	for i, item := range v.n.Content {
		ie, name := p.readImage(i, item, isoStorage)
		if ie == nil || name == nil {
			set.complete = false
		}
		if ie == nil {
			continue
		}
		set.list = append(set.list, ie)
		if name == nil {
			continue
		}
		if first, dup := set.byName[ie.im.Name]; !dup {
			set.byName[ie.im.Name] = ie
		} else if imageNameSyntax.MatchString(ie.im.Name) {
			p.addf(name, ie.path+".name", "%s is already used by %s (line %d)", ie.im.Name, first.path, first.im.Line)
		}
	}
	return set
}

// readImage reads images[i]. It returns nil when the item is not a
// mapping, and the name's node when the entry wrote a name as a string.
func (p *parser) readImage(i int, at *yaml.Node, isoStorage string) (*imageEntry, *yaml.Node) {
	path := fmt.Sprintf("images[%d]", i)
	n := resolve(at)
	if !p.checkType(value{at: at, n: n}, path, typeObject) {
		return nil, nil
	}
	m := p.readMapping(at, n, path, imageFields)
	ie := &imageEntry{path: path, at: at, nodesWritten: m.has("nodes")}
	ie.im.Line = at.Line
	field := func(key string) string { return joinField(path, key) }

	var name *yaml.Node
	if v, ok := m.vals["name"]; ok {
		ie.im.Name, name = v.n.Value, v.at
		p.checkValue(v, field("name"), mustMatch(imageNameSyntax, v.n.Value, imageNameFormat))
	}
	if v, ok := m.vals["kind"]; ok {
		ie.im.Kind = v.n.Value
		ie.kindOK = p.checkValue(v, field("kind"), oneOf(v.n.Value, ImageISO, ImageCloud))
	}
	iso := ie.kindOK && ie.im.Kind == ImageISO
	cloud := ie.kindOK && ie.im.Kind == ImageCloud

	p.readImageSource(ie, m, iso)

	if v, ok := m.vals["format"]; ok {
		ie.im.Format = v.n.Value
		if iso {
			p.addf(v.at, field("format"), "only a cloud-image has a format; an iso is kept as it is")
		} else {
			p.checkValue(v, field("format"), oneOf(v.n.Value, imageFormats...))
		}
	} else if cloud {
		ie.im.Format = imageFormats[0]
	}

	ie.im.Storage = isoStorage
	if v, ok := m.vals["storage"]; ok {
		ie.im.Storage = v.n.Value
		p.checkValue(v, field("storage"), mustMatch(storageID, v.n.Value, storageIDFormat))
	}
	if v, ok := m.vals["nodes"]; ok {
		if len(v.n.Content) == 0 {
			p.addf(v.at, field("nodes"), "names no node; leave nodes out to use the nodes of the templates that use the image")
		}
		ie.im.Nodes, _ = p.readNodeList(v, field("nodes"))
	}
	return ie, name
}

// readImageSource reads where an image comes from and how it is checked:
// url, checksum or checksum_url, and file (iso: the image is an iso).
func (p *parser) readImageSource(ie *imageEntry, m *mapping, iso bool) {
	field := func(key string) string { return joinField(ie.path, key) }
	urlVal, urlOK := m.vals["url"]
	if urlOK {
		ie.im.URL = urlVal.n.Value
		urlOK = p.checkValue(urlVal, field("url"), checkImageURL(ie.im.URL, true))
	}
	sumVal, hasSum := m.vals["checksum"]
	if hasSum {
		sum, err := parseChecksum(sumVal.n.Value)
		ie.im.Checksum = sum
		p.checkValue(sumVal, field("checksum"), err)
	}
	sumURLVal, hasSumURL := m.vals["checksum_url"]
	if hasSumURL {
		ie.im.ChecksumURL = sumURLVal.n.Value
		p.checkValue(sumURLVal, field("checksum_url"), checkImageURL(ie.im.ChecksumURL, false))
	}
	switch {
	case hasSum && hasSumURL:
		p.addf(sumURLVal.at, field("checksum_url"), "set checksum or checksum_url, not both")
	case !m.has("checksum") && !m.has("checksum_url"):
		p.addf(ie.at, ie.path, "needs checksum (a pinned sha256:/sha512: digest) or checksum_url (the vendor's checksum file)")
	}

	if v, ok := m.vals["file"]; ok {
		ie.im.File = v.n.Value
		p.checkValue(v, field("file"), checkImageFile(v.n.Value, iso, hasSum && !m.has("checksum_url")))
	} else if !m.has("file") {
		switch {
		case m.has("checksum_url"):
			p.addf(ie.at, field("file"), "required with checksum_url: the file name, or a pattern, to look up in the checksum file")
		case strings.Contains(ie.im.URL, fileVar):
			p.addf(ie.at, field("file"), "required when url contains %s", fileVar)
		case urlOK && m.has("checksum"):
			ie.im.File = lastPathElement(ie.im.URL)
			p.checkValue(urlVal, field("url"), fileFromURL(ie.im.File, iso))
		}
	}
}

// listItem is where one item of a list was written.
type listItem struct {
	at    *yaml.Node
	field string // "templates[0].replicas[1]"
}

// readNodeList reads a list of node names, each valid and listed once. It
// returns the valid ones and where each was written.
func (p *parser) readNodeList(v value, field string) ([]string, []listItem) {
	var nodes []string
	var items []listItem
	seen := map[string]int{}
	for j, item := range v.n.Content {
		f := fmt.Sprintf("%s[%d]", field, j)
		iv := value{at: item, n: resolve(item)}
		if !p.checkType(iv, f, typeString) {
			continue
		}
		s := iv.n.Value
		if err := mustMatch(nodeName, s, nodeNameFormat); err != nil {
			p.addf(iv.at, f, "%v", err)
			continue
		}
		if first, dup := seen[s]; dup {
			p.addf(iv.at, f, "%s is already listed at %s[%d]", s, field, first)
			continue
		}
		seen[s] = j
		nodes, items = append(nodes, s), append(items, listItem{at: iv.at, field: f})
	}
	return nodes, items
}

// checkValue records err, if any, as a problem with v at field, and
// reports whether there was none.
func (p *parser) checkValue(v value, field string, err error) bool {
	if err != nil {
		p.addf(v.at, field, "%v", err)
	}
	return err == nil
}

// oneOf checks that s is one of the allowed values.
func oneOf(s string, allowed ...string) error {
	if slices.Contains(allowed, s) {
		return nil
	}
	alts := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	return fmt.Errorf("must be %s, got %s", alts, quote(s))
}
