#!/usr/bin/env bash
# tools/build.sh [--src SRC] [--version X.Y.Z] DIR — build the real Packer
# toolchain templated drives:
#   DIR/bin/packer     Packer v1.11.2 (tools/packer/go.mod)
#   DIR/plugins/...    packer-plugin-proxmox, installed with
#                      `packer plugins install --path`, so that its file is
#                      packer-plugin-proxmox_v<version>_x5.0_<os>_<arch> with
#                      its _SHA256SUM and `packer plugins installed` reports
#                      its real version. Exactly one version is installed.
# Which plugin:
#   (default)        the newest version templated supports that the Go module
#                    proxy serves: the proxy's version list (else
#                    tools/plugin/versions), newest first, skipping those whose
#                    module zip the proxy refuses, down to v1.1.1 (pinned with
#                    its go.sum in tools/plugin/go.mod). It says which it chose
#                    and why it skipped the newer ones.
#   --version X.Y.Z  that version from the proxy, nothing else.
#   --src SRC        a source tree of hashicorp/packer-plugin-proxmox (any tag,
#                    e.g. `git archive v1.2.4`), its dependencies from the
#                    proxy, its version from SRC/version/version.go (or
#                    --version), set with -ldflags as upstream's release does.
# An existing build is reused when it is the same version from the same place
# (the proxy, or a source tree with the same content): DIR/build/plugin.stamp.
# Use DIR/bin on PATH and DIR/plugins as PACKER_PLUGIN_PATH (the top-level
# Makefile does).
set -euo pipefail

PACKER_VERSION=1.11.2
PLUGIN_SOURCE=github.com/hashicorp/proxmox
PLUGIN_MODULE=github.com/hashicorp/packer-plugin-proxmox

usage() { echo "usage: $0 [--src SRC] [--version X.Y.Z] DIR" >&2; exit 2; }
src="" want=""
while [[ $# -gt 1 ]]; do
	case $1 in
	--src) src=$2; shift 2 ;;
	--version) want=${2#v}; shift 2 ;;
	*) usage ;;
	esac
