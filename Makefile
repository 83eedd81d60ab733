# rwclip: two commands for a fresh machine.
#   make demo   runs the main job (jobs/demo.toml) on the local filesystem store
#   make test   passes every test
# Each bootstraps what it needs on first use and is quick once done.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Python venv lives outside the repo: it holds libtorch for tch (the PyPI
# torch wheel) and the reference implementations the parity tests compare to.
VENV ?= $(HOME)/.cache/rwclip/venv
HOST_PYTHON ?= python3
REQS := tools/python-requirements.txt
VENV_STAMP := $(VENV)/.rwclip-requirements.txt
# Bump the suffix whenever the package list below changes, so machines that
# bootstrapped with an older list install the new packages too.
SYSTEM_STAMP := $(HOME)/.cache/rwclip/.system-packages-v5
CARGO ?= cargo
# A fresh clone builds everything once: incremental state would only add
# gigabytes of disk (a CI run once died in the linker on a full disk).
ifdef CI
export CARGO_INCREMENTAL := 0
endif
REFERENCE_DIR := target/reference
# anomalib's WinCLIP, the reference for rwclip's, needs open_clip < 2.26.1 and
# would pull lightning through its package __init__s: it lives in its own
# folder (no dependencies installed), put first on the path of the child
# Python that tests/reference/_winclip_anomalib.py runs in.
WINCLIP_ENV ?= $(HOME)/.cache/rwclip/winclip-reference
WINCLIP_STAMP := $(WINCLIP_ENV)/.rwclip-anomalib-2.7.0-open-clip-2.24.0
export RWCLIP_WINCLIP_ENV := $(WINCLIP_ENV)
REFERENCE_SCRIPTS := $(wildcard tests/reference/*.py)
REFERENCE_STAMPS := $(patsubst tests/reference/%.py,$(REFERENCE_DIR)/%/.done,$(filter-out tests/reference/_%,$(REFERENCE_SCRIPTS)))

.PHONY: help bootstrap build demo test bench reference clean-reference layers

help:
	@echo "make demo   run the demo job (synthetic MVTec-layout data, 10 seeds) into ./runs/"
	@echo "make test   run every test (parity with open_clip and scikit-learn, S3, CLI)"

# One pinned pip command for torch, torchvision and open-clip-torch together:
# installing open-clip-torch on its own would upgrade torch under tch's feet.
$(VENV_STAMP): $(REQS) | $(SYSTEM_STAMP)
	@set -e; \
	if [ ! -x "$(VENV)/bin/python" ]; then \
	  echo "bootstrap: creating venv $(VENV)"; \
	  $(HOST_PYTHON) -m venv "$(VENV)"; \
	fi; \
	echo "bootstrap: installing pinned Python packages (first time: a few minutes, ~5 GB)"; \
	"$(VENV)/bin/python" -m pip install -q --disable-pip-version-check -r $(REQS); \
	"$(VENV)/bin/python" -c "import torch, open_clip; assert torch.__version__.split('+')[0] == '2.11.0', torch.__version__; print('bootstrap: torch', torch.__version__, 'open_clip', open_clip.__version__)"; \
	cp $(REQS) $(VENV_STAMP)

# System packages: nasm lets mozjpeg-sys build libjpeg-turbo's SIMD decoder
# (same output, faster); python3-venv for the venv; slurm-wlm and munge for the
# test that runs deploy/slurm/rwclip.sbatch on a real one-node Slurm cluster;
# docker.io, debootstrap and patchelf for the test that builds deploy/Dockerfile
# on a debootstrapped Debian base and runs the image; chromium for the dashboard's
# headless-browser test; GNU time for `make bench`'s peak RSS; FFmpeg's
# development libraries (and clang for ffmpeg-sys' bindgen) for the video
# decoder, and the ffmpeg CLI that makes test footage. Installed only if missing.
$(SYSTEM_STAMP):
	@set -e; missing=""; \
	command -v nasm >/dev/null || missing="$$missing nasm"; \
	$(HOST_PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	[ -x /usr/sbin/slurmctld ] || command -v slurmctld >/dev/null || missing="$$missing slurm-wlm"; \
	[ -x /usr/sbin/munged ] || command -v munged >/dev/null || missing="$$missing munge"; \
	[ -x /usr/sbin/dockerd ] || missing="$$missing docker.io"; \
	[ -x /usr/sbin/debootstrap ] || missing="$$missing debootstrap"; \
	command -v patchelf >/dev/null || missing="$$missing patchelf"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/time ] || missing="$$missing time"; \
	pkg-config --exists libavcodec libavformat libavutil libswscale 2>/dev/null || missing="$$missing pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev"; \
	ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || missing="$$missing clang libclang-dev"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	if [ -n "$$missing" ]; then \
	  echo "bootstrap: apt-get install$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	mkdir -p $(dir $@) && touch $@

# Symlinks that .cargo/config.toml points at, so cargo needs no exported variables.
.venv: $(VENV_STAMP)
	@ln -sfn "$(VENV)" .venv
.libtorch: $(VENV_STAMP)
	@ln -sfn "$$("$(VENV)/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')" .libtorch

bootstrap: .venv .libtorch

build: bootstrap
	$(CARGO) build --release --workspace --bins

# Reference outputs from open_clip / scikit-learn, one folder per script,
# regenerated only when the script changes.
$(REFERENCE_DIR)/%/.done: tests/reference/%.py tests/reference/_common.py | bootstrap
	@echo "reference: $*"
	@rm -rf $(REFERENCE_DIR)/$* && mkdir -p $(REFERENCE_DIR)/$*
	@.venv/bin/python $< --out $(REFERENCE_DIR)/$*
	@touch $@

$(WINCLIP_STAMP): | $(VENV_STAMP)
	@echo "bootstrap: anomalib 2.7.0 + open-clip-torch 2.24.0 (no dependencies) into $(WINCLIP_ENV)"
	@rm -rf "$(WINCLIP_ENV)"
	@"$(VENV)/bin/python" -m pip install -q --disable-pip-version-check --no-deps --target "$(WINCLIP_ENV)" anomalib==2.7.0 open-clip-torch==2.24.0
	@touch $@

$(REFERENCE_DIR)/winclip/.done: $(WINCLIP_STAMP) tests/reference/_winclip_anomalib.py tests/reference/_anomalib_winclip.py tests/reference/clip_tiny.py
$(REFERENCE_DIR)/windows/.done: tests/reference/clip_tiny.py

reference: $(REFERENCE_STAMPS)

clean-reference:
	rm -rf $(REFERENCE_DIR)

# Each crate may depend only on what its layer allows (docs/architecture.md);
# the self-test first proves the check reports a planted violation.
layers:
	@$(HOST_PYTHON) tools/check_layers.py --self-test
	@$(HOST_PYTHON) tools/check_layers.py

# Most suites wait on processes, an S3 server and timeouts rather than
# compute, so they run on at least 4 test threads even on 2 cores.
TEST_THREADS ?= $(shell n=$$(nproc); [ $$n -lt 4 ] && echo 4 || echo $$n)

test: layers build reference
	$(CARGO) test --release --workspace -- --test-threads=$(TEST_THREADS)

# rwclip against open_clip / PyTorch on the same inputs, reported as ratios;
# then scale (worker RSS, planning 10M rows) and coordinator round trips.
bench: build $(REFERENCE_DIR)/winclip/.done
	$(CARGO) build --release -p rwclip-coordinator --bin rwclip-coordinator
	$(CARGO) bench -p rwclip-worker --bench speed
	$(CARGO) bench -p rwclip-worker --bench pipeline
	$(CARGO) bench -p rwclip-worker --bench scale
	$(CARGO) bench -p rwclip-worker --bench maps
	$(CARGO) bench -p rwclip-worker --bench video
	$(CARGO) bench -p rwclip-coordinator --bench lease_roundtrip

demo: build
	./target/release/rwclip run jobs/demo.toml
