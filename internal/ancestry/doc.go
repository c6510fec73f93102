// Package ancestry works out which guests were cloned from which template
// build. Proxmox copies a template's config into every clone, tags and
// description included, so a clone carries the stamp of the build it came
// from; linked clones also name the template's base volume. ancestry
// reads both from what plan already observed and says, per template,
// which guests came from its current build, which from older builds (and
// how far behind they are), and which are linked clones whose stamp was
// edited away. It does no I/O and never acts on a clone.
package ancestry