done
[[ $# -eq 1 && $1 != -* ]] || usage
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1/bin" "$1/plugins" "$1/build"
dir=$(cd "$1" && pwd)
if [[ -n $src ]]; then
	[[ -f $src/go.mod && -f $src/version/version.go ]] ||
		{ echo "tools/build.sh: $src is not a packer-plugin-proxmox source tree (no go.mod or version/version.go)" >&2; exit 2; }
	src=$(cd "$src" && pwd)
fi

export CHECKPOINT_DISABLE=1          # Packer must not phone home
export PACKER_PLUGIN_PATH="$dir/plugins"
export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
export CGO_ENABLED=0
GO=${GO:-go}
stamp=$dir/build/plugin.stamp
# Module queries run outside any module (DIR may sit inside templated's).
nomod=$(mktemp -d)
trap 'rm -rf "$nomod"' EXIT
plugdir=$dir/plugins/$PLUGIN_SOURCE

# One build at a time per DIR (tests and people may run `make tools` at once).
exec 9>"$dir/.lock"
if command -v flock >/dev/null; then flock 9; fi

# ver_lt A B: version A sorts before version B (no "v").
ver_lt() { [[ $1 != "$2" && $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1) == "$1" ]]; }
# supported V: templated has a plugin generation for V (keep in step with
# internal/workspace/toolchain.go: 1.1.x -> v1.1, 1.2.0+ -> v1.2).
generation() {
	local v=${1%%-*}
	if ! ver_lt "$v" 1.2.0; then echo v1.2
	elif ! ver_lt "$v" 1.1.1 && ver_lt "$v" 1.2.0; then echo v1.1
	fi
}

packer_ok() {
	[[ -x $dir/bin/packer ]] && [[ $("$dir/bin/packer" version 2>/dev/null | head -n1) == "Packer v$PACKER_VERSION" ]]
}
# installed: the Proxmox plugin versions installed in DIR, one a line.
installed() {
	"$dir/bin/packer" plugins installed 2>/dev/null |
		sed -n "s|.*/$PLUGIN_SOURCE/packer-plugin-proxmox_v\([^_]*\)_x.*|\1|p" | sort -u
}
# have KEY: exactly one plugin installed, the one KEY ("proxy 1.1.1",
# "src 1.2.4 <hash>") describes. A build made before the stamp existed
# counts as "proxy <its version>".
have() {
	local v
	v=$(installed)
	[[ -n $v && $v != *$'\n'* ]] || return 1
	[[ $(cat "$stamp" 2>/dev/null || echo "proxy $v") == "$1" ]]
}

# gobuild MODULE_DIR PACKAGE OUT [LDFLAGS]: build PACKAGE as pinned by
# MODULE_DIR's go.mod.
gobuild() {
	local start=$SECONDS
	echo "==> building $2 (in $1)"
	(cd "$1" && "$GO" build -ldflags "${4:-}" -o "$3.tmp" "$2")
	mv -f "$3.tmp" "$3"
	echo "    done in $((SECONDS - start))s"
}
# version_ldflags MODULE VERSION: what upstream's .goreleaser.yml sets.
version_ldflags() { echo "-X $1/version.Version=$2 -X $1/version.VersionPrerelease="; }

# install_plugin VERSION KEY: install DIR/build/packer-plugin-proxmox as the
# only Proxmox plugin, check Packer sees VERSION, record KEY.
install_plugin() {
	rm -f "$stamp"
	rm -rf "$plugdir"
	# --path installs a local binary: no download, no GitHub API call.
	"$dir/bin/packer" plugins install --path "$dir/build/packer-plugin-proxmox" "$PLUGIN_SOURCE"
	[[ $(installed) == "$1" ]] ||
		{ echo "tools/build.sh: Packer does not list packer-plugin-proxmox v$1 in $dir/plugins (it lists: $(installed | tr '\n' ' '))" >&2; exit 1; }
	ls "$plugdir"/packer-plugin-proxmox_v"$1"_x*_SHA256SUM >/dev/null
	echo "$2" >"$stamp"
}

# probe V: whether the proxy serves V's module (downloads it into the module
# cache); on refusal prints why on stdout and fails.
probe() {
	local out err
	out=$(cd "$nomod" && GOFLAGS=-mod=mod GO111MODULE=on GOWORK=off "$GO" mod download -json "$PLUGIN_MODULE@v$1" 2>/dev/null) && return 0
	err=$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' <<<"$out" | sed 's/\\n.*//; s/\\t/ /g')
	if [[ $err =~ /@v/v[^/]*\.(zip|info|mod):\ (.*) ]]; then
		echo "the proxy refuses its module ${BASH_REMATCH[1]} (${BASH_REMATCH[2]})"
	elif [[ $err =~ /sumdb/[^:]*:\ (.*) ]]; then
		echo "the checksum database has no entry for it (${BASH_REMATCH[1]})"
	else
		echo "${err:-go mod download failed}"
	fi
	return 1
}

# build_from_proxy V: build V from the proxy. The pinned version uses the
# committed tools/plugin module and go.sum; any other gets a module made in
# DIR/build/proxy-vV that requires it with the replaces of its own go.mod
# (replaces do not travel with a dependency), checked against sum.golang.org.
build_from_proxy() {
	local v=$1 m gomod
	if [[ $(sed -n "s|^require $PLUGIN_MODULE v||p" "$here/plugin/go.mod") == "$v" && -z ${TOOLS_PLUGIN_NO_PIN:-} ]]; then
		gobuild "$here/plugin" "$PLUGIN_MODULE" "$dir/build/packer-plugin-proxmox" "$(version_ldflags "$PLUGIN_MODULE" "$v")"
		return
	fi
	m=$dir/build/proxy-v$v
	gomod=$(cd "$nomod" && GOFLAGS=-mod=mod GO111MODULE=on GOWORK=off "$GO" mod download -json "$PLUGIN_MODULE@v$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	rm -rf "$m" && mkdir -p "$m"
	{
		echo "// Made by tools/build.sh: builds $PLUGIN_MODULE v$v from the Go module proxy."
		echo "module templated/tools/plugin-v$v"
		echo
		grep -m1 '^go ' "$gomod"
		echo
		echo "require $PLUGIN_MODULE v$v"
		echo
		awk '/^replace[[:space:]]*\(/ {b = 1; next} b && /^\)/ {b = 0; next} b && NF {print "replace " $0; next} /^replace / {print}' "$gomod"
	} >"$m/go.mod"
	cp "$here/plugin/tools.go" "$m/tools.go"
	(cd "$m" && GOFLAGS=-mod=mod "$GO" mod tidy)
	gobuild "$m" "$PLUGIN_MODULE" "$dir/build/packer-plugin-proxmox" "$(version_ldflags "$PLUGIN_MODULE" "$v")"
}

# ---- Packer

if packer_ok; then
	echo "==> reusing $dir/bin/packer (v$PACKER_VERSION)"
else
	gobuild "$here/packer" github.com/hashicorp/packer "$dir/bin/packer"
	packer_ok || { echo "tools/build.sh: built packer does not report v$PACKER_VERSION" >&2; exit 1; }
fi

# ---- the plugin from a source tree

if [[ -n $src ]]; then
	module=$(sed -n 's/^module[[:space:]]*//p' "$src/go.mod")
	if [[ -z $want ]]; then
		want=$(sed -n 's/^[[:space:]]*Version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$src/version/version.go" | head -n1)
		[[ -n $want ]] || { echo "tools/build.sh: no Version in $src/version/version.go: pass --version" >&2; exit 2; }
	fi
	# The tree's content decides reuse: the Go files, go.mod and go.sum.
	hash=$(cd "$src" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
		LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
	key="src $want $hash"
	if have "$key"; then
		echo "==> reusing packer-plugin-proxmox v$want built from $src (tree $hash) in $dir/plugins"
	else
		echo "==> packer-plugin-proxmox v$want from the source tree $src (tree $hash; dependencies from the Go module proxy)"
		gobuild "$src" . "$dir/build/packer-plugin-proxmox" "$(version_ldflags "$module" "$want")"
		install_plugin "$want" "$key"
	fi
	gen=$(generation "$want")
	if [[ -n $gen ]]; then
		echo "==> templated will build with plugin generation $gen (packer/shared/gen/$gen)"
	else
		echo "tools/build.sh: warning: templated refuses packer-plugin-proxmox $want (it supports 1.1.1 and later)" >&2
	fi
	"$dir/bin/packer" plugins installed
	exit 0
fi

# ---- the plugin from the Go module proxy

if [[ -n $want ]]; then
	candidates=$want
	echo "==> packer-plugin-proxmox: v$want as asked (--version / PLUGIN_VERSION)"
else
	if list=$(cd "$nomod" && GOFLAGS=-mod=mod GO111MODULE=on GOWORK=off "$GO" list -m -versions "$PLUGIN_MODULE" 2>&1); then
		all=$(tr ' ' '\n' <<<"$list" | sed -n 's/^v//p')
		from="the proxy's version list"
	else
		all=$(sed -n 's/^v\([0-9][^[:space:]]*\).*/\1/p' "$here/plugin/versions")
		from="tools/plugin/versions (the proxy refused its version list: $(grep -o '[0-9][0-9][0-9] [A-Za-z ]*' <<<"$list" | head -n1))"
	fi
	candidates="" unsupported=""
	for v in $(sort -rV <<<"$all" | grep -v -- -); do
		if [[ -n $(generation "$v") ]]; then candidates+="$v "; else unsupported+="v$v "; fi
	done
	echo "==> packer-plugin-proxmox: versions from $from"
	echo "    trying newest first: $(sed 's/\([0-9][^ ]*\)/v\1/g; s/ $//' <<<"$candidates")"
	[[ -z $unsupported ]] || echo "    not tried (templated has no plugin generation for them): ${unsupported% }"
fi

reused=""
have_v=$(installed 2>/dev/null | head -n2)
chosen="" skipped="" built=""
for v in $candidates; do
	if have "proxy $v"; then
		chosen=$v reused=1
		break
	fi
	if [[ $(sed -n "s|^require $PLUGIN_MODULE v||p" "$here/plugin/go.mod") == "$v" && -z ${TOOLS_PLUGIN_NO_PIN:-} ]]; then
		chosen=$v # pinned: built from the committed go.sum below
		break
	fi
	if why=$(probe "$v"); then
		if out=$(build_from_proxy "$v" 2>&1); then
			echo "$out"
			chosen=$v built=1
			break
		fi
		why="it did not build from the proxy: $(tail -n1 <<<"$out")"
	fi
	echo "    skip v$v: $why"
	skipped+="v$v "
done
[[ -n $chosen ]] || { echo "tools/build.sh: no packer-plugin-proxmox version builds from the Go module proxy (tried: $candidates)" >&2; exit 1; }

why="the newest the Go module proxy serves"
[[ -z $skipped ]] || why+=" (skipped: ${skipped% })"
[[ -z $want ]] || why="as asked"
if [[ -n $reused ]]; then
	echo "==> packer-plugin-proxmox v$chosen: $why; reusing the build in $dir/plugins"
	[[ -f $stamp ]] || echo "proxy $chosen" >"$stamp"
else
	echo "==> packer-plugin-proxmox v$chosen: $why"
	[[ -z $have_v ]] || echo "    replacing the installed $(tr '\n' ' ' <<<"$have_v" | sed 's/\([0-9][^ ]*\)/v\1/g')in $dir/plugins"
	[[ -n $built ]] || build_from_proxy "$chosen"
	install_plugin "$chosen" "proxy $chosen"
fi
echo "==> templated will build with plugin generation $(generation "$chosen") (packer/shared/gen/$(generation "$chosen"))"
"$dir/bin/packer" plugins installed
