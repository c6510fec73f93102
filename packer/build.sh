#!/usr/bin/env bash
# build.sh NAME — build one template by hand, the way templated does it but
# without staging, verification or ledger: NAME is a var file's base name
# (ubuntu-22.04, rocky-9, win2022, ...). Reads the same .env file as
# templated (ENV_FILE, default ../.env; the environment wins over the file),
# assembles the build directory and runs `packer build`.
#   MODE=iso|clone (default iso)   GENERATION=v1.1|v1.2 (default: what the installed plugin needs)
#   PKR_VAR_<name>=...  any other variable (vm_id, cores, tags, ...)
# The token secret reaches Packer only through the environment.
set -euo pipefail
ws=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $# -eq 1 ]] || { echo "usage: $0 NAME (a var file's base name)" >&2; exit 2; }
name=$1
MODE=${MODE:-iso}
# shellcheck source=generation.sh
source "$(dirname "${BASH_SOURCE[0]}")/generation.sh"
ENV_FILE=${ENV_FILE:-$ws/../.env}
fail() { echo "build: $*" >&2; exit 1; }

mapfile -t found < <(find "$ws/linux" "$ws/windows" -name "$name.pkrvars.hcl")
[[ ${#found[@]} -eq 1 ]] || fail "want exactly one $name.pkrvars.hcl under linux/ or windows/, found ${#found[@]}"
rel=${found[0]#"$ws/"}

# The .env format (README): KEY=VALUE lines, # comments, optional quotes.
# Only PROXMOX_* keys are read; variables already set are kept.
if [[ -f $ENV_FILE ]]; then
	perm=$(stat -c %a "$ENV_FILE")
	if ((8#$perm & 8#077)) && grep -q '^[[:space:]]*\(export[[:space:]]\+\)\?PROXMOX_TOKEN_SECRET=' "$ENV_FILE"; then
		fail "$ENV_FILE holds the token secret and is readable by others; run: chmod 600 $ENV_FILE"
	fi
	while IFS= read -r line || [[ -n $line ]]; do
		[[ $line =~ ^[[:space:]]*(export[[:space:]]+)?(PROXMOX_[A-Z_]+)=(.*)$ ]] || continue
		key=${BASH_REMATCH[2]} val=${BASH_REMATCH[3]}
		val=${val%$'\r'}
		if [[ $val =~ ^\"(.*)\"$ || $val =~ ^\'(.*)\'$ ]]; then val=${BASH_REMATCH[1]}; fi
		[[ -n ${!key:-} ]] || export "$key=$val"
	done <"$ENV_FILE"
fi
for k in PROXMOX_URL PROXMOX_TOKEN_ID PROXMOX_TOKEN_SECRET PROXMOX_NODE PROXMOX_STORAGE PROXMOX_ISO_STORAGE; do
	[[ -n ${!k:-} ]] || fail "$k is not set (in the environment or $ENV_FILE)"
done
# A self-signed cluster: the plugin (Go) trusts SSL_CERT_FILE.
if [[ -n ${PROXMOX_CA_FILE:-} ]]; then
	[[ -r $PROXMOX_CA_FILE ]] || fail "PROXMOX_CA_FILE $PROXMOX_CA_FILE is not readable"
	export SSL_CERT_FILE=$PROXMOX_CA_FILE
fi
export CHECKPOINT_DISABLE=1

out=$ws/../output/manual
mkdir -p "$out"
out=$(cd "$out" && pwd)
dir=$(mktemp -d)/build
trap 'rm -rf "$(dirname "$dir")"' EXIT
"$ws/assemble.sh" "$(dirname "$rel")" "$rel" "$GENERATION" "$dir"
echo "==> packer build $name ($MODE, plugin generation $GENERATION); manifest: $out/$name-manifest.json"
cd "$dir"
packer build -var "build_mode=$MODE" -var "manifest_path=$out/$name-manifest.json" -var-file="$name.pkrvars.hcl" .
