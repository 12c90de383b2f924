#!/usr/bin/env bash
# Independent peers used only by the tests (never imported by josev):
#   .venv-peers: PyPI `iso15118` (the open-source Josev EVCC/SECC with its EXIficient jar; needs Java 17)
#   tests/ocpp/peers/node_modules: npm `ocpp-rpc` (strict schema-checking OCPP server)
#   tests/product/asyncapi/node_modules: npm `@asyncapi/parser` (validates the bus's AsyncAPI document)
#   examples/c-client/node_modules: npm `quicktype` (generates the C example's message types)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[peers]\033[0m %s\n' "$*"; }

PY=.venv/bin/python
if [ ! -x .venv-peers/bin/python ]; then
    say "creating .venv-peers"
    "$(readlink -f .venv/bin/python)" -m venv .venv-peers
fi
if ! .venv-peers/bin/python -c 'import iso15118' >/dev/null 2>&1; then
    say "installing iso15118 into .venv-peers"
    .venv-peers/bin/python -m pip install -q --upgrade pip
    .venv-peers/bin/python -m pip install -q -r tests/peers/requirements-peers.txt
fi
if command -v npm >/dev/null 2>&1 && [ -f tests/ocpp/peers/package.json ]; then
    if [ ! -d tests/ocpp/peers/node_modules ]; then
        say "installing ocpp-rpc (npm)"
        (cd tests/ocpp/peers && npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent)
    fi
fi
if command -v npm >/dev/null 2>&1 && [ -f tests/product/asyncapi/package.json ]; then
    if [ ! -d tests/product/asyncapi/node_modules ]; then
        say "installing @asyncapi/parser (npm) to validate docs/api/asyncapi.json"
        (cd tests/product/asyncapi && npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent)
    fi
fi
if command -v npm >/dev/null 2>&1 && [ -f examples/c-client/package.json ]; then
    if [ ! -d examples/c-client/node_modules ]; then
        say "installing quicktype (npm) for the C client example"
        (cd examples/c-client && npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent)
    fi
fi
# tshark reads back the pcapng exports in the tests (they skip without it).
if ! command -v tshark >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing tshark (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    apt-get install -y -qq --no-install-recommends tshark >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends tshark >/dev/null; } || say "note: could not install tshark"
fi
# chromium drives the HTML pages (the conformance report, the live view) headless in the tests (tests/browser.py).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium (apt-get) for the headless-browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || say "note: could not install chromium: the browser tests will be skipped"
fi
command -v java >/dev/null 2>&1 || say "note: no java: EXIficient differential tests will be skipped"
