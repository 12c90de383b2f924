#!/usr/bin/env bash
# `make dist-test`: each cross-built wheel of dist/ tested in a Debian root of its architecture (debootstrap,
# Debian trixie: Python 3.13, cryptography 43 and cffi from the archive, as a Debian board has them), armhf
# and arm64 under qemu-user (binfmt), i386 natively. Per architecture: the wheel installed with its
# dependencies into a venv of the root, `josev version`, the EXI corpus round trip with the cross-built
# native module (compared with the host's decode), `josev config check`, and `josev run` on the simulator
# board coming up, answering `josev status` and stopping cleanly on SIGTERM; on i386 also the fast test tier
# (`make test-fast`) against the installed wheel (JOSEV_NO_FAST_TESTS=1 skips it).
# Roots are cached outside the repository (JOSEV_ROOTS, default /var/cache/josev-roots), with pip's cache
# inside them: a warm run only reinstalls the josev wheel. Needs root (chroot, debootstrap).
# Usage: scripts/dist-test.sh [armhf|arm64|i386|amd64 ...]   (default: the first three; amd64, the host's own
# architecture, is the native reference of `python bench/footprint.py --boards`)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
say() { printf '\033[1m[dist-test]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[dist-test] error:\033[0m %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot)"
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(armhf arm64 i386)
ROOTS=${JOSEV_ROOTS:-/var/cache/josev-roots}
SUITE=trixie
MIRROR=${JOSEV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT_PACKAGES="python3-cryptography python3-cffi python3-cbor2 python3-rpds-py"
# what josev's network lab (sysctl) and the tests (pgrep) call in the root
TOOL_PACKAGES="procps"
# the tests that check the host's sources, code generator and toolchains (josev/ sources, mypy, a C compiler,
# node, Rust): the host's run covers them; in the root the tests import the installed wheel
HOST_ONLY_TESTS=(
    tests/bus/test_least_privilege.py tests/foundation/test_core_imports.py tests/foundation/test_ev_imports.py
    tests/exi/test_cli_and_framing.py::test_generated_files_are_up_to_date
    tests/exi/test_cli_and_framing.py::test_native_stub_matches_module
    tests/ocpp/test_store_off_loop.py::test_slow_fsync_does_not_stall_the_loop_and_sends_only_synced
    tests/ocpp/test_store_off_loop.py::test_kill9_while_the_fsync_is_pending_loses_nothing
    tests/product/test_asyncapi_valid.py tests/product/test_c_client.py tests/product/test_yocto.py
)
CORPUS=${JOSEV_SHARED:-$REPO/../shared}/vectors/captured_exi.jsonl
scripts/setup-cross.sh >/dev/null
# qemu-user through binfmt_misc (the F flag: the interpreter works inside a chroot)
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
fi
for q in qemu-arm qemu-aarch64; do
    [ -e /proc/sys/fs/binfmt_misc/$q ] || update-binfmts --enable $q >/dev/null
done

wheel_arch() { case $1 in armhf) echo armv7l;; arm64) echo aarch64;; i386) echo i686;; amd64) echo x86_64;; esac; }
declare -A RESULT
host_digest=""
if [ -f "$CORPUS" ]; then
    host_digest=$(.venv/bin/python scripts/dist_roundtrip.py "$CORPUS" | sed -n 's/.*decoded sha256 //p')
fi

