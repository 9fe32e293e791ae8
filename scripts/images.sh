#!/usr/bin/env bash
# `make images`: build the container image and the Lambda image for one platform (default: the host's),
# then print each image's size, what it adds above its base, and its layers (from `docker history`).
# Usage: scripts/images.sh [linux/amd64|linux/arm64]
set -euo pipefail
cd "$(dirname "$0")/.."

HOST_ARCH=$(dpkg --print-architecture)
PLATFORM=${1:-linux/$HOST_ARCH}
ARCH=${PLATFORM#linux/}
SUFFIX=$([[ $ARCH == "$HOST_ARCH" ]] && echo "" || echo "-$ARCH")
CONTAINER_TAG=sentiment-api:local$SUFFIX
LAMBDA_TAG=sentiment-api-lambda:local$SUFFIX

read -r python_base lambda_base < <(scripts/base-images.sh "$PLATFORM" | tail -1)

build() {
    local dockerfile=$1 base=$2 tag=$3
    echo "building $tag ($PLATFORM) from $dockerfile on $base" >&2
    # The classic builder: BuildKit's frontend would need a registry.
    DOCKER_BUILDKIT=0 docker build --quiet --platform "$PLATFORM" --build-arg BASE_IMAGE="$base" \
        -f "$dockerfile" -t "$tag" . >/dev/null
}

bytes() { docker image inspect -f '{{ .Size }}' "$1"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1e6 }'; }

report() {
    local tag=$1 base=$2 size base_size
    size=$(bytes "$tag")
    base_size=$(bytes "$base")
    echo
    echo "$tag: $(mb "$size"), $(mb $((size - base_size))) above its base $base ($(mb "$base_size"))"
    # The layers this image adds: every history entry newer than the base's own.
    docker history --no-trunc --format '{{ .Size }}\t{{ .CreatedBy }}' "$tag" \
        | head -n $(($(docker history -q "$tag" | wc -l) - $(docker history -q "$base" | wc -l))) \
        | awk -F'\t' '{ sub(/^\/bin\/sh -c (#\(nop\) )?/, "", $2); printf "  %8s  %.90s\n", $1, $2 }'
}

build container/Dockerfile "$python_base" "$CONTAINER_TAG"
build functions/Dockerfile "$lambda_base" "$LAMBDA_TAG"
report "$CONTAINER_TAG" "$python_base"
report "$LAMBDA_TAG" "$lambda_base"
