// Package state owns templated's model of the world, as plain values: the
// desired state people commit (desired/templates.yaml: Desired, Image,
// Template and the Replica of a template kept on another node, parsed and
// validated by Parse from bytes), the observed state of a Proxmox cluster
// (Guest, GuestConfig, Hold), the stamp templated writes on the templates
// it builds (Stamp), and PVE's tag format (NormalizeTags).
//
// Nothing here does I/O: Parse asks a Workspace whether the Packer files a
// template names exist (workspace.LoadDesired reads the file and answers
// from the file system), other packages fill the observed values, and the
// journal of operations in flight is package journal's.
package state