in_root() {  # in_root ROOT CMD...: run CMD in the chroot with /proc, /dev and the host's DNS
    local root=$1; shift
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    # the host's CA bundle (it may hold the CA of a TLS-inspecting proxy in front of the registries)
    cp -L "${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}" "$root/etc/ssl/host-ca.crt"
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
    # (the pseudo-terminals of the fast tier's Modbus RTU meter tests)
    mountpoint -q "$root/dev/pts" || mount --bind /dev/pts "$root/dev/pts"
    # i386 runs natively; setarch makes uname (and so the build tags) say i686 in its root.
    # arm64: qemu-aarch64 emulates a Cortex-A53 (ARMv8.0, Debian's arm64 baseline), not its default "max" CPU:
    # Debian's arm64 binaries are built with -mbranch-protection=standard, and on "max" every function's
    # return-address signing (PACIASP/AUTIASP) is computed by qemu in software (QARMA5), which made Python under
    # qemu 7-9x slower (the bundle's PyInstaller run: docs/deployment.md). QEMU_CPU is read by each qemu process,
    # so it is passed to chroot's and, through env -i, to every process of the root.
    local qemu=(); case $root in *-arm64) qemu=(QEMU_CPU=cortex-a53);; esac
    $(case $root in *-i386) echo setarch i686;; esac) env "${qemu[@]}" chroot "$root" /usr/bin/env -i "${qemu[@]}" \
        PATH=/opt/josev-wheel/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        PIP_CERT=/etc/ssl/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}
in_root_private() {  # in_root_private ROOT CMD...: as in_root, in a private mount namespace of its own
    # (the root bind-mounted on itself, which `ip netns` needs to make its mounts; /proc, /sys, /dev and a
    # fresh /run inside): the network namespaces of the tests and every mount go when CMD ends
    local root=$1; shift
    local qemu=(); case $root in *-arm64) qemu=(QEMU_CPU=cortex-a53);; esac
    env "${qemu[@]}" unshare --mount sh -c 'set -e; r=$1; shift; mount --make-rprivate /; mount --bind "$r" "$r"
        mount -t proc proc "$r/proc"; mount -t sysfs sysfs "$r/sys"; mount --rbind /dev "$r/dev"
        mount -t tmpfs tmpfs "$r/run"
        exec $(case $r in *-i386) echo setarch i686;; esac) chroot "$r" "$@"' sh "$root" /usr/bin/env -i \
        $(case $root in *-arm64) echo QEMU_CPU=cortex-a53;; esac) \
        PATH=/opt/josev-wheel/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}
release_root() {
    local root=$1
    umount "$root/dev/pts" 2>/dev/null || true
    umount "$root/dev" 2>/dev/null || true
    umount "$root/proc" 2>/dev/null || true
}

