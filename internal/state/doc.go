// Package state owns what templated knows about the world, as plain values:
// the desired state people commit (desired/templates.yaml: Desired, Template,
// parsed and validated by Load/Parse), the observed state of a Proxmox
// cluster (Guest, GuestConfig), the stamp templated writes on the templates
// it builds (Stamp), and the journal of operations in flight.
//
// Nothing here talks to Proxmox or runs Packer; other packages fill these
// values and act on them.
package state
