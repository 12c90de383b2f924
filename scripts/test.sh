#!/usr/bin/env bash
# Every check and test, in the order that fails fastest. Called by `make test` after set-up (and by CI).
set -uo pipefail
export NO_MKDOCS_2_WARNING=1
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
failed=()
step() {
    local name=$1; shift
    printf '\n\033[1m== %s\033[0m\n' "$name"
    local t0=$SECONDS
    if "$@"; then
        printf '\033[32m-- %s ok (%ss)\033[0m\n' "$name" $((SECONDS - t0))
    else
        printf '\033[31m-- %s FAILED (%ss)\033[0m\n' "$name" $((SECONDS - t0))
        failed+=("$name")
    fi
}
step "lint" make -s lint
step "bus API documents up to date" .venv/bin/josev api asyncapi --out docs/api --check
if [ -x scripts/check-generated.sh ]; then step "generated EXI code up to date" scripts/check-generated.sh; fi
step "docs (mkdocs --strict)" .venv/bin/mkdocs build --strict -q -d "$(mktemp -d)"
step "rust tests" cargo test --workspace --release -q
step "yocto layer (oelint-adv, bitbake -g josev for qemuarm, qemuarm64)" scripts/yocto-check.sh
if [ -x scripts/fuzz-ci.sh ]; then step "bounded fuzzing" scripts/fuzz-ci.sh; fi
step "dist: cross-built wheels (armv7, aarch64, i686, x86_64; glibc 2.17)" scripts/dist.sh
if [ "$(id -u)" -eq 0 ]; then
    # i386 always (natively, ~5 min cold). The emulated roots are tested when cached: a cold debootstrap under
    # qemu takes 25-35 min each, which a fresh machine cannot add to the CI time (make dist-test does it).
    arches=(i386)
    for a in armhf arm64; do
        if [ -d "${JOSEV_ROOTS:-/var/cache/josev-roots}/trixie-$a" ]; then arches+=("$a")
        else printf '\n== dist-test %s skipped: no cached Debian root (make dist-test builds it, 25-35 min)\n' "$a"; fi
    done
    # the test tiers (unit, broker, process, netns; ~8 min) and the demo in the i386 root only when that root
    # was cached before this run
    no_fast=${JOSEV_NO_FAST_TESTS:-}
    if [ ! -d "${JOSEV_ROOTS:-/var/cache/josev-roots}/trixie-i386" ]; then
        no_fast=1; printf '\n== dist-test i386 test tiers skipped: no cached Debian root (make dist-test runs them)\n'
    fi
    step "dist-test: each wheel in a Debian root of its architecture (${arches[*]})" \
        env JOSEV_NO_FAST_TESTS="$no_fast" \
        scripts/dist-test.sh "${arches[@]}"
else
    printf '\n== dist-test skipped: needs root (debootstrap, chroot)\n'
fi
step "python tests" .venv/bin/python -m pytest -p no:cacheprovider
if [ ${#failed[@]} -gt 0 ]; then
    printf '\n\033[31mFAILED: %s\033[0m\n' "${failed[*]}"
    exit 1
fi
printf '\n\033[32mall checks passed\033[0m\n'
