#!/usr/bin/env bash
# CI check of the Yocto layer recipes-yocto/meta-josev against Yocto scarthgap (5.0 LTS):
#   1. oelint-adv (PyPI, pinned, in a venv of the cache) clean on every recipe of the layer;
#   2. `bitbake -g josev` (the dependency graph, nothing fetched or built) for MACHINE=qemuarm and qemuarm64,
#      with poky meta + meta-poky, meta-oe, meta-python, meta-networking and our layer: an RDEPENDS or DEPENDS
#      that no recipe provides fails the parse. Prints josev's dependencies from the graph.
# The poky / meta-openembedded snapshots come from ../shared/yocto (skipped with a message when absent). They
# are unpacked once into a cache outside the repository (JOSEV_YOCTO_CACHE, default /var/cache/josev-yocto as
# root, ~/.cache/josev-yocto otherwise), where bitbake also keeps its parse cache: a warm run reparses only
# the recipes of our layer. bitbake refuses to run as root (poky's sanity.bbclass); as root this script runs
# it as the unprivileged system user `josev-bitbake`, which it creates.
# Usage: scripts/yocto-check.sh [MACHINE ...]     (default: qemuarm qemuarm64)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
say() { printf '\033[1m[yocto]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[yocto] error:\033[0m %s\n' "$*" >&2; exit 1; }

SHARED=${JOSEV_SHARED:-$REPO/../shared}
POKY_TGZ=$(ls "$SHARED"/yocto/poky-scarthgap-*.tar.gz 2>/dev/null | head -n1 || true)
META_OE_TGZ=$(ls "$SHARED"/yocto/meta-openembedded-scarthgap-*.tar.gz 2>/dev/null | head -n1 || true)
if [ -z "$POKY_TGZ" ] || [ -z "$META_OE_TGZ" ]; then
    say "skipped: no poky / meta-openembedded scarthgap snapshots in $SHARED/yocto"
    exit 0
