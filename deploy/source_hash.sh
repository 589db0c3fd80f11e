#!/usr/bin/env bash
# The SHA-256 of what the image installs from the working tree: the package source, the conf and
# the pinned dependencies. deploy/build_image.sh labels the image with it; tests/deploy compares.
set -euo pipefail
cd "$(dirname "$0")/.."
find src/yield_runway conf pyproject.toml deploy/Dockerfile -type f \
    ! -path '*/__pycache__/*' ! -path 'conf/local/*' ! -name '*.pyc' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
