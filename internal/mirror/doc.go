// Package mirror owns a loopback stand-in for the OS vendors' download
// sites (cloud-images.ubuntu.com, dl.rockylinux.org, Microsoft's download
// server, fedorapeople.org), for `make demo` and for tests, so that nothing
// leaves loopback. It serves, under /<host>/<path>, the files a Catalog
// lists (the embedded default_catalog.yaml by default) and the vendors'
// checksum files that list them (Ubuntu's GNU SHA256SUMS, Rocky's BSD
// CHECKSUM with its "# NAME: N bytes" comments), with Content-Length,
// Last-Modified and ETag, answering conditional requests with 304. Mirrors
// gives the TEMPLATED_IMAGE_MIRRORS value that maps every vendor origin to
// the server; ParseMirrors and Rewrite read and apply such a value (what an
// air-gapped site sets to point templated at its internal mirror).
//
// A file's bytes are small (a few hundred KiB) and derived from its path
// and release: a qcow2 image (Ubuntu's .img is one) is a valid, empty QCOW2
// v3 image of the catalog's virtual size, so Proxmox (and the simulator)
// accept it; an ISO carries the ISO 9660 signature. Publish stands in for a
// vendor's new release: new bytes under the same name (Ubuntu) or a new
// versioned name (Rocky), the checksum file updated, validators changed.
// SetFault makes a file's downloads fail (404, a cut connection, corrupt
// bytes); Requests counts the GETs a file was served.
//
// Limitation: a stand-in cannot produce the vendors' bytes, so the digest of
// a file no checksum file lists (the Windows Server and virtio-win ISOs)
// differs from the checksum a desired file pins for it. PinnedChecksums
// gives those files' true checksums, for tests and the demo to write into
// their copy of the desired file.
package mirror