fi
OELINT_VERSION=9.11.2
MACHINES=("$@")
[ ${#MACHINES[@]} -gt 0 ] || MACHINES=(qemuarm qemuarm64)
if [ "$(id -u)" -eq 0 ]; then
    CACHE=${JOSEV_YOCTO_CACHE:-/var/cache/josev-yocto}
else
    CACHE=${JOSEV_YOCTO_CACHE:-$HOME/.cache/josev-yocto}
fi
mkdir -p "$CACHE"

# --- host tools bitbake's sanity check asks for (HOSTTOOLS) and the en_US.UTF-8 locale -------------------
missing=()
for t in gawk chrpath cpio diffstat; do command -v $t >/dev/null 2>&1 || missing+=($t); done
for t in lz4c pzstd; do command -v $t >/dev/null 2>&1 || missing+=($([ $t = lz4c ] && echo lz4 || echo zstd)); done
command -v rpcgen >/dev/null 2>&1 || missing+=(rpcsvc-proto)
locale -a 2>/dev/null | grep -qi '^en_US\.utf-\?8$' || need_locale=1
if [ ${#missing[@]} -gt 0 ] || [ -n "${need_locale:-}" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        say "installing ${missing[*]} locales with apt-get"
        apt-get install -y -qq --no-install-recommends "${missing[@]}" locales >/dev/null ||
            { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" locales >/dev/null; }
        if [ -n "${need_locale:-}" ]; then
            sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' /etc/locale.gen
            grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' >>/etc/locale.gen
            locale-gen >/dev/null
        fi
    else
        die "bitbake needs ${missing[*]} and the en_US.UTF-8 locale (apt-get install ${missing[*]} locales; locale-gen en_US.UTF-8)"
    fi
fi

# --- the snapshots, unpacked once ------------------------------------------------------------------------
stamp="$CACHE/src/.unpacked-$(basename "$POKY_TGZ")-$(basename "$META_OE_TGZ")"
if [ ! -e "$stamp" ]; then
    say "unpacking $(basename "$POKY_TGZ") and $(basename "$META_OE_TGZ") into $CACHE/src"
    rm -rf "$CACHE/src" && mkdir -p "$CACHE/src"
    tar -xzf "$POKY_TGZ" -C "$CACHE/src"
    tar -xzf "$META_OE_TGZ" -C "$CACHE/src"
    touch "$stamp"
fi

# --- oelint-adv ------------------------------------------------------------------------------------------
if ! "$CACHE/venv/bin/oelint-adv" --version 2>/dev/null | grep -q "$OELINT_VERSION"; then
    say "installing oelint-adv $OELINT_VERSION into $CACHE/venv"
    python3 -m venv "$CACHE/venv"
    "$CACHE/venv/bin/pip" install -q "oelint-adv==$OELINT_VERSION"
fi
# Our layer is copied into the cache: bitbake runs as another user, who may not read the worktree.
rm -rf "$CACHE/layers" && mkdir -p "$CACHE/layers" && cp -a "$REPO/recipes-yocto/meta-josev" "$CACHE/layers/"
LAYER=$CACHE/layers/meta-josev
say "oelint-adv $OELINT_VERSION (release scarthgap) on $(cd "$LAYER" && find . -name '*.bb' -o -name '*.bbappend' | wc -l) recipes"
mapfile -t recipes < <(find "$LAYER" -name '*.bb' -o -name '*.bbappend' | sort)
# Suppressed: homepageping (CI has no network but the registries), the two suggested-only variables
# BUGTRACKER and CVE_PRODUCT, and bbclassextend (josev is a target-only application).
lint=$(cd "$LAYER" && "$CACHE/venv/bin/oelint-adv" --quiet --release scarthgap \
    --suppress oelint.vars.homepageping --suppress oelint.var.suggestedvar.BUGTRACKER \
    --suppress oelint.var.suggestedvar.CVE_PRODUCT --suppress oelint.var.bbclassextend \
    "${recipes[@]}" 2>&1) || true
if [ -n "$lint" ]; then
    printf '%s\n' "${lint//$LAYER/recipes-yocto\/meta-josev}"
    die "oelint-adv found the issues above"
fi
say "oelint-adv: clean"

# --- bitbake -g for each machine -------------------------------------------------------------------------
BUILD=$CACHE/build
mkdir -p "$BUILD/conf"
cat >"$BUILD/conf/bblayers.conf" <<EOF
POKY_BBLAYERS_CONF_VERSION = "2"
BBPATH = "\${TOPDIR}"
BBFILES ?= ""
BBLAYERS ?= " \\
  $CACHE/src/poky/meta \\
  $CACHE/src/poky/meta-poky \\
  $CACHE/src/meta-openembedded/meta-oe \\
  $CACHE/src/meta-openembedded/meta-python \\
  $CACHE/src/meta-openembedded/meta-networking \\
  $LAYER \\
  $CACHE/layers/meta-josev-ci \\
"
EOF
# As an OEM does (recipes-yocto/README.md): josev from a git repository at a pinned commit, in a bbappend of a
# small CI layer (in local.conf the commit would change the configuration's hash: a full reparse each commit).
mkdir -p "$CACHE/layers/meta-josev-ci/conf" "$CACHE/layers/meta-josev-ci/recipes-josev/josev"
cat >"$CACHE/layers/meta-josev-ci/conf/layer.conf" <<'EOF'
BBPATH .= ":${LAYERDIR}"
BBFILES += "${LAYERDIR}/recipes-*/*/*.bbappend"
BBFILE_COLLECTIONS += "josev-ci"
BBFILE_PATTERN_josev-ci = "^${LAYERDIR}/"
BBFILE_PRIORITY_josev-ci = "11"
LAYERDEPENDS_josev-ci = "josev"
LAYERSERIES_COMPAT_josev-ci = "scarthgap"
EOF
cat >"$CACHE/layers/meta-josev-ci/recipes-josev/josev/josev_git.bbappend" <<EOF
JOSEV_GIT_URI = "git://$REPO;protocol=file;nobranch=1"
SRCREV = "$(git -C "$REPO" rev-parse HEAD)"
EOF
cat >"$BUILD/conf/local.conf" <<EOF
# Written by josev's scripts/yocto-check.sh: parse only (bitbake -g), nothing is fetched or built.
MACHINE ??= "qemuarm"
DISTRO ?= "poky"
INIT_MANAGER = "systemd"
CONF_VERSION = "2"
BB_NO_NETWORK = "1"
CONNECTIVITY_CHECK_URIS = ""
SANITY_TESTED_DISTROS = ""
BB_NUMBER_PARSE_THREADS = "2"
BB_NUMBER_THREADS = "2"
DL_DIR = "$CACHE/downloads"
SSTATE_DIR = "$CACHE/sstate"
TMPDIR = "$CACHE/tmp"
EOF
run_bitbake() {  # run_bitbake MACHINE: bitbake -g josev in $BUILD/graph-MACHINE
    local machine=$1 out=$BUILD/graph-$1
    # what oe-init-build-env sets up (the snapshots have no .templateconf; the build dir is written above)
    local cmd="export PATH='$CACHE/src/poky/bitbake/bin:$CACHE/src/poky/scripts':\$PATH BBPATH='$BUILD' \
        MACHINE=$machine BB_ENV_PASSTHROUGH_ADDITIONS=MACHINE && mkdir -p '$out' && cd '$out' && bitbake --quiet -g josev"
    if [ "$(id -u)" -eq 0 ]; then
        id josev-bitbake >/dev/null 2>&1 ||
            useradd --system --home-dir "$CACHE" --no-create-home --shell /usr/sbin/nologin josev-bitbake
        chown -R josev-bitbake: "$CACHE"
        runuser -u josev-bitbake -- env -i HOME="$CACHE" PATH="$PATH" LANG=en_US.UTF-8 bash -c "$cmd"
    else
        env -i HOME="$HOME" PATH="$PATH" LANG=en_US.UTF-8 bash -c "$cmd"
    fi
}
for machine in "${MACHINES[@]}"; do
    t0=$SECONDS
    say "bitbake -g josev, MACHINE=$machine"
    run_bitbake "$machine" || die "bitbake -g josev failed for MACHINE=$machine (see above)"
    python3 "$REPO/scripts/yocto_graph.py" "$BUILD/graph-$machine/task-depends.dot" josev ||
        die "the dependency graph of josev for MACHINE=$machine is incomplete"
    say "MACHINE=$machine: graph resolved in $((SECONDS - t0)) s"
done
