"""Dynamic int8 quantization with onnxruntime, configured by optimum for the target CPU."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from inference.manifest import sha256_file
from model_export.export import PROVENANCE_FILE, SERVING_FILES

ARCHES = ("arm64", "x86")


def quantization_config(arch: str, per_channel: bool = True, nodes_to_exclude: list[str] | None = None):
    """The optimum dynamic quantization config for ``arch``: Graviton (arm64) or AVX-512 VNNI (x86)."""
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    options = {"is_static": False, "per_channel": per_channel, "nodes_to_exclude": nodes_to_exclude or []}
    if arch == "arm64":
        return AutoQuantizationConfig.arm64(**options)
    if arch == "x86":
        return AutoQuantizationConfig.avx512_vnni(**options)
    raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHES)}")


def matching_nodes(onnx_path: Path, pattern: str) -> list[str]:
    """Names of the graph's nodes that ``pattern`` (a regular expression) finds; an error when none does."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    names = [node.name for node in graph.node if re.search(pattern, node.name)]
    if not names:
        raise ValueError(f"--exclude-nodes {pattern!r} matches no node of {onnx_path}")
    return names


def quantize_onnx(
    onnx_dir: Path | str,
    output_dir: Path | str,
    arch: str = "arm64",
    per_channel: bool = True,
    exclude_nodes: str | None = None,
) -> Path:
    """Quantize ``onnx_dir/model.onnx`` to int8 and write a serving folder ``output_dir`` with ``model.onnx``.

    ``exclude_nodes`` is a regular expression over node names: those nodes stay FP32. Dynamic quantization
    scales each activation tensor as a whole, which suits some inputs badly (attention scores, LayerNorm
    outputs with outlier channels); keeping a few such MatMuls in FP32 buys agreement with the FP32 model.
    """
    from optimum.onnxruntime import ORTQuantizer

    onnx_dir, output_dir = Path(onnx_dir), Path(output_dir)
    excluded = matching_nodes(onnx_dir / "model.onnx", exclude_nodes) if exclude_nodes else []
    config = quantization_config(arch, per_channel, excluded)
    quantizer = ORTQuantizer.from_pretrained(onnx_dir, file_name="model.onnx")
    scratch = output_dir / ".quantize"
    quantizer.quantize(save_dir=scratch, quantization_config=config)
    output_dir.mkdir(parents=True, exist_ok=True)
    (scratch / "model_quantized.onnx").replace(output_dir / "model.onnx")
    shutil.rmtree(scratch)
    for name in SERVING_FILES:
        if (onnx_dir / name).is_file():
            shutil.copy2(onnx_dir / name, output_dir / name)
    provenance_path = onnx_dir / PROVENANCE_FILE
    provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
    provenance["quantization"] = {
        "method": "dynamic",
        "arch": arch,
        "per_channel": per_channel,
        "activations": config.activations_dtype.name,
        "weights": config.weights_dtype.name,
        "operators": list(config.operators_to_quantize),
        "exclude_nodes": exclude_nodes,
        "fp32_nodes": excluded,
        "fp32_onnx_sha256": sha256_file(onnx_dir / "model.onnx"),
    }
    (output_dir / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    return output_dir / "model.onnx"
