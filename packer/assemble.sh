#!/usr/bin/env bash
# assemble.sh OSDIR VARFILE GENERATION DST — make the build directory of one
# template: shared/* (without gen/), shared/gen/GENERATION/*, OSDIR/* except
# the .pkrvars.hcl files, and VARFILE, all into DST (which must not exist).
# OSDIR and VARFILE are relative to this directory (the workspace root):
#   ./assemble.sh linux/ubuntu linux/ubuntu/ubuntu-22.04.pkrvars.hcl v1.1 /tmp/b
# internal/workspace.Assemble does the same in Go (a test keeps them equal).
set -euo pipefail
[[ $# -eq 4 ]] || { echo "usage: $0 OSDIR VARFILE GENERATION DST" >&2; exit 2; }
ws=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
osdir=$1 varfile=$2 gen=$3 dst=$4

fail() { echo "assemble: $*" >&2; exit 1; }
[[ -d $ws/$osdir ]] || fail "OS directory $osdir does not exist"
[[ -f $ws/$varfile ]] || fail "var file $varfile does not exist"
[[ $varfile == "$osdir"/* ]] || fail "var file $varfile is not in $osdir"
[[ -d $ws/shared/gen/$gen ]] || fail "plugin generation $gen does not exist (shared/gen/$gen)"
[[ ! -e $dst ]] || fail "$dst already exists"

# place SRC REL: copy the file SRC to DST/REL, refusing to overwrite.
place() {
	[[ ! -e $dst/$2 ]] || fail "$2 comes from two places"
	mkdir -p "$(dirname "$dst/$2")"
	cp -p "$1" "$dst/$2"
}
mkdir -p "$dst"
while IFS= read -r -d '' f; do
	rel=${f#"$ws/shared/"}
	[[ $rel == gen/* ]] || place "$f" "$rel"
done < <(find "$ws/shared" -type f -print0 | sort -z)
while IFS= read -r -d '' f; do
	place "$f" "${f#"$ws/shared/gen/$gen/"}"
done < <(find "$ws/shared/gen/$gen" -type f -print0 | sort -z)
while IFS= read -r -d '' f; do
	place "$f" "${f#"$ws/$osdir/"}"
done < <(find "$ws/$osdir" -type f ! -name '*.pkrvars.hcl' -print0 | sort -z)
place "$ws/$varfile" "$(basename "$varfile")"
