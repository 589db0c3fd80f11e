#!/usr/bin/env bash
# Build the Lambda image with podman from a Debian bookworm root filesystem made from Debian's
# packages (mmdebstrap), for machines that reach no image registry. Needs dist/ from
# deploy/build.sh and: apt-get install podman runc mmdebstrap uidmap
#   deploy/build_image.sh [image-tag]
# PODMAN_ROOT (default /tmp/yield-runway-podman) holds the image store and the base rootfs.
set -euo pipefail

cd "$(dirname "$0")/.."
TAG="${1:-yield-runway:latest}"
ROOT="${PODMAN_ROOT:-/tmp/yield-runway-podman}"
BASE=localhost/yield-runway-base:bookworm
mkdir -p "$ROOT"
# This sandbox cannot raise resource limits and crun rejects its cgroups: runc, fixed ulimits.
cat > "$ROOT/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$ROOT/containers.conf"
PODMAN=(podman --root "$ROOT/storage" --runroot "$ROOT/run")

if ! "${PODMAN[@]}" image exists "$BASE"; then
    if [ ! -f "$ROOT/bookworm.tar" ]; then
        mmdebstrap --variant=apt --include=python3,python3-venv,ca-certificates \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            bookworm "$ROOT/bookworm.tar" "deb http://deb.debian.org/debian bookworm main"
    fi
    "${PODMAN[@]}" import "$ROOT/bookworm.tar" "$BASE"
fi
# Labelled with the hash of what it installs, so a test can tell a stale image from a current one.
SOURCE="$(deploy/source_hash.sh)"
"${PODMAN[@]}" build --platform linux/amd64 --build-arg "BASE=$BASE" \
    --label "yield-runway.source=$SOURCE" -f deploy/Dockerfile -t "$TAG" .
"${PODMAN[@]}" image ls "$TAG"
