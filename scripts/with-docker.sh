#!/usr/bin/env bash
# Run a command with a Docker daemon: install Docker (and mmdebstrap and arch-test, for stand-in bases) when absent,
# start dockerd when none answers, and stop only the daemon this script started.
# Usage: scripts/with-docker.sh make test-images
set -euo pipefail
SUDO=$([[ $(id -u) == 0 ]] || echo sudo)

install() {
    $SUDO apt-get install -y "$@" >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y "$@" >/dev/null; }
}

command -v dockerd >/dev/null || { echo "installing docker.io" >&2; install docker.io; }
command -v mmdebstrap >/dev/null || { echo "installing mmdebstrap" >&2; install mmdebstrap; }
# mmdebstrap needs arch-test to build a stand-in base for another architecture (under QEMU).
command -v arch-test >/dev/null || { echo "installing arch-test" >&2; install arch-test; }

started=""
if ! docker info >/dev/null 2>&1; then
    log=$(mktemp -t dockerd.XXXXXX.log)
    $SUDO dockerd >"$log" 2>&1 &
    started=$!
    trap 'echo "stopping the dockerd this script started (pid $started)" >&2; $SUDO kill "$started"; wait "$started" || true' EXIT
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "error: dockerd did not start; its log: $log" >&2; tail -20 "$log" >&2; exit 1; }
    echo "started dockerd (pid $started, log $log)" >&2
fi
"$@"
