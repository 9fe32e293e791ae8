"""Dynamic int8 quantization with onnxruntime, configured by optimum for the target CPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from inference.manifest import sha256_file
from model_export.export import PROVENANCE_FILE, SERVING_FILES

ARCHES = ("arm64", "x86")


def quantization_config(arch: str, per_channel: bool = True):
    """The optimum dynamic quantization config for ``arch``: Graviton (arm64) or AVX-512 VNNI (x86)."""
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    if arch == "arm64":
        return AutoQuantizationConfig.arm64(is_static=False, per_channel=per_channel)
    if arch == "x86":
        return AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=per_channel)
    raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHES)}")


def quantize_onnx(onnx_dir: Path | str, output_dir: Path | str, arch: str = "arm64", per_channel: bool = True) -> Path:
    """Quantize ``onnx_dir/model.onnx`` to int8 and write a serving folder ``output_dir`` with ``model.onnx``."""
    from optimum.onnxruntime import ORTQuantizer

    onnx_dir, output_dir = Path(onnx_dir), Path(output_dir)
    config = quantization_config(arch, per_channel)
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
        "fp32_onnx_sha256": sha256_file(onnx_dir / "model.onnx"),
    }
    (output_dir / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    return output_dir / "model.onnx"