test_arch() {
    local arch=$1 root=$ROOTS/$SUITE-$1 t0=$SECONDS whl
    whl=$(ls dist/josev-*"_$(wheel_arch "$arch").whl" 2>/dev/null | head -n1) || true
    [ -n "$whl" ] || { say "$arch: no wheel in dist/ (make dist)"; return 1; }
    if [ ! -x "$root/usr/bin/python3" ]; then
        say "$arch: debootstrap $SUITE into $root"
        rm -rf "$root.tmp"
        debootstrap --arch="$arch" --variant=minbase \
            --include=python3,python3-venv,python3-ply,mosquitto,iproute2,procps,ca-certificates \
            "$SUITE" "$root.tmp" "$MIRROR" >/dev/null || die "debootstrap $arch failed"
        mv "$root.tmp" "$root"
    fi
    trap "release_root '$root'" RETURN
    # Debian's builds of the dependencies that PyPI has no wheel of for every architecture (compiled with
    # Rust or C: no compiler in the root); a venv with system site packages uses them
    in_root "$root" sh -c "dpkg -s $ROOT_PACKAGES $TOOL_PACKAGES >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $ROOT_PACKAGES $TOOL_PACKAGES >/dev/null; }" ||
        { RESULT[$arch]="apt-get install failed"; return 1; }
    say "$arch: $(basename "$whl") ($(stat -c %s "$whl") bytes) into a venv of the root ($(in_root "$root" python3 --version))"
    mkdir -p "$root/tmp/dist" && rm -f "$root"/tmp/dist/*.whl && cp "$whl" "$root/tmp/dist/"
    cp scripts/dist_roundtrip.py "$root/tmp/dist/"
    [ -f "$CORPUS" ] && cp "$CORPUS" "$root/tmp/dist/"
    [ -x "$root/opt/josev-wheel/bin/python" ] || in_root "$root" python3 -m venv --system-site-packages /opt/josev-wheel
    # pure-Python cbor2 where PyPI has no wheel for the architecture (no compiler in the root)
    in_root "$root" env CBOR2_BUILD_C_EXTENSION=0 /opt/josev-wheel/bin/pip install -q --cache-dir /var/cache/pip \
        --force-reinstall --no-deps "/tmp/dist/$(basename "$whl")" || return 1
    in_root "$root" env CBOR2_BUILD_C_EXTENSION=0 /opt/josev-wheel/bin/pip install -q --cache-dir /var/cache/pip \
        "/tmp/dist/$(basename "$whl")" || { RESULT[$arch]="pip install failed"; return 1; }
    local ok=0 fail=0 line
    check() {  # check NAME CMD...: run in the root, print its last line
        local name=$1; shift
        if line=$(in_root "$root" "$@" 2>&1); then
            ok=$((ok + 1)); printf '  %-12s ok    %s\n' "$name" "$(printf '%s' "$line" | tail -n1)"
        else
            fail=$((fail + 1)); printf '  %-12s FAIL  %s\n' "$name" "$(printf '%s' "$line" | tail -n5)"
        fi
    }
    check version josev version
    if [ -f "$CORPUS" ]; then
        check exi python3 /tmp/dist/dist_roundtrip.py /tmp/dist/captured_exi.jsonl
        if ! printf '%s' "$line" | grep -q "decoded sha256 $host_digest"; then
            fail=$((fail + 1)); printf '  %-12s FAIL  decoded JSON differs from the host (%s)\n' exi-vs-host "$host_digest"
        fi
    fi
    cat >"$root/tmp/dist/station.toml" <<'EOF'
[station]
id = "dist-test"
max_current_a = 32.0

[[evse]]
id = 1
kind = "ac"
phases = 3
max_current_a = 32.0

[broker]
manage = true
host = "127.0.0.1"
port = 18831
directory = "/tmp/dist/broker"

# no PLC modem and no CSMS in the root: the simulator board with the system, HAL and coordinator services
[services.slac]
enabled = false

[services.secc]
enabled = false

[services.ocpp]
enabled = false
EOF
    check config josev config check /tmp/dist/station.toml
    # josev run on the simulator board: up, answering `josev status`, stopping cleanly on SIGTERM
    check run sh -c '
        t0=$(date +%s); josev run --config /tmp/dist/station.toml >/tmp/dist/run.log 2>&1 & pid=$!
        for i in $(seq 1 120); do
            if josev status --config /tmp/dist/station.toml --json >/tmp/dist/status.json 2>/dev/null &&
               grep -q "\"hal\"" /tmp/dist/status.json && grep -q "ready" /tmp/dist/status.json; then break; fi
            kill -0 $pid 2>/dev/null || { tail -n 20 /tmp/dist/run.log; exit 1; }
            sleep 1
        done
        grep -q "ready" /tmp/dist/status.json || { echo "no ready service after 120 s"; tail -n 20 /tmp/dist/run.log; kill $pid; exit 1; }
        up=$(( $(date +%s) - t0 )); kill -TERM $pid; wait $pid; rc=$?
        [ $rc -eq 0 ] || { echo "josev run exited $rc"; tail -n 20 /tmp/dist/run.log; exit 1; }
        echo "up and answering josev status after ${up} s, stopped cleanly (exit 0)"'
    # The test suite against the installed wheel, where on i386, armhf and arm64 Python's and Rust's native
    # words (32 bits on i386 and armhf) and the alignment rules differ from the host's. i386 (native) runs all
    # but the slow and interop tests: the unit tier (`make test-fast`: the sans-IO cores), the broker tier (the
    # root's mosquitto), the process tier and the network-namespace tier (veth pairs, AF_PACKET, IPv6
    # link-local), then the demo across network namespaces (`josev demo --netns`). armhf and arm64 run the unit
    # tier under qemu-user (its broker tier takes 7.6 min there and qemu-user lacks the ioctls and socket options
    # of the netns tier). The repository is copied without the josev/ and hal/ sources so that the tests import
    # the installed wheel; ../shared goes next to it. HOST_ONLY_TESTS check the host's sources and toolchains:
    # the host runs them. JOSEV_NO_FAST_TESTS=1 skips this (scripts/test.sh does for a root it had not cached).
    if [ -z "${JOSEV_NO_FAST_TESTS:-}" ]; then
        local marks="not slow and not interop" tiers="unit, broker, process, netns"
        [ "$arch" = i386 ] || [ "$arch" = amd64 ] || { marks="fast"; tiers="unit, under qemu-user"; }
        rm -rf "$root/tmp/ft" "$root/tmp/shared" && mkdir -p "$root/tmp/ft"
        tar -C "$REPO" --exclude=node_modules --exclude=__pycache__ --exclude=target -cf - \
            tests bench docs examples recipes-yocto scripts exi-codec-rs pyproject.toml mkdocs.yml README.md \
            Cargo.toml Cargo.lock Makefile josev/data | tar -C "$root/tmp/ft" -xf -
        # (josev/data, the example configurations the tests read, has no __init__.py above it: the installed
        # josev package still wins the import)
        [ -d "$(dirname "$CORPUS")/.." ] && cp -a "$(dirname "$CORPUS")/.." "$root/tmp/shared"
        in_root "$root" /opt/josev-wheel/bin/pip install -q --cache-dir /var/cache/pip \
            "pytest>=8" "pytest-asyncio>=0.23" "pytest-timeout>=2.3" "hypothesis>=6.100" ||
            { fail=$((fail + 1)); printf '  %-12s FAIL  pip install pytest\n' test-tiers; }
        local deselect="" t tt=$SECONDS
        for t in "${HOST_ONLY_TESTS[@]}"; do deselect="$deselect --deselect $t"; done
        release_root "$root"  # the private namespace mounts its own /proc and /dev
        if line=$(in_root_private "$root" sh -c "cd /tmp/ft && /opt/josev-wheel/bin/python -m pytest \
                -m '$marks' -q -p no:cacheprovider -o addopts='' -rfE $deselect \
                >/tmp/ft/tiers.log 2>&1; rc=\$?; tail -n 1 /tmp/ft/tiers.log; exit \$rc" 2>&1); then
            ok=$((ok + 1)); printf '  %-12s ok    %s (%s; %s s)\n' test-tiers \
                "$(printf '%s' "$line" | tail -n1)" "$tiers" $((SECONDS - tt))
        else
            fail=$((fail + 1)); printf '  %-12s FAIL  %s\n' test-tiers "$(printf '%s' "$line" | tail -n3)"
            grep -E "^(FAILED|ERROR) " "$root/tmp/ft/tiers.log" | head -n 40 | sed 's/^/                      /' || true
        fi
        tt=$SECONDS
        if [ "$marks" = fast ]; then :
        elif line=$(in_root_private "$root" sh -c 'cd /tmp && josev demo --no-live --netns >/tmp/ft/demo.log 2>&1; rc=$?;
                grep -E "sessions completed" /tmp/ft/demo.log || tail -n 5 /tmp/ft/demo.log; exit $rc' 2>&1); then
            ok=$((ok + 1)); printf '  %-12s ok    %s (across network namespaces; %s s)\n' demo "$(printf '%s' "$line" | tail -n1)" \
                $((SECONDS - tt))
        else
            fail=$((fail + 1)); printf '  %-12s FAIL  %s\n' demo "$(printf '%s' "$line" | tail -n5)"
        fi
    fi
    # the .deb, built in the root from the same wheel, installed with dpkg and run from /usr/bin/josev
    local deb
    if deb=$(scripts/dist-deb.sh "$root" "$whl" dist); then
        cp "$deb" "$root/tmp/dist/"
        printf '  %-12s       %s (%s bytes; installed %s kB besides Python and Debian packages)\n' deb \
            "$(basename "$deb")" "$(stat -c %s "$deb")" "$(dpkg-deb -f "$deb" Installed-Size)"
        check deb-install dpkg -i "/tmp/dist/$(basename "$deb")"
        check deb-version /usr/bin/josev version
        check deb-config /usr/bin/josev config check /etc/josev/station.toml
        check deb-unit grep -q "ExecStart=/opt/josev/bin/josev run" /usr/lib/systemd/system/josev.service
        in_root "$root" dpkg -r josev >/dev/null 2>&1 || true
    else
        fail=$((fail + 1)); printf '  %-12s FAIL  building the .deb\n' deb
    fi
    # the self-contained bundle (PyInstaller, built in the root), run from a folder outside any Python path;
    # its coordinator in a separate process: the launcher re-executes the bundle (josev.reexec)
    local bundle no_bundle="${JOSEV_NO_BUNDLE:-}"
    case " ${JOSEV_NO_BUNDLE_ARCHES:-} " in *" $arch "*) no_bundle=1; printf '  %-12s skip  (JOSEV_NO_BUNDLE_ARCHES)\n' bundle ;; esac
    local tb=$SECONDS
    if [ -z "$no_bundle" ] && bundle=$(scripts/dist-bundle.sh "$root" "$whl" dist | tail -n1) && [ -f "$bundle" ]; then
        printf '  %-12s       %s (%s bytes; %s unpacked; built in %s s)\n' bundle "$(basename "$bundle")" "$(stat -c %s "$bundle")" \
            "$(tar -tvzf "$bundle" | awk '{s += $3} END {printf "%.1f MB", s / 1e6}')" $((SECONDS - tb))
        rm -rf "$root/tmp/b" && mkdir -p "$root/tmp/b" && tar -C "$root/tmp/b" -xzf "$bundle"
        sed -e 's,/tmp/dist/broker,/tmp/b/broker,' -e 's,18831,18832,' "$root/tmp/dist/station.toml" >"$root/tmp/b/station.toml"
        printf '\n[services.coordinator]\nprocess = "separate"\n' >>"$root/tmp/b/station.toml"
        check bundle-ver /tmp/b/josev/josev version
        check bundle-run sh -c '
            J=/tmp/b/josev/josev; t0=$(date +%s)
            $J run --config /tmp/b/station.toml >/tmp/b/run.log 2>&1 & pid=$!
            for i in $(seq 1 120); do
                if $J status --config /tmp/b/station.toml --json >/tmp/b/status.json 2>/dev/null &&
                   grep -q "\"coordinator\"" /tmp/b/status.json && grep -q "ready" /tmp/b/status.json; then break; fi
                kill -0 $pid 2>/dev/null || { tail -n 20 /tmp/b/run.log; exit 1; }
                sleep 1
            done
            grep -q "\"coordinator\"" /tmp/b/status.json || { echo "coordinator not up"; tail -n 20 /tmp/b/run.log; kill $pid; exit 1; }
            up=$(( $(date +%s) - t0 )); kill -TERM $pid; wait $pid; rc=$?
            [ $rc -eq 0 ] || { echo "exit $rc"; tail -n 20 /tmp/b/run.log; exit 1; }
            echo "bundle up with its coordinator in a re-executed bundle process after ${up} s, stopped cleanly"'
    elif [ -z "$no_bundle" ]; then
        fail=$((fail + 1)); printf '  %-12s FAIL  building the bundle\n' bundle
    fi
    RESULT[$arch]="$ok ok, $fail failed, $((SECONDS - t0)) s"
    say "$arch: ${RESULT[$arch]}"
    [ $fail -eq 0 ]
}

rc=0
for arch in "${ARCHES[@]}"; do test_arch "$arch" || rc=1; done
printf '\n%-8s %s\n' arch result
for arch in "${ARCHES[@]}"; do printf '%-8s %s\n' "$arch" "${RESULT[$arch]:-not run}"; done
exit $rc
