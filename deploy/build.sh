#!/usr/bin/env bash
# Build the deployable artefacts: the wheel and conf archive (`kedro package`, always) and the
# Lambda container image (only where a Docker engine is available).
#   deploy/build.sh [image-tag]        # default tag: yield-runway:latest
set -euo pipefail

cd "$(dirname "$0")/.."
TAG="${1:-yield-runway:latest}"
KEDRO="${KEDRO:-kedro}"
export KEDRO_DISABLE_TELEMETRY=1

rm -rf dist
"$KEDRO" package
rm -rf build  # setuptools' scratch folder
echo "Built: $(ls dist/*.whl) and dist/conf-yield_runway.tar.gz"

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    docker build --platform linux/amd64 -f deploy/Dockerfile -t "$TAG" .
    echo "Built image $TAG; push it to ECR and deploy with: cd deploy && serverless deploy"
else
    echo "No Docker engine here: skipped the image build. The wheel and conf archive are in dist/;"
    echo "run this script where Docker runs to build the image (docker build -f deploy/Dockerfile .)."
fi
