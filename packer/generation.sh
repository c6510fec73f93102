# Sourced by validate-all.sh and build.sh: sets $plugin to the installed
# packer-plugin-proxmox version and, unless GENERATION is set, GENERATION
# to the plugin generation it needs, as templated picks it
# (internal/workspace/toolchain.go: 1.1.x -> v1.1, 1.2.0+ -> v1.2).
plugin=$(packer plugins installed 2>/dev/null |
	sed -n 's|.*/github.com/hashicorp/proxmox/packer-plugin-proxmox_v\([^_]*\)_x.*|\1|p' | sort -V | tail -n1)
if [[ -z ${GENERATION:-} ]]; then
	core=${plugin%%-*}
	lt() { [[ $1 != "$2" && $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1) == "$1" ]]; }
	if [[ -z $plugin ]]; then
		echo "$(basename "$0"): no packer-plugin-proxmox installed (run make tools, or set PACKER_PLUGIN_PATH)" >&2; exit 1
	elif ! lt "$core" 1.2.0; then GENERATION=v1.2
	elif ! lt "$core" 1.1.1 && lt "$core" 1.2.0; then GENERATION=v1.1
	else
		echo "$(basename "$0"): packer-plugin-proxmox $plugin has no plugin generation (supported: 1.1.1 and later); set GENERATION to try one" >&2; exit 1
	fi
fi
