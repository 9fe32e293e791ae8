#!/usr/bin/env bash
# Base images for `make images`. Each Dockerfile names its official base in `ARG BASE_IMAGE=...`; this
# script makes sure Docker has that image for the target platform:
#   1. already present locally, or `docker pull` works          -> the official base is used;
#   2. otherwise a stand-in is built here from Debian packages (mmdebstrap + docker import, no registry)
#      and tagged with the official name, with the label io.sentiment.stand-in naming what it is.
# A stand-in has Debian's Python of the same minor version, the build host's CA bundle (so pip reaches
# the package index through a TLS-intercepting proxy) and, for the Lambda base, what AWS's base has that
# the image relies on: awslambdaric, LAMBDA_TASK_ROOT=/var/task, the RIE and /lambda-entrypoint.sh.
# Usage: scripts/base-images.sh [linux/amd64|linux/arm64]   (default: the host's architecture)
set -euo pipefail
cd "$(dirname "$0")/.."

HOST_ARCH=$(dpkg --print-architecture)
PLATFORM=${1:-linux/$HOST_ARCH}
ARCH=${PLATFORM#linux/}
SUITE=trixie                                  # Debian 13: Python 3.13, the images' Python minor version
STAND_IN_LABEL=io.sentiment.stand-in
RIC_VERSION=4.2.2                             # awslambdaric in the stand-in Lambda base (AWS's base has its own)
RIE=$(ls .venv-sam/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-"${ARCH/amd64/x86_64}" 2>/dev/null | head -1 || true)

base_of() { sed -n 's/^ARG BASE_IMAGE=//p' "$1"; }
PYTHON_BASE=$(base_of container/Dockerfile)
LAMBDA_BASE=$(base_of functions/Dockerfile)

# The tag a base gets here: the official name on the host's architecture (so `sam build` and a plain
# `docker build` find it), the name with an architecture suffix for another architecture.
local_tag() { if [[ $ARCH == "$HOST_ARCH" ]]; then echo "$1"; else echo "$1-$ARCH"; fi; }

say() { printf '\033[1;33m%s\033[0m\n' "$*" >&2; }

have_official() {
    local tag=$1
    if docker image inspect "$tag" >/dev/null 2>&1; then
        return 0
    fi
    timeout 60 docker pull --platform "$PLATFORM" "$tag" >/dev/null 2>&1
}

stand_in_python() {
    local tag=$1 context
    context=$(mktemp -d)
    say "STAND-IN: $tag cannot be pulled; building it from Debian $SUITE packages ($ARCH)."
    mmdebstrap --quiet --arch="$ARCH" --variant=minbase --include=python3,python3-venv,ca-certificates \
        --customize-hook='copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs' \
        --customize-hook='chroot "$1" ln -sf /usr/bin/python3 /usr/local/bin/python' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        "$SUITE" "$context/rootfs.tar"
    # A build FROM scratch, not `docker import`: import records the host's architecture whatever
    # --platform says, and an arm64 base must say arm64.
    cat >"$context/Dockerfile" <<DOCKERFILE
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
LABEL $STAND_IN_LABEL="debian-$SUITE python3 (for $tag)"
CMD ["python3"]
DOCKERFILE
    DOCKER_BUILDKIT=0 docker build --quiet --platform "$PLATFORM" -t "$tag" "$context" >/dev/null
    rm -rf "$context"
}

stand_in_lambda() {
    local tag=$1 python_tag=$2 context
    [[ -n $RIE ]] || { echo "error: the Lambda stand-in needs the RIE from .venv-sam (run: make .venv-sam/bin/sam)" >&2; exit 1; }
    say "STAND-IN: $tag cannot be pulled; building it on $python_tag with awslambdaric $RIC_VERSION and AWS's RIE."
    context=$(mktemp -d)
    cp "$RIE" "$context/aws-lambda-rie"
    cat >"$context/lambda-entrypoint.sh" <<'SH'
#!/bin/sh
# Stand-in for the entry point of AWS's Lambda base images: the handler is the only argument; outside
# Lambda (no AWS_LAMBDA_RUNTIME_API) the Runtime Interface Emulator runs the runtime client.
[ $# -eq 1 ] || { echo "usage: /lambda-entrypoint.sh <module.handler>" >&2; exit 142; }
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    exec /usr/local/bin/aws-lambda-rie /var/lang/bin/python3 -m awslambdaric "$1"
fi
exec /var/lang/bin/python3 -m awslambdaric "$1"
SH
    chmod 755 "$context/aws-lambda-rie" "$context/lambda-entrypoint.sh"
    cat >"$context/Dockerfile" <<DOCKERFILE
FROM $python_tag
RUN python -m venv /var/lang && /var/lang/bin/pip install --no-cache-dir --disable-pip-version-check awslambdaric==$RIC_VERSION
COPY aws-lambda-rie /usr/local/bin/aws-lambda-rie
COPY lambda-entrypoint.sh /lambda-entrypoint.sh
ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin
LABEL $STAND_IN_LABEL="debian-$SUITE python3 + awslambdaric $RIC_VERSION (for $tag)"
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
DOCKERFILE
    DOCKER_BUILDKIT=0 docker build --quiet --platform "$PLATFORM" -t "$tag" "$context" >/dev/null
    rm -rf "$context"
}

describe() {
    local tag=$1 label
    label=$(docker image inspect -f "{{ index .Config.Labels \"$STAND_IN_LABEL\" }}" "$tag" 2>/dev/null || true)
    if [[ -n $label && $label != "<no value>" ]]; then
        say "base $tag is a STAND-IN: $label; Python $(docker run --rm --platform "$PLATFORM" --entrypoint python3 "$tag" -c 'import platform; print(platform.python_version())')"
    else
        echo "base $tag: official image" >&2
    fi
}

python_tag=$(local_tag "$PYTHON_BASE")
lambda_tag=$(local_tag "$LAMBDA_BASE")
have_official "$python_tag" || stand_in_python "$python_tag"
have_official "$lambda_tag" || stand_in_lambda "$lambda_tag" "$python_tag"
describe "$python_tag"
describe "$lambda_tag"
# The resolved tags, for the caller: BASE_IMAGE build arguments of container/Dockerfile and functions/Dockerfile.
echo "$python_tag $lambda_tag"
