#!/usr/bin/env bash
# tools/build.sh DIR — build the real Packer toolchain templated drives:
#   DIR/bin/packer          Packer v1.11.2          (tools/packer/go.mod)
#   DIR/plugins/...         packer-plugin-proxmox v1.1.1 (tools/plugin/go.mod),
#                           installed with `packer plugins install --path`
# Both are built from the Go module proxy with the go.sum committed here
# (-mod=readonly), so a fresh machine needs nothing but Go and the proxy.
# An existing, matching build is reused. Use DIR/bin on PATH and DIR/plugins
# as PACKER_PLUGIN_PATH (the top-level Makefile does).
set -euo pipefail

PACKER_VERSION=1.11.2
PLUGIN_VERSION=1.1.1
PLUGIN_SOURCE=github.com/hashicorp/proxmox

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1/bin" "$1/plugins" "$1/build"
dir=$(cd "$1" && pwd)

export CHECKPOINT_DISABLE=1          # Packer must not phone home
export PACKER_PLUGIN_PATH="$dir/plugins"
export GOFLAGS="-mod=readonly -trimpath"
export CGO_ENABLED=0
GO=${GO:-go}

# One build at a time per DIR (tests and people may run `make tools` at once).
exec 9>"$dir/.lock"
if command -v flock >/dev/null; then flock 9; fi

packer_ok() {
	[[ -x $dir/bin/packer ]] && [[ $("$dir/bin/packer" version 2>/dev/null | head -n1) == "Packer v$PACKER_VERSION" ]]
}
plugin_ok() {
	packer_ok && "$dir/bin/packer" plugins installed 2>/dev/null |
		grep -q "/$PLUGIN_SOURCE/packer-plugin-proxmox_v${PLUGIN_VERSION}_"
}

# gobuild MODULE_DIR PACKAGE OUT: build PACKAGE as pinned by MODULE_DIR's go.mod.
gobuild() {
	local start=$SECONDS
	echo "==> building $2 ($(basename "$1") tools module)"
	(cd "$1" && "$GO" build -o "$3.tmp" "$2")
	mv -f "$3.tmp" "$3"
	echo "    done in $((SECONDS - start))s"
}

if packer_ok; then
	echo "==> reusing $dir/bin/packer (v$PACKER_VERSION)"
else
	gobuild "$here/packer" github.com/hashicorp/packer "$dir/bin/packer"
	packer_ok || { echo "tools/build.sh: built packer does not report v$PACKER_VERSION" >&2; exit 1; }
fi

if plugin_ok; then
	echo "==> reusing packer-plugin-proxmox v$PLUGIN_VERSION in $dir/plugins"
else
	gobuild "$here/plugin" github.com/hashicorp/packer-plugin-proxmox "$dir/build/packer-plugin-proxmox"
	# --path installs a local binary: no download, no GitHub API call.
	"$dir/bin/packer" plugins install --path "$dir/build/packer-plugin-proxmox" "$PLUGIN_SOURCE"
	plugin_ok || { echo "tools/build.sh: plugin v$PLUGIN_VERSION not installed in $dir/plugins" >&2; exit 1; }
fi
"$dir/bin/packer" plugins installed
