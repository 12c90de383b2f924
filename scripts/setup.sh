#!/usr/bin/env bash
# Set up everything josev needs on a Debian-like machine, idempotently:
#   system packages (mosquitto, iproute2, ...), a Python 3.11+ venv in .venv with the Python dependencies,
#   and the native EXI codec built by maturin (release).
# Usage: scripts/setup.sh [--peers]   (--peers also installs the independent test peers, see setup-peers.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- system packages -------------------------------------------------------------------------------------
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# the board install (scripts/board_install.py) strips native modules and builds cryptography on the system OpenSSL
command -v strip >/dev/null 2>&1 && command -v readelf >/dev/null 2>&1 || missing+=(binutils)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; } || missing+=(libssl-dev)
# the C client example (examples/c-client): a C compiler, make, libmosquitto (MQTT 5) and cJSON
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libmosquitto; } || missing+=(libmosquitto-dev)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libcjson; } || missing+=(libcjson-dev)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing ${missing[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        die "missing system packages: ${missing[*]}. Install them (e.g. sudo apt-get install ${missing[*]}) or run this as root."
    fi
fi
# The packaged mosquitto service is not ours: josev starts its own private broker.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    say "note: a system mosquitto is running; josev uses its own private broker and does not touch it"
fi

# --- Python ----------------------------------------------------------------------------------------------
PY=""
for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        PY=$(command -v "$cand"); break
    fi
done
[ -n "$PY" ] || die "Python 3.11 or newer is required (apt-get install python3)"
if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $PY"
    "$PY" -m venv .venv || die "could not create a venv (apt-get install python3-venv)"
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "maturin>=1.7,<2"

# --- Rust + the native module ----------------------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 || die "Rust (cargo) is required to build the EXI codec: install it with rustup (https://rustup.rs)"
say "building the native EXI codec and installing josev (editable) with its dependencies"
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop --release --extras dev,board,report -q 2>&1 | grep -v '^\s*$' | tail -n 3

if [ "${1:-}" = "--peers" ]; then
    scripts/setup-peers.sh
fi
say "ready: $(.venv/bin/josev version)"
