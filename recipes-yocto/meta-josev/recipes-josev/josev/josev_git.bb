SUMMARY = "josev: open embedded EV charging-station stack (SLAC, SECC, OCPP 2.0.1, HAL)"
DESCRIPTION = "ISO 15118 / DIN SPEC 70121 SECC, SLAC, OCPP 2.0.1 client and the hardware abstraction of a \
               charging station, as services on a local MQTT 5 bus (mosquitto). Python with a Rust (PyO3) EXI codec."
HOMEPAGE = "https://github.com/josev-project/josev"
SECTION = "net"
LICENSE = "Apache-2.0"
# The license is declared in pyproject.toml ([project] license); update the md5 when that line moves.
LIC_FILES_CHKSUM = "file://pyproject.toml;beginline=10;endline=10;md5=3358005787c442581bead91c71afa94f"

# OEMs point JOSEV_GIT_URI at their mirror and pin SRCREV in a bbappend or local.conf.
JOSEV_GIT_URI ?= "git://git.example.com/josev.git;protocol=https;branch=main"
PV = "0.1.0+git"
SRC_URI = "${JOSEV_GIT_URI}"
# The newest commit of the branch is only a default for development: pin SRCREV for a reproducible image.
# nooelint: oelint.vars.autorev
SRCREV ?= "${AUTOREV}"
# styhead and later unpack into UNPACKDIR; scarthgap has no UNPACKDIR and unpacks into WORKDIR.
UNPACKDIR ??= "${WORKDIR}"
S = "${UNPACKDIR}/git"

# The Rust crates of exi-codec-rs, generated with `bitbake -c update_crates josev` (cargo-update-recipe-crates).
require josev-crates.inc

# python_maturin (poky) builds the PEP 517 wheel with maturin; it pulls in cargo and python_pyo3 for the
# cross-compiled abi3 extension module josev._exi.
inherit python_maturin cargo-update-recipe-crates systemd useradd

# Where the Cargo workspace of the native module lives (the pyproject's tool.maturin manifest-path).
CARGO_SRC_DIR = "exi-codec-rs/python"

# all-in-one: josev.service runs every service and the broker in one process tree (smallest footprint).
# per-service: josev-broker.service + one josev-<service>.service per service, grouped by josev.target.
JOSEV_MODE ?= "all-in-one"
JOSEV_SERVICES ?= "system hal coordinator slac secc ocpp"
# A real-time priority (1..49) for the charging path, as `josev systemd install --realtime N` writes it: the
# charging units may set SCHED_RR up to it (LimitRTPRIO=, the broker's CPUSchedulingPolicy=rr) and station.toml
# says scheduling = "rr" (docs/deployment.md). Empty: normal scheduling, RestrictRealtime=yes everywhere.
JOSEV_REALTIME_PRIORITY ?= ""

FILES:${PN} += "${systemd_system_unitdir} ${sysconfdir}/josev"
CONFFILES:${PN} = "${sysconfdir}/josev/station.toml"

RDEPENDS:${PN} += "\
    mosquitto \
    python3-cbor2 \
    python3-click \
    python3-cryptography \
    python3-gpiod \
    python3-jsonschema \
    python3-modules \
    python3-ocpp \
    python3-paho-mqtt \
    python3-pydantic \
    python3-pydantic-settings \
    python3-pymodbus \
    python3-pyserial \
    python3-typer-slim \
    python3-websockets \
"

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/josev --no-create-home \
                       --shell ${base_sbindir}/nologin --user-group --groups dialout josev"

def josev_units(d):
    if d.getVar('JOSEV_MODE') == 'all-in-one':
        return 'josev.service'
    return ' '.join(['josev-broker.service'] + ['josev-%s.service' % s for s in d.getVar('JOSEV_SERVICES').split()])

SYSTEMD_PACKAGES = "${PN}"
SYSTEMD_SERVICE:${PN} = "josev.target ${@josev_units(d)}"
SYSTEMD_AUTO_ENABLE = "enable"

do_install:append() {
    units="${S}/josev/data/systemd"
    if [ "${JOSEV_MODE}" = "all-in-one" ]; then
        names="josev.service"
    else
        names="josev-broker.service"
        for s in ${JOSEV_SERVICES}; do names="$names josev-$s.service"; done
    fi
    install -d ${D}${systemd_system_unitdir}
    rt="${JOSEV_REALTIME_PRIORITY}"
    for n in $names josev.target; do
        realtime='s,^$,,'
        if [ -n "$rt" ]; then
            case $n in
                josev-broker.service)
                    realtime="s,^RestrictRealtime=yes\$,RestrictRealtime=no\nCPUSchedulingPolicy=rr\nCPUSchedulingPriority=$rt\nCPUSchedulingResetOnFork=yes," ;;
                josev.service|josev-hal.service|josev-coordinator.service|josev-slac.service|josev-secc.service)
                    realtime="s,^RestrictRealtime=yes\$,RestrictRealtime=no\nLimitRTPRIO=$rt," ;;
            esac
        fi
        sed -e 's,@JOSEV@,${bindir}/josev,g' \
            -e 's,@MOSQUITTO@,${sbindir}/mosquitto,g' \
            -e "s,@WANTS@,$(echo $names),g" \
            -e "$realtime" \
            $units/$n > ${D}${systemd_system_unitdir}/$n
        chmod 0644 ${D}${systemd_system_unitdir}/$n
    done
    install -d -m 0755 ${D}${sysconfdir}/josev
    if [ "${JOSEV_MODE}" = "all-in-one" ]; then manage=true; else manage=false; fi
    realtime='s,^$,,'
    if [ -n "$rt" ]; then
        realtime="s,^# scheduling = \"rr\"  ,scheduling = \"rr\"    ,;s,^# realtime_priority = 10,realtime_priority = $rt  ,"
    fi
    sed -e "s,@BROKER_MANAGE@,$manage,g" -e "s,@MODE_NOTE@,${JOSEV_MODE} deployment,g" -e "$realtime" \
        ${S}/josev/data/systemd/station.toml > ${D}${sysconfdir}/josev/station.toml
    chmod 0644 ${D}${sysconfdir}/josev/station.toml
}
