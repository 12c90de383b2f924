#!/usr/bin/env bash
# A self-contained josev bundle (PyInstaller one-folder: every service and a Python interpreter) for one
# Debian root of scripts/dist-test.sh, built inside that root from the cross-built wheel, so it carries the
# root's libpython and native modules. Output: OUTDIR/josev-bundle-<arch>.tar.gz (bin: josev/josev).
# Usage (as root): scripts/dist-bundle.sh ROOT WHEEL OUTDIR
set -euo pipefail
cd "$(dirname "$0")/.."
root=$1 whl=$2 out=$3
# (arm64: qemu emulates a Cortex-A53, 7-9x faster than its default CPU: scripts/dist-test.sh, in_root)
qemu=(); case $root in *-arm64) qemu=(QEMU_CPU=cortex-a53);; esac
in_root() {
    $(case $root in *-i386) echo setarch i686;; esac) env "${qemu[@]}" chroot "$root" /usr/bin/env -i "${qemu[@]}" \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 PIP_CERT=/etc/ssl/host-ca.crt \
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}
arch=$(in_root dpkg --print-architecture)
rm -rf "$root/tmp/bundle" && mkdir -p "$root/tmp/bundle"
cp "$whl" scripts/bundle/josev_main.py "$root/tmp/bundle/"
# objdump and libpython for PyInstaller; on armhf also a compiler: PyPI has no PyInstaller wheel (bootloader)
# for armv7, pip builds it from source
tools="binutils libpython3-dev"
[ "$arch" != armhf ] || tools="$tools gcc libc6-dev zlib1g-dev"
in_root sh -c "dpkg -s $tools >/dev/null 2>&1 || { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $tools >/dev/null; }"
[ -x "$root/opt/josev-bundler/bin/pyinstaller" ] || {
    in_root python3 -m venv /opt/josev-bundler
    in_root /opt/josev-bundler/bin/pip install -q --cache-dir /var/cache/pip "pyinstaller>=6.10,<7"
}
# the bundle must not depend on Debian's site packages: a venv without them, everything from PyPI but the
# packages PyPI has no wheel of for the architecture, which are copied from Debian's dist-packages
in_root env CBOR2_BUILD_C_EXTENSION=0 /opt/josev-bundler/bin/pip install -q --cache-dir /var/cache/pip \
    --force-reinstall --no-deps "/tmp/bundle/$(basename "$whl")"
in_root env CBOR2_BUILD_C_EXTENSION=0 /opt/josev-bundler/bin/pip install -q --cache-dir /var/cache/pip \
    --no-build-isolation "/tmp/bundle/$(basename "$whl")" 2>/dev/null || {
    in_root sh -c 'site=$(/opt/josev-bundler/bin/python -c "import site; print(site.getsitepackages()[0])");
        echo /usr/lib/python3/dist-packages > "$site/debian.pth"'
    in_root /opt/josev-bundler/bin/pip install -q --cache-dir /var/cache/pip "/tmp/bundle/$(basename "$whl")"
}
# (pydantic's mypy plugins, collected with pydantic's submodules, would bring setuptools and curses, which
# nothing of josev imports: 2 MB and, under qemu, 20 s of analysis)
in_root sh -c 'cd /tmp/bundle && /opt/josev-bundler/bin/pyinstaller --noconfirm --log-level WARN --onedir \
    --name josev --collect-submodules josev --collect-submodules hal --collect-data josev \
    --collect-submodules pydantic --collect-submodules ocpp --collect-data ocpp \
    --exclude-module pydantic.mypy --exclude-module pydantic.v1.mypy josev_main.py' >/dev/null
mkdir -p "$out"
tar -C "$root/tmp/bundle/dist" -czf "$out/josev-bundle-$arch.tar.gz" josev
echo "$out/josev-bundle-$arch.tar.gz"
