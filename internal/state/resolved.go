package state

import (
	"path"
	"regexp"
	"strings"
)

// ResolvedImage is what is known now about one desired image: the file its
// checksum file names today and the digest Proxmox must verify. The session
// resolves it (fetching the vendor's checksum file, or taking the pinned
// checksum); the planner compares it with the images templates were built
// from.
type ResolvedImage struct {
	Name string // the desired image's name
	Kind string // ImageISO or ImageCloud
	// File is the upstream file name (a pattern's pick).
	File string
	// URL is the upstream URL with {file} filled in; FetchURL is what
	// Proxmox is asked to download (URL through the configured mirrors).
	URL      string
	FetchURL string
	// Checksum is "sha256:<hex>" or "sha512:<hex>", lower-case.
	Checksum string
	// Size is the byte count the checksum file states (0 when unknown).
	Size int64
	// SumsURL is the checksum file it came from ("" for a pinned one).
	SumsURL string
	// Storage and Nodes say where it must be.
	Storage string
	Nodes   []string
	// Format is a cloud image's disk format (qcow2, raw, vmdk).
	Format string
	// Err says why it could not be resolved ("" when it was); the other
	// fields but Name, Kind, Storage and Nodes are empty then.
	Err string
}

// Algorithm is the checksum's algorithm ("sha256").
func (r ResolvedImage) Algorithm() string {
	a, _, _ := strings.Cut(r.Checksum, ":")
	return a
}

// Digest is the checksum's hex digest.
func (r ResolvedImage) Digest() string {
	_, h, _ := strings.Cut(r.Checksum, ":")
	return h
}

// Content is the PVE storage content the image is kept as: iso for ISOs,
// import (PVE 8.3 and later) for cloud images.
func (r ResolvedImage) Content() string {
	if r.Kind == ImageCloud {
		return "import"
	}
	return "iso"
}

var unsafeVolChar = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// VolumeFile is the file name the image is stored under: the upstream
// name's stem, the digest's first 12 hex, and the extension PVE's content
// type wants (.iso or .img for iso, the disk format for import), so that a
// new release never overwrites the file templates were built from, and the
// same digest is never downloaded twice: "noble-server-cloudimg-amd64-
// 3f1c2e44a1b2.qcow2".
func (r ResolvedImage) VolumeFile() string {
	ext := strings.ToLower(path.Ext(r.File))
	stem := strings.TrimSuffix(r.File, path.Ext(r.File))
	if r.Kind == ImageCloud {
		ext = "." + r.Format
		if r.Format == "" {
			ext = ".qcow2"
		}
	} else if ext != ".iso" && ext != ".img" {
		ext = ".iso"
	}
	stem = unsafeVolChar.ReplaceAllString(stem, "_")
	return stem + "-" + ImageDigest(r.Checksum) + ext
}

// VolumeID is the image's volume id on its storage
// ("local:import/noble-server-cloudimg-amd64-3f1c2e44a1b2.qcow2").
func (r ResolvedImage) VolumeID() string {
	return r.Storage + ":" + r.Content() + "/" + r.VolumeFile()
}

// BaseName is the name of the base VM made from a cloud image: unique per
// image and digest, so that a clone by name is never ambiguous.
func (r ResolvedImage) BaseName() string {
	return "base-" + r.Name + "-" + ImageDigest(r.Checksum)
}
