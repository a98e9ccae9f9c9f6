#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a short while, so that a change which breaks an invariant
# the targets check shows up in the normal test run. `scripts/test.sh` calls this.
#
#   FUZZ_SECONDS   how long each target runs (default 30)
#   FUZZ_TARGETS   which targets to run, separated by spaces (default: all of them)
#
# Inputs the fuzzer finds go to fuzz/corpus/<target> (not committed); the committed seeds in
# fuzz/seeds/<target> are read, never written. A failing input is saved under
# fuzz/artifacts/<target>/ and the script fails; replay it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>` in fuzz/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# cargo fuzz passes flags that only nightly compilers accept (-Zsanitizer=address); this lets
# the stable toolchain take them.
export RUSTC_BOOTSTRAP=1

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
cargo fuzz build
for target in $targets; do
    printf -- '--> %s for %ss\n' "$target" "$seconds"
    mkdir -p "corpus/$target"
    # Only the final statistics, unless it fails.
    log="$(mktemp)"
    if ! cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        cat "$log"
        rm -f "$log"
        exit 1
    fi
    # libFuzzer separates the run count from the rest with a tab.
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" || true
    grep -E '^Done' "$log" || true
    rm -f "$log"
done
