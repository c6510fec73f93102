// Package workspace owns what templated knows about the Packer workspace
// (the top-level packer/ directory; packer/README.md is the contract):
// which files a template's build uses (Files), the digest of everything
// that decides a build's result (InputsHash), the build directory Packer
// runs in (Assemble, the Go twin of packer/assemble.sh), and the variables
// and environment templated hands to Packer (BuildVars, BuildEnv).
//
// Paths are relative to the workspace root, the directory holding shared/,
// linux/ and windows/ — as state.Template.Packer and VarFile are.
//
// Running Packer is package packer's business; this package only reads and
// copies files.
package workspace
