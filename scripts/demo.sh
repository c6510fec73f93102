#!/usr/bin/env bash
# templated end to end on the embedded Proxmox VE simulator, with the real
# Packer and Proxmox plugin: plan, apply, plan again (no changes), verify
# the evidence ledger. Needs `make build tools` (make demo does both).
# Everything it writes goes under a fresh temporary directory, printed at
# the end; nothing reaches beyond 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tpl="$root/dist/templated"
export PATH="$root/.tools/bin:$PATH" PACKER_PLUGIN_PATH="$root/.tools/plugins" CHECKPOINT_DISABLE=1

work=$(mktemp -d "${TMPDIR:-/tmp}/templated-demo.XXXXXX")
export TEMPLATED_ENV_FILE="$work/.env" TEMPLATED_STATE_DIR="$work/state" \
  TEMPLATED_EVIDENCE_DIR="$work/evidence" TEMPLATED_LEDGER_KEY="$work/keys/ledger.key" \
  TEMPLATED_COMMUNICATOR=none
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# The desired file and the Packer workspace, as a git checkout of their own:
# the sim below pins the copy's fixed image checksums to its mirror's bytes,
# and the evidence names the copy's commit.
mkdir -p "$work/repo"
cp -r desired packer "$work/repo/"
export TEMPLATED_DESIRED="$work/repo/desired/templates.yaml"

step "Starting the Proxmox VE simulator (HTTPS on loopback, demo seed examples/demo-seed.yaml: no ISOs, no base VMs) and the vendors' image sites (a loopback mirror)"
"$tpl" sim --listen 127.0.0.1:0 --seed examples/demo-seed.yaml --task-duration 200ms \
  --mirror --mirror-desired "$TEMPLATED_DESIRED" \
  --env-file "$TEMPLATED_ENV_FILE" --ca-file "$work/pve-ca.pem" >"$work/sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$TEMPLATED_ENV_FILE" ] && break; sleep 0.05; done
[ -s "$TEMPLATED_ENV_FILE" ] || { cat "$work/sim.log"; exit 1; }
grep -E '^PROXMOX_(URL|TOKEN_ID|NODE)=' "$TEMPLATED_ENV_FILE"
mirrors=$(sed -n 's/^TEMPLATED_IMAGE_MIRRORS=//p' "$TEMPLATED_ENV_FILE")
export TEMPLATED_IMAGE_MIRRORS="$mirrors"
echo "TEMPLATED_IMAGE_MIRRORS=$mirrors"
git -C "$work/repo" init -q
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=templated-demo -c user.email=demo@localhost commit -qm "desired state for the demo"

step "templated ledger init (signing key outside the evidence tree)"
"$tpl" ledger init --dir "$TEMPLATED_EVIDENCE_DIR" --key "$TEMPLATED_LEDGER_KEY"

step "templated plan: what would happen, touching nothing"
set +e
"$tpl" plan --detailed-exitcode
rc=$?
set -e
echo "(plan exit code $rc: 2 means changes)"

step "templated apply: Proxmox downloads and verifies each image, templated makes the base VMs, then builds each template at a staging VMID with real Packer, verifies it and swaps it in"
"$tpl" apply --auto-approve --parallel 4

step "templated plan again: nothing left to do"
"$tpl" plan --detailed-exitcode
echo "(plan exit code 0: no changes)"

step "templated ledger verify: every entry, checkpoint, evidence file and signature"
"$tpl" ledger verify --dir "$TEMPLATED_EVIDENCE_DIR" --pubkey "$TEMPLATED_EVIDENCE_DIR/ledger/ledger.vkey"

step "Done. Evidence, ledger and logs are in $work"
