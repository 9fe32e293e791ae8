#!/usr/bin/env bash
# `make lock`: one resolution of the runtime dependencies for both images, with hashes, for the images'
# Python (3.13) on every platform (x86_64 and arm64):
#   requirements/runtime.lock    the 'serve' and 'lambda' extras: the Lambda image installs it;
#   requirements/container.lock  the 'serve' extra, constrained to the same versions: the container image.
# Left out of both: huggingface-hub and what only it needs. tokenizers declares it for from_pretrained(),
# which serving never calls (the model's tokenizer.json is read from disk); that saves about 25 MB a
# image, and the image tests run the whole API without it.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
HUB_ONLY=(huggingface-hub hf-xet fsspec filelock tqdm httpx2 httpcore2 httpx2-jsfetch pyyaml)
omit=()
for package in "${HUB_ONLY[@]}"; do omit+=(--no-emit-package "$package"); done
compile() {
    "$UV" pip compile pyproject.toml --quiet --python-version 3.13 --universal --generate-hashes \
        --custom-compile-command "make lock" "${omit[@]}" "$@"
}
compile --extra serve --extra lambda -o requirements/runtime.lock
compile --extra serve --constraint requirements/runtime.lock -o requirements/container.lock
