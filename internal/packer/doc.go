// Package packer owns running the Packer binary: `packer build` of an
// assembled build directory (Runner.Build), `packer version` and
// `packer plugins installed` (Runner.Version, Runner.PluginVersions), and
// reading the JSON file Packer's manifest post-processor writes
// (ReadManifest).
//
// A build runs `packer build -machine-readable -color=false` in its own
// process group. The machine-readable lines are parsed for the artifact ID
// and the errors Packer reports, and turned back into readable text, streamed
// line by line with the template's name as prefix. Only the last 64 KiB of
// output is kept in memory (Result.Tail).
//
// When the context ends or the build's timeout expires, the whole process
// group gets SIGINT (as a terminal's Ctrl-C would), so that Packer can
// delete the VM it was building; after Runner.KillGrace the group gets
// SIGKILL. Whatever is left of the group after Packer exits is killed too.
// If templated itself dies (kill -9), Packer gets SIGTERM (Pdeathsig) and
// keeps a reader on its output pipes, so it cancels its build cleanly
// instead of dying of SIGPIPE halfway. Failures come back as *BuildError.
//
// Secrets travel only in the environment (Build.Env): the argument list is
// checked for them before Packer starts, and values of secret-looking
// variables are redacted from the streamed output, Result.Tail and errors.
// What the workspace's HCL contains lives in the top-level packer/ directory,
// not here.
package packer
