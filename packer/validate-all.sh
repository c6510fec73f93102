#!/usr/bin/env bash
# validate-all.sh — check the whole workspace with the real Packer:
#   1. `packer fmt -check -recursive` over every HCL file (both plugin
#      generations, every var file);
#   2. for every OS var file (linux/*/*.pkrvars.hcl, windows/*/*.pkrvars.hcl)
#      and both build modes, `packer validate` of the assembled build
#      directory with plugin generation $GENERATION (default: the one the
#      installed packer-plugin-proxmox needs, as templated picks it:
#      1.1.x -> v1.1, 1.2.0+ -> v1.2; GENERATION=v1.2 forces one).
# Validation needs no cluster: connection settings missing from the
# environment get placeholders (nothing is contacted).
set -euo pipefail
ws=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CHECKPOINT_DISABLE=1
export PROXMOX_URL=${PROXMOX_URL:-https://pve.invalid:8006/api2/json}
export PROXMOX_TOKEN_ID=${PROXMOX_TOKEN_ID:-validate@pve!validate}
export PROXMOX_TOKEN_SECRET=${PROXMOX_TOKEN_SECRET:-00000000-0000-0000-0000-000000000000}
export PROXMOX_NODE=${PROXMOX_NODE:-pve}
export PROXMOX_STORAGE=${PROXMOX_STORAGE:-local-lvm}
export PROXMOX_ISO_STORAGE=${PROXMOX_ISO_STORAGE:-local}

command -v packer >/dev/null || { echo "validate-all: packer not on PATH (run make tools)" >&2; exit 1; }
# The installed plugin (PACKER_PLUGIN_PATH) decides the generation, as in
# internal/workspace/toolchain.go (PluginGeneration).
# shellcheck source=generation.sh
source "$ws/generation.sh"
echo "==> plugin generation $GENERATION (packer-plugin-proxmox ${plugin:-not installed})"
echo "==> packer fmt -check ($(packer version | head -n1))"
(cd "$ws" && packer fmt -check -recursive .)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 n=0
while IFS= read -r varfile; do
	rel=${varfile#"$ws/"}
	osdir=$(dirname "$rel")
	name=$(basename "$rel" .pkrvars.hcl)
	dir=$tmp/$name
	"$ws/assemble.sh" "$osdir" "$rel" "$GENERATION" "$dir"
	for mode in iso clone; do
		n=$((n + 1))
		# Packer only warns about a var file setting an undeclared variable;
		# here it is an error (a typo would silently be ignored).
		if out=$(cd "$dir" && packer validate -var "build_mode=$mode" -var-file="$name.pkrvars.hcl" . 2>&1) &&
			! grep -q 'Undefined variable' <<<"$out"; then
			echo "ok   $rel ($mode, $GENERATION)"
		else
			echo "FAIL $rel ($mode, $GENERATION)"
			echo "$out" | sed 's/^/     /'
			failed=$((failed + 1))
		fi
	done
done < <(find "$ws/linux" "$ws/windows" -name '*.pkrvars.hcl' | sort)
[[ $n -gt 0 ]] || { echo "validate-all: no var files found" >&2; exit 1; }
[[ $failed -eq 0 ]] || { echo "validate-all: $failed of $n validations failed" >&2; exit 1; }
echo "==> $n validations passed"
