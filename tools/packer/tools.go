//go:build tools

// Package tools pins the module tools/build.sh builds; it is never compiled.
package tools

import _ "github.com/hashicorp/packer"
