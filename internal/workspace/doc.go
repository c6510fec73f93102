// Package workspace owns what templated knows about the Packer workspace
// (the top-level packer/ directory; packer/README.md is the contract):
// which files a template's build uses (Files), the digest of everything
// that decides a build's result (InputsHash), the build directory Packer
// runs in (Assemble, the Go twin of packer/assemble.sh), the variables
// and environment templated hands to Packer (BuildVars, BuildEnv), and the
// installer answer files of the OS directory's cd/, rendered as Packer
// would render them (RenderAnswers) so that templated can put them on a CD
// itself.
//
// Paths are relative to the workspace root, the directory holding shared/,
// linux/ and windows/ — as state.Template.Packer and VarFile are.
//
// Running Packer is package packer's business, making and uploading the
// answer CD package builder's; this package only reads, renders and
// copies files.
package workspace
