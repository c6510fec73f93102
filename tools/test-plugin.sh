#!/usr/bin/env bash
# tools/test-plugin.sh SRC [TOOLS_DIR] — the real-Packer end-to-end tests
# with packer-plugin-proxmox built from the source tree SRC (`make
# test-plugin PLUGIN_SRC=SRC`):
#   1. tools/build.sh --src SRC TOOLS_DIR (default .tools-plugin/, ignored by
#      git through its own .gitignore; CI's .tools/ is left alone);
#   2. packer/validate-all.sh with that Packer and plugin (the plugin
#      generation follows the plugin);
#   3. go test of every test that runs the real Packer against the
#      simulator: internal/builder (all four default templates, both
#      modes), internal/pvesim (TestRealPacker*), internal/workspace (packer
#      validate), cmd/templated (apply, adopt, rebuild with swap, failed and
#      killed builds, witness down, the daemon building).
# The tests take Packer from <repo>/.tools. Until the e2e harness reads
# TEMPLATED_TOOLS_DIR, they run in a copy of the working tree (under
# $TMPDIR) whose .tools is a link to TOOLS_DIR. Prints pass/fail and wall
# time per test; logs stay in TOOLS_DIR/logs/. TESTFLAGS adds go test flags
# (e.g. TESTFLAGS=-race); the tests run are listed below.
set -euo pipefail
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 SRC [TOOLS_DIR]" >&2; exit 2; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$1
tools=${2:-$repo/.tools-plugin}
mkdir -p "$tools/logs"
tools=$(cd "$tools" && pwd)
[[ -f $tools/.gitignore ]] || echo '*' >"$tools/.gitignore"
GO=${GO:-go}
start=$SECONDS

# Packer is the same v1.11.2 as CI's: start from .tools/bin/packer if there.
if [[ ! -x $tools/bin/packer && -x $repo/.tools/bin/packer ]]; then
	mkdir -p "$tools/bin" && cp "$repo/.tools/bin/packer" "$tools/bin/packer"
fi
"$repo/tools/build.sh" --src "$src" "$tools"
export PATH=$tools/bin:$PATH PACKER_PLUGIN_PATH=$tools/plugins CHECKPOINT_DISABLE=1
plugin=$(packer plugins installed | sed -n 's|.*/packer-plugin-proxmox_v\([^_]*\)_x.*|\1|p')

echo "==> packer/validate-all.sh with packer-plugin-proxmox $plugin"
t0=$SECONDS
validate=PASS
"$repo/packer/validate-all.sh" >"$tools/logs/validate.log" 2>&1 || validate=FAIL
sed 's/^/    /' "$tools/logs/validate.log"
validate_s=$((SECONDS - t0))

# package: the tests in it that run the real Packer
declare -A tests=(
	[./internal/builder]='^TestBuildDefaultTemplatesAgainstSimulator$'
	[./internal/pvesim]='^TestRealPacker'
	[./internal/workspace]='^(TestPackerValidatesEveryTemplate|TestPackerValidatesAnswerISO|TestBrokenWorkspacesFailClearly|TestNewOSVersionNeedsOnlyAVarFile|TestRenderAnswersMatchesPacker)$'
	[./cmd/templated]='^(TestApplyE2E|TestAdoptE2E|TestApplyFaultsE2E|TestApplyKillE2E|TestApplyWithWitnessDown|TestDaemonE2EChanges|TestDaemonE2EInterrupted)$'
)
order=(./internal/workspace ./internal/pvesim ./internal/builder ./cmd/templated)

# Where to run: in place when the harness can be pointed at TOOLS_DIR,
# else a copy of the working tree with .tools -> TOOLS_DIR.
if grep -q TEMPLATED_TOOLS_DIR "$repo/cmd/templated/e2e_test.go" "$repo/internal/packertest/packertest.go" 2>/dev/null &&
	[[ $(grep -l TEMPLATED_TOOLS_DIR "$repo/cmd/templated/e2e_test.go" "$repo/internal/packertest/packertest.go" | wc -l) -eq 2 ]]; then
	tree=$repo
	export TEMPLATED_TOOLS_DIR=$tools
	echo "==> go test in $repo (TEMPLATED_TOOLS_DIR=$tools)"
else
	tree=$(mktemp -d "${TMPDIR:-/tmp}/templated-test-plugin.XXXXXX")
	trap 'rm -rf "$tree"' EXIT
	(cd "$repo" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -xf - -C "$tree"
	ln -s "$tools" "$tree/.tools"
	echo "==> go test in a copy of the working tree, $tree (.tools -> $tools): the e2e harness does not read TEMPLATED_TOOLS_DIR yet"
fi

# testtimes: per test, its result and wall time including parallel subtests
"$GO" build -o "$tools/bin/testtimes" "$repo/tools/testtimes.go"
failed=0
summary=()
for pkg in "${order[@]}"; do
	log=$tools/logs/$(basename "$pkg").log
	t0=$SECONDS
	echo "==> go test $pkg -run '${tests[$pkg]}'"
	rc=0
	res=$(cd "$tree" && TEMPLATED_REQUIRE_PACKER=1 "$GO" test -json -count=1 -timeout 30m ${TESTFLAGS:-} -run "${tests[$pkg]}" "$pkg" 2>&1 |
		"$tools/bin/testtimes" -log "$log") || rc=$?
	[[ $rc -eq 0 ]] || failed=$((failed + 1))
	grep -q '^--- ' <<<"$res" || res+=$'\n'"--- FAIL: no test ran in $pkg"
	while IFS= read -r line; do
		if [[ $line == ---* ]]; then summary+=("$line  [$pkg]"); else summary+=("$line"); fi
	done < <(grep -E '^(--- |    failed:)' <<<"$res")
	echo "    $( [[ $rc -eq 0 ]] && echo ok || echo FAIL ) in $((SECONDS - t0))s (log: $log)"
	if [[ $rc -ne 0 ]]; then
		{ grep -vE '^(--- |    failed:)' <<<"$res" || true; } | sed 's/^/    /'
		{ grep -E '^\s+\S+_test\.go:[0-9]+:|^(FAIL|panic)' "$log" || true; } | head -n 20 | sed 's/^/    /'
	fi
done
[[ $validate == PASS ]] || failed=$((failed + 1))

echo
echo "==> packer-plugin-proxmox $plugin from $src: results"
printf '%s\n' "--- $validate: packer/validate-all.sh (${validate_s}s)" "${summary[@]}"
echo "==> total wall time $((SECONDS - start))s"
[[ $failed -eq 0 ]] || { echo "test-plugin: $failed step(s) failed" >&2; exit 1; }
