// Package image owns how templated learns which bytes an OS image (an
// installer ISO or a cloud image) must have: a Checksum pinned in the
// desired file ("sha256:<hex>", "sha512:<hex>"), or one read from the
// vendor's checksum file (Ubuntu's and Debian's SHA256SUMS/SHA512SUMS,
// Rocky's and Fedora's CHECKSUM), which the control node fetches, caches on
// disk and revalidates itself, so that a vendor's new release becomes a plan
// change. It parses those files (GNU and BSD layouts, a PGP clear-signed
// wrapper), finds an image in them by exact name or by a pattern that picks
// the highest version, and fetches them politely (conditional requests, a
// minimum interval per URL, one request for concurrent callers, a bounded
// body). It neither downloads images nor verifies PGP signatures.
package image
