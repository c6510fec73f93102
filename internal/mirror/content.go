package mirror

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
)

// QCOW2 layout of a generated image: a header cluster, a refcount table, a
// refcount block and an L1 table, all unallocated (the disk reads as
// zeros), which qemu-img accepts as a valid image of the header's size.
const (
	clusterBits       = 16
	clusterSize       = 1 << clusterBits
	qcow2MetaClusters = 4
	qcow2HeaderLen    = 104 // a version 3 header without extensions
)

// ISO 9660 layout: the system area (16 sectors), then the primary volume
// descriptor and the set terminator.
const (
	isoSector     = 2048
	isoPVD        = 16 * isoSector
	isoMinSize    = isoPVD + 2*isoSector
	isoIdentifier = "CD001"
)

// content returns f's bytes: pseudo-random from a seed of its URL and
// release, under the kind's structures.
func content(f File) []byte {
	seed := sha256.Sum256([]byte(f.URL + "\x00" + f.Release))
	b := make([]byte, f.Size)
	_, _ = rand.NewChaCha8(seed).Read(b)
	switch f.Kind {
	case KindQCOW2:
		writeQCOW2(b, f.VirtualSize)
	case KindISO:
		writeISO(b, path.Base(f.URL))
	}
	return b
}

// writeQCOW2 writes the metadata of an empty QCOW2 v3 image of vsize bytes
// over the first four clusters of b; the rest of the header cluster and
// of the L1 table's cluster, and any later cluster, keep their noise
// (qemu reads none of it).
func writeQCOW2(b []byte, vsize int64) {
	be := binary.BigEndian
	clear(b[:512])
	copy(b, "QFI\xfb")
	be.PutUint32(b[4:], 3)            // version
	be.PutUint64(b[8:], 0)            // backing_file_offset: none
	be.PutUint32(b[20:], clusterBits) // cluster_bits
	be.PutUint64(b[24:], uint64(vsize))
	l2Covers := int64(clusterSize) * (clusterSize / 8)
	l1Size := (vsize + l2Covers - 1) / l2Covers
	be.PutUint32(b[36:], uint32(l1Size))
	be.PutUint64(b[40:], 3*clusterSize) // l1_table_offset
	be.PutUint64(b[48:], 1*clusterSize) // refcount_table_offset
	be.PutUint32(b[56:], 1)             // refcount_table_clusters
	be.PutUint32(b[96:], 4)             // refcount_order: 16-bit refcounts
	be.PutUint32(b[100:], qcow2HeaderLen)
	// Bytes 104-111 stay zero: the end of the header extensions.

	table := b[clusterSize : 2*clusterSize]
	clear(table)
	be.PutUint64(table, 2*clusterSize)
	block := b[2*clusterSize : 3*clusterSize]
	clear(block)
	for i := range qcow2MetaClusters {
		be.PutUint16(block[2*i:], 1)
	}
	clear(b[3*clusterSize : 3*clusterSize+8*l1Size])
}

// writeISO writes a primary volume descriptor and a set terminator at
// sectors 16 and 17 of b, so that the ISO 9660 signature "CD001" sits at
// byte 32769 as file(1) and libblkid look for it.
func writeISO(b []byte, name string) {
	pvd := b[isoPVD : isoPVD+isoSector]
	clear(pvd)
	pvd[0], pvd[6] = 1, 1 // type: primary; version
	copy(pvd[1:], isoIdentifier)
	copy(pvd[8:40], pad(""))
	copy(pvd[40:72], pad(volumeID(name)))
	blocks := uint32(len(b) / isoSector)
	binary.LittleEndian.PutUint32(pvd[80:], blocks)
	binary.BigEndian.PutUint32(pvd[84:], blocks)
	binary.LittleEndian.PutUint16(pvd[128:], isoSector)
	binary.BigEndian.PutUint16(pvd[130:], isoSector)
	term := b[isoPVD+isoSector : isoPVD+2*isoSector]
	clear(term)
	term[0], term[6] = 255, 1
	copy(term[1:], isoIdentifier)
}

// volumeID is a name in ISO 9660's d-characters (A-Z, 0-9, _), at most 32.
func volumeID(name string) string {
	name = strings.ToUpper(strings.TrimSuffix(name, path.Ext(name)))
	id := []byte(name)
	for i, c := range id {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			id[i] = '_'
		}
	}
	return string(id[:min(len(id), 32)])
}

// pad fills a 32-byte field with spaces after s.
func pad(s string) string { return fmt.Sprintf("%-32s", s) }

// sumEntry is one line of a checksum file.
type sumEntry struct {
	name, hex string
	size      int64
}

// renderSums writes a checksum file of entries (in their order) in the
// vendor's format.
func renderSums(format string, entries []sumEntry) []byte {
	var b strings.Builder
	for _, e := range entries {
		switch format {
		case FormatBSD:
			fmt.Fprintf(&b, "# %s: %d bytes\nSHA256 (%s) = %s\n", e.name, e.size, e.name, e.hex)
		default:
			fmt.Fprintf(&b, "%s *%s\n", e.hex, e.name)
		}
	}
	return []byte(b.String())
}
