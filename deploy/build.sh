#!/usr/bin/env bash
# Build the deployable artefacts: the wheel, the conf archive, the wheels of the runtime
# dependencies and the API's Lambda zip (always), then the container image of the hourly run
# where podman or Docker runs.
#   deploy/build.sh [image-tag]        # default tag: yield-runway:latest
set -euo pipefail

cd "$(dirname "$0")/.."
TAG="${1:-yield-runway:latest}"
KEDRO="${KEDRO:-kedro}"
PYTHON="${PYTHON:-python3}"
export KEDRO_DISABLE_TELEMETRY=1

rm -rf dist
"$KEDRO" package
rm -rf build  # setuptools' scratch folder
# The image installs from these only (offline): the pinned runtime set plus Lambda's client.
"$PYTHON" -m pip wheel --quiet --wheel-dir dist/wheels dist/yield_runway-*.whl "awslambdaric==4.2.2"
echo "Built: $(ls dist/*.whl), dist/conf-yield_runway.tar.gz, $(ls dist/wheels | wc -l) wheels"
# The HTTP API's zip (python3.12 runtime), from the wheel just built.
PYTHON="$PYTHON" deploy/build_zip.sh dist/yield_runway-*.whl dist/api-lambda.zip

if command -v podman >/dev/null 2>&1; then
    deploy/build_image.sh "$TAG"
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    docker build --platform linux/amd64 -f deploy/Dockerfile -t "$TAG" .
    echo "Built image $TAG; push it to ECR and deploy with: cd deploy && serverless deploy"
else
    echo "No podman or Docker here: skipped the image build. dist/ holds what it installs;"
    echo "run this script where one runs (apt-get install podman runc mmdebstrap uidmap)."
fi
