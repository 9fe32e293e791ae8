"""Export a Hugging Face sequence-classification checkpoint to ONNX with optimum."""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_HUB_ID = "distilbert-base-uncased-finetuned-sst-2-english"
DEFAULT_OPSET = 17
# Files a serving model folder keeps next to model.onnx; everything else optimum writes is left behind.
SERVING_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json")
# Where each step records what it did; `validate` folds it into manifest.json.
PROVENANCE_FILE = "provenance.json"


def export_onnx(checkpoint: str, output_dir: Path | str, opset: int = DEFAULT_OPSET) -> Path:
    """Export ``checkpoint`` (a local folder or a hub ID) to ``output_dir/model.onnx`` (FP32) and copy its tokenizer.

    The export is checked against PyTorch by optimum's own validation (``do_validation=True``).
    """
    from optimum.exporters.onnx import main_export

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    local = Path(checkpoint).is_dir()
    main_export(
        checkpoint,
        output=output_dir,
        task="text-classification",
        opset=opset,
        local_files_only=local,
        library_name="transformers",
        do_validation=True,
    )
    provenance = {"source_checkpoint": checkpoint, "opset": opset}
    training_info = Path(checkpoint) / "training.json"
    if local and training_info.is_file():
        provenance["training"] = json.loads(training_info.read_text())
    (output_dir / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    return output_dir / "model.onnx"
