"""What the image's model does alone: texts per second, batched, in a container of the same image and shape.

The ceiling a service on that shape could reach if HTTP, validation and the micro-batcher cost nothing: the
container runs the model as the service loads it (``inference.service.load_model`` with the image's settings)
and times ``predict_batch`` on batches of the service's ``micro_batch_max_size`` over the text set, best of a
few rounds. ``python -m loadtest capacity --target image-container --model-limit`` measures it in the same run
as the knee and prints knee / limit.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from loadtest.docker_cli import docker, docker_run_name_prefix
from loadtest.shapes import Shape, docker_run_flags
from loadtest.texts import text_set

MIN_TEXTS = 2000
ROUNDS = 3
SNIPPET = """
import json, sys, time
from inference.service import load_model
from inference.settings import Settings
settings = Settings()
model = load_model(settings)
texts = json.load(sys.stdin)
size = int(sys.argv[1])
batches = [texts[i:i + size] for i in range(0, len(texts), size)]
model.predict_batch(batches[0])
rates = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    for batch in batches:
        model.predict_batch(batch)
    rates.append(len(texts) / (time.perf_counter() - started))
print(json.dumps({"rates": rates, "texts": len(texts), "threads": settings.inference_threads}))
"""


def measure_model_limit(
    image: str, shape: Shape, texts_name: str, batch_size: int, count: int = MIN_TEXTS, rounds: int = ROUNDS
) -> dict[str, Any]:
    """Texts per second of the image's model alone on ``shape``'s CPUs and memory, in batches of ``batch_size``."""
    pool = list(text_set(texts_name))
    texts = (pool * (count // len(pool) + 1))[:count]
    name = f"{docker_run_name_prefix()}-modellimit-{uuid.uuid4().hex[:8]}"
    flags = ["--rm", "-i", "--name", name, "--network", "none", "--read-only", "--tmpfs", "/tmp"]
    flags += docker_run_flags(shape)
    command = ["run", *flags, "--entrypoint", "python", image, "-c", SNIPPET, str(batch_size), str(rounds)]
    done = subprocess.run(
        ["docker", *command], input=json.dumps(texts), capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        docker("image", "inspect", image)  # names a missing image or daemon first
        raise RuntimeError(f"timing the model in {image} failed: {done.stderr.strip()[-800:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "texts_per_s": round(max(result["rates"]), 3),
        "rounds_texts_per_s": [round(rate, 3) for rate in result["rates"]],
        "texts": result["texts"],
        "text_set": texts_name,
        "batch_size": batch_size,
        "inference_threads": result["threads"],
        "cpus": shape.cpus,
        "memory_mb": shape.memory_mb,
        "image": image,
        "how": f"predict_batch in batches of {batch_size}, best of {rounds} rounds, in `docker run` of the image",
    }
