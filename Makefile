# josev: the two commands are `make demo` (set up + run the main job) and `make test` (set up + every check).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: help setup peers demo test test-fast test-py test-rust lint fmt docs api bench clean dist dist-test yocto-check

help:
	@echo "make demo   - set everything up, then run the full simulated charging demo"
	@echo "make test   - set everything up, then run every check and test (Python + Rust); what CI runs"
	@echo "make test-fast - the fast tier only (no broker, process, namespace or peer; under a minute)"
	@echo "make lint   - ruff, mypy --strict, cargo fmt --check, cargo clippy"
	@echo "make docs   - build the documentation site (mkdocs --strict)"
	@echo "make bench  - run the benchmarks and print figures"
	@echo "make api    - regenerate the AsyncAPI document and JSON Schemas"
	@echo "make dist   - cross-built abi3 wheels for armv7, aarch64, i686, x86_64 (glibc 2.17) in dist/"
	@echo "make dist-test - test each wheel in a Debian root of its architecture (qemu-user; i386 natively)"
	@echo "make yocto-check - oelint-adv + bitbake -g josev of the Yocto layer (needs ../shared/yocto)"

setup:
	@scripts/setup.sh

peers: setup
	@scripts/setup-peers.sh

demo: setup
	$(VENV)/bin/josev demo

test: peers
	@scripts/test.sh

test-fast: setup
	$(PY) -m pytest -m fast -q

test-py: setup
	$(PY) -m pytest

test-rust:
	cargo test --workspace --release -q

lint: setup
	$(VENV)/bin/ruff check josev hal tests bench scripts
	$(VENV)/bin/ruff format --check josev hal tests bench scripts
	$(VENV)/bin/mypy josev hal scripts/board_install.py
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -q -- -D warnings

fmt: setup
	$(VENV)/bin/ruff format josev hal tests bench scripts
	$(VENV)/bin/ruff check --fix josev hal tests bench scripts
	cargo fmt --all

docs: setup
	$(VENV)/bin/mkdocs build --strict -q

api: setup
	$(VENV)/bin/josev api asyncapi --out docs/api

bench: setup
	$(PY) -m bench

dist:
	@scripts/dist.sh

dist-test: dist
	@scripts/dist-test.sh

yocto-check:
	@scripts/yocto-check.sh

clean:
	rm -rf target site dist .venv .venv-peers .venv-dist .mypy_cache .ruff_cache .pytest_cache
