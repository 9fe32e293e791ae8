"""Compare FP32 and int8 ONNX models on a labeled TSV and write the serving folder's manifest.json."""

from __future__ import annotations

import datetime as dt
import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from inference.manifest import MANIFEST_FILE, describe_files, sha256_file
from inference.model import SentimentModel
from inference.settings import REPO_ROOT
from model_export.data import read_labeled_tsv
from model_export.export import PROVENANCE_FILE

TOOLS = ("onnxruntime", "tokenizers", "onnx", "optimum", "optimum-onnx", "transformers", "torch", "numpy")


def _latency_ms(model: SentimentModel, texts: list[str]) -> dict[str, float]:
    from tqdm import tqdm

    timings = []
    for text in tqdm(texts, desc="  single-text latency"):
        started = time.perf_counter()
        model.probabilities([text])
        timings.append((time.perf_counter() - started) * 1000)
    return {"p50": round(float(np.percentile(timings, 50)), 3), "p99": round(float(np.percentile(timings, 99)), 3)}


def portable_path(path: str | Path | None) -> str | None:
    """A path as any checkout can read it: relative to the repository, or an installed package and version."""
    if path is None or not Path(path).exists():  # absent, or a hub ID
        return None if path is None else str(path)
    resolved = Path(path).resolve()
    parts = resolved.parts
    if "site-packages" in parts:
        package, *rest = parts[parts.index("site-packages") + 1 :]
        distributions = metadata.packages_distributions().get(package, [package])
        return f"{distributions[0]}=={metadata.version(distributions[0])}:{package}/{'/'.join(rest)}"
    for root, prefix in ((REPO_ROOT, ""), (REPO_ROOT.parent, "../")):
        if resolved.is_relative_to(root):
            return prefix + str(resolved.relative_to(root))
    return str(path)


def tool_versions() -> dict[str, str]:
    """Installed versions of the tools that made and checked the model."""
    versions = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def compare(fp32_dir: Path, int8_dir: Path, data_tsv: Path, threads: int = 1) -> dict[str, Any]:
    """Accuracy of both models, label agreement, max probability difference and single-text latency."""
    data = read_labeled_tsv(data_tsv)
    labels = np.array(data.labels)
    results: dict[str, Any] = {
        "data": portable_path(data_tsv),
        "data_sha256": sha256_file(Path(data_tsv)),
        "examples": len(data),
    }
    probabilities = {}
    for kind, folder in (("fp32", fp32_dir), ("int8", int8_dir)):
        print(f"{kind}: {folder}")
        model = SentimentModel.from_files(Path(folder), threads=threads)
        label_index = {label.upper(): index for index, label in enumerate(model.info.labels)}
        positive = label_index.get("POSITIVE", 1)
        # The serving path (each text in a run of its own), so `predict_batch` reproduces these figures.
        probabilities[kind] = model.text_probabilities(data.texts)
        predicted_positive = probabilities[kind].argmax(axis=1) == positive
        results[f"{kind}_accuracy"] = round(float((predicted_positive == (labels == 1)).mean()), 4)
        results[f"{kind}_latency_ms"] = _latency_ms(model, data.texts)
        results["max_length"] = model.info.max_length
    results["label_agreement"] = round(
        float((probabilities["fp32"].argmax(axis=1) == probabilities["int8"].argmax(axis=1)).mean()), 4
    )
    results["max_probability_difference"] = round(float(np.abs(probabilities["fp32"] - probabilities["int8"]).max()), 4)
    return results


def _read_provenance(int8_dir: Path) -> dict[str, Any]:
    """What export and quantize recorded: their provenance file, or an earlier manifest when validating again."""
    provenance_path = int8_dir / PROVENANCE_FILE
    if provenance_path.is_file():
        provenance = json.loads(provenance_path.read_text())
        provenance_path.unlink()
        return provenance
    manifest_path = int8_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        return {}
    earlier = json.loads(manifest_path.read_text())
    return {
        "source_checkpoint": earlier.get("source_checkpoint"),
        "opset": earlier.get("export", {}).get("opset"),
        "training": earlier.get("training", {}),
        "quantization": earlier.get("quantization", {}),
    }


def write_manifest(int8_dir: Path, validation: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """Write ``manifest.json`` in ``int8_dir``: provenance, labels, validation, tool versions and file hashes."""
    int8_dir = Path(int8_dir)
    provenance = _read_provenance(int8_dir)
    config = json.loads((int8_dir / "config.json").read_text())
    files = describe_files(int8_dir)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    training = provenance.get("training", {})
    for key in ("base_checkpoint", "train_tsv", "output_dir"):
        if key in training:
            training[key] = portable_path(training[key])
    source = portable_path(provenance.get("source_checkpoint")) if provenance.get("source_checkpoint") else None
    manifest = {
        "name": name or int8_dir.name,
        "version": f"{created:%Y%m%d}-{files['model.onnx']['sha256'][:8]}",
        "created": created.isoformat(),
        "task": "text-classification",
        "labels": config["id2label"],
        "max_length": validation["max_length"],
        "base_model": training.get("base_checkpoint", source),
        "source_checkpoint": source,
        "training_data": training.get("train_tsv"),
        "training_data_sha256": training.get("train_tsv_sha256"),
        "seed": training.get("seed"),
        "training": training,
        "export": {"opset": provenance.get("opset")},
        "quantization": provenance.get("quantization", {}),
        "validation": validation,
        "tool_versions": tool_versions(),
        "files": files,
    }
    (int8_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
