// Package layering holds no code: its test keeps the dependency rules of
// docs/architecture.md, failing when a package imports (directly or not)
// one it must never depend on.
package layering
