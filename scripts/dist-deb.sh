#!/usr/bin/env bash
# A .deb of josev for one Debian root of scripts/dist-test.sh, built inside that root from the cross-built
# wheel: /opt/josev (a venv of the distribution's python3 with josev and the dependencies Debian lacks:
# ocpp, typer-slim, pydantic-settings, ...; cryptography and cffi from Debian), /usr/bin/josev, the systemd
# units and sysusers file of `josev systemd install`, and /etc/josev/station.toml (a conffile).
# The package depends on the distribution's python3 of the exact minor version it was built with: the venv's
# site-packages path is per minor version and it holds native modules built for that version (pydantic-core,
# listed on stderr at each build); build it per Debian release. Why not "python3 (>= 3.11)":
# docs/deployment.md, "Why the .deb pins the Python minor version".
# Usage (as root, by scripts/dist-test.sh): scripts/dist-deb.sh ROOT WHEEL OUTDIR
set -euo pipefail
root=$1 whl=$2 out=$3
# (arm64: qemu emulates a Cortex-A53, 7-9x faster than its default CPU: scripts/dist-test.sh, in_root)
qemu=(); case $root in *-arm64) qemu=(QEMU_CPU=cortex-a53);; esac
arch=$(env "${qemu[@]}" chroot "$root" dpkg --print-architecture)
in_root() {
    $(case $root in *-i386) echo setarch i686;; esac) env "${qemu[@]}" chroot "$root" /usr/bin/env -i "${qemu[@]}" \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        PIP_CERT=/etc/ssl/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}
pyver=$(in_root python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
version=$(python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); m = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")); print(next(l[9:] for l in z.read(m).decode().splitlines() if l.startswith("Version: ")))' "$whl")
stage=/tmp/deb/josev_${version}_$arch
rm -rf "$root/tmp/deb" && mkdir -p "$root$stage/DEBIAN" "$root/tmp/deb/wheel"
cp "$whl" "$root/tmp/deb/wheel/"
[ ! -e "$root/opt/josev" ] || in_root sh -c 'dpkg -r josev >/dev/null 2>&1 || true; rm -rf /opt/josev'
in_root python3 -m venv --system-site-packages /opt/josev
in_root env CBOR2_BUILD_C_EXTENSION=0 /opt/josev/bin/pip install -q --no-compile --cache-dir /var/cache/pip \
    "/tmp/deb/wheel/$(basename "$whl")"
in_root sh -c "find /opt/josev -name __pycache__ -prune -exec rm -rf {} +; rm -rf /opt/josev/bin/pip* /opt/josev/lib/python*/site-packages/pip /opt/josev/lib/python*/site-packages/pip-*"
# what binds the venv to this Python minor version, besides its lib/python3.X path (for the record)
echo "[dist-deb] version-bound native modules: $(cd "$root/opt/josev" && find . -name '*.cpython-3*.so' |
    sed 's,.*/site-packages/,,; s,/.*,,' | sort -u | tr '\n' ' ')" >&2
in_root sh -c "mkdir -p $stage/opt $stage/usr/bin && cp -a /opt/josev $stage/opt/ && ln -s /opt/josev/bin/josev $stage/usr/bin/josev"
in_root /opt/josev/bin/josev systemd install --mode all-in-one --prefix "$stage" \
    --josev-bin /opt/josev/bin/josev --mosquitto /usr/sbin/mosquitto >/dev/null
rm -rf "$root/opt/josev"
size=$(du -sk "$root$stage" | cut -f1)
cat >"$root$stage/DEBIAN/control" <<CTRL
Package: josev
Version: $version
Architecture: $arch
Maintainer: josev developers <josev@example.org>
Depends: python3 (>= $pyver), python3 (<< ${pyver%.*}.$((${pyver#*.} + 1))), python3-cryptography (>= 42), python3-cffi, python3-cbor2, python3-rpds-py, mosquitto
Section: net
Priority: optional
Installed-Size: $size
Homepage: https://github.com/josev-project/josev
Description: open embedded EV charging-station stack
 SLAC, SECC (DIN SPEC 70121, ISO 15118-2/-20), OCPP 2.0.1 client and HAL as services on a local MQTT bus.
CTRL
( cd "$root$stage" && find etc -type f | sed 's,^,/,' >DEBIAN/conffiles )
cat >"$root$stage/DEBIAN/postinst" <<'POST'
#!/bin/sh
set -e
if [ "$1" = configure ] && command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers josev.conf || true
fi
POST
chmod 0755 "$root$stage/DEBIAN/postinst"
deb=josev_${version}_$arch.deb
# the host's dpkg-deb (any architecture; xz under qemu-user takes minutes)
mkdir -p "$out" && dpkg-deb --root-owner-group -Zxz --build "$root$stage" "$out/$deb" >/dev/null
echo "$out/$deb"
