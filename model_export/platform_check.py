"""``python -m model_export validate-arm64``: the int8 model on Graviton's instruction set, under emulation.

ONNX Runtime's int8 kernels differ by architecture, so the figures users deploy on (arm64) are measured
there: the dev set runs through the model inside the arm64 service image (``make images
PLATFORM=linux/arm64``) under QEMU user emulation, with a Graviton CPU model (``QEMU_CPU``, such as
``neoverse-n1``, Graviton2: no SME, whose kernels have given wrong answers under emulation), and through
the same model on this machine in the same run. ``manifest.json`` records, under ``validation.arm64``, the
arm64 accuracy (against the x86_64 accuracy the release was validated with, and this machine's), its label
agreement with this machine's and the largest probability difference, with the ONNX Runtime version, the
emulated CPU and the QEMU that ran it.

The agreement is only as good as this machine's reference: on x86_64 without AVX-512 VNNI (or AVX-VNNI),
ONNX Runtime's u8s8 kernels use VPMADDUBSW, which can saturate (ONNX Runtime's quantization docs), so such a
machine disagrees with arm64 and with a VNNI machine more than those two do with each other. The host's
CPU and whether it has VNNI are recorded.
"""

from __future__ import annotations

import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from inference.manifest import sha256_file
from inference.model import SentimentModel
from model_export.data import read_labeled_tsv
from model_export.validate import portable_path

BINFMT_ENTRY = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
# The bar the manifest's arm64 figures meet (tests/test_bundled_model.py checks it).
MIN_AGREEMENT = 0.995
MAX_ACCURACY_GAP = 0.005

# Runs inside the image: the serving core's predictions (each text alone), probabilities as JSON on stdout.
IN_IMAGE = """
import json, sys
from pathlib import Path
import onnxruntime
from inference.model import SentimentModel
model = SentimentModel.from_files(Path("/model"))
texts = json.loads(Path("/io/texts.json").read_text())
probabilities = model.text_probabilities(texts)
print(json.dumps({"onnxruntime": onnxruntime.__version__, "machine": __import__("platform").machine(),
                  "labels": list(model.info.labels), "probabilities": probabilities.tolist()}))
"""


class PlatformCheckError(RuntimeError):
    """The emulated run did not produce probabilities; the message says why."""


def qemu_version() -> str:
    """The version of the QEMU registered for aarch64 binaries in binfmt_misc ('' when none is)."""
    if not BINFMT_ENTRY.is_file():
        return ""
    interpreter = next(
        (line.split(" ", 1)[1] for line in BINFMT_ENTRY.read_text().splitlines() if line.startswith("interpreter ")),
        "",
    )
    if not interpreter:
        return ""
    done = subprocess.run([interpreter, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.splitlines()[0] if done.stdout else ""


def emulated_probabilities(model_dir: Path, texts: list[str], image: str, cpu: str) -> dict[str, Any]:
    """Probabilities of ``texts`` from the model in ``image`` run as linux/arm64 under QEMU with ``cpu``."""
    with tempfile.TemporaryDirectory() as io_dir:
        (Path(io_dir) / "texts.json").write_text(json.dumps(texts))
        # The image runs as a non-root user: it must be able to read what it is given.
        Path(io_dir).chmod(0o755)
        (Path(io_dir) / "texts.json").chmod(0o644)
        command = [
            "docker", "run", "--rm", "--platform", "linux/arm64", "--network", "none", "--no-healthcheck",
            "-e", f"QEMU_CPU={cpu}",
            "-v", f"{model_dir.resolve()}:/model:ro", "-v", f"{io_dir}:/io:ro",
            "--entrypoint", "python", image, "-c", IN_IMAGE,
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
        except FileNotFoundError:
            raise PlatformCheckError("docker is not installed (scripts/with-docker.sh installs it)") from None
    if done.returncode != 0:
        raise PlatformCheckError(f"the arm64 run failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if found["machine"] != "aarch64":
        raise PlatformCheckError(f"{image} ran as {found['machine']}, not aarch64: is it an arm64 image?")
    return found


def check_arm64(model_dir: Path, data_tsv: Path, image: str, cpu: str) -> dict[str, Any]:
    """The arm64 figures of the int8 model in ``model_dir`` against this machine's, on ``data_tsv``."""
    data = read_labeled_tsv(data_tsv)
    labels = np.array(data.labels)
    local_model = SentimentModel.from_files(model_dir)
    positive = [label.upper() for label in local_model.info.labels].index("POSITIVE")
    local = local_model.text_probabilities(data.texts)
    started = time.monotonic()
    emulated = emulated_probabilities(model_dir, data.texts, image, cpu)
    took = time.monotonic() - started
    arm64 = np.array(emulated["probabilities"])

    def accuracy(probabilities: np.ndarray) -> float:
        return round(float(((probabilities.argmax(axis=1) == positive) == (labels == 1)).mean()), 4)

    import onnxruntime

    release = json.loads((model_dir / "manifest.json").read_text()).get("validation", {})
    return {
        "data": portable_path(data_tsv),
        "data_sha256": sha256_file(data_tsv),
        "examples": len(data),
        "accuracy": accuracy(arm64),
        # The x86_64 figure the release was validated with (``validate``), and this machine's in this run.
        "x86_64_release_accuracy": release.get("int8_accuracy"),
        "host_accuracy": accuracy(local),
        "host": f"{platform.machine()} {_cpu_name()}, onnxruntime {onnxruntime.__version__}",
        "label_agreement_with_host": round(float((arm64.argmax(axis=1) == local.argmax(axis=1)).mean()), 4),
        "max_probability_difference": round(float(np.abs(arm64 - local).max()), 4),
        "onnxruntime": emulated["onnxruntime"],
        "emulated_cpu": cpu,
        "emulator": qemu_version(),
        "image": image,
        "emulated_seconds": round(took, 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": f"python -m model_export validate-arm64 --int8 {portable_path(model_dir)}",
    }


def _cpu_name() -> str:
    """This machine's CPU model and whether it has AVX-512 VNNI (x86 int8 kernels differ with it)."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    name = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    return f"{name} ({'VNNI' if 'avx512_vnni' in cpuinfo else 'no VNNI'})"


def meets_bar(figures: dict[str, Any]) -> list[str]:
    """What in ``figures`` misses the bar (empty when it meets it)."""
    problems = []
    if figures["label_agreement_with_host"] < MIN_AGREEMENT:
        problems.append(f"label agreement {figures['label_agreement_with_host']:.4f} < {MIN_AGREEMENT}")
    reference = figures.get("x86_64_release_accuracy") or figures["host_accuracy"]
    if abs(figures["accuracy"] - reference) > MAX_ACCURACY_GAP:
        gap = abs(figures["accuracy"] - reference) * 100
        problems.append(f"accuracy {figures['accuracy']:.4f} is {gap:.2f} points from x86_64's {reference:.4f}")
    return problems


def record(model_dir: Path, figures: dict[str, Any]) -> Path:
    """Write ``figures`` into ``manifest.json`` under ``validation.arm64`` (nothing else changes)."""
    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.setdefault("validation", {})["arm64"] = figures
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
