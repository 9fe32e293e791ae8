"""DistilBERT checkpoints with random weights, built from a config: for timing and for offline tests.

Their predictions mean nothing; their shapes and operators are those of the real architecture, so
latency and throughput measured on them are real. The tokenizer is the uncased BERT WordPiece
tokenizer shipped with the base checkpoint (the vocabulary DistilBERT-base-uncased uses).
"""

from __future__ import annotations

import json
from pathlib import Path

from model_export.train import LABELS, default_base_checkpoint

SIZES = {
    "base": {},  # DistilBertConfig defaults: 6 layers, 768 hidden, 12 heads (66M parameters)
    "tiny": {"n_layers": 2, "dim": 32, "hidden_dim": 64, "n_heads": 2, "max_position_embeddings": 128},
}


def build_random_distilbert(output_dir: Path | str, size: str = "base", seed: int = 0) -> Path:
    """Save a randomly initialised DistilBERT sequence classifier of ``size`` with a BERT uncased tokenizer."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    torch.manual_seed(seed)
    output_dir = Path(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(default_base_checkpoint())
    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size,
        num_labels=len(LABELS),
        id2label=LABELS,
        label2id={label: index for index, label in LABELS.items()},
        **SIZES[size],
    )
    model = DistilBertForSequenceClassification(config).eval()
    model.save_pretrained(output_dir)
    tokenizer.model_max_length = config.max_position_embeddings
    tokenizer.save_pretrained(output_dir)
    note = {"random_weights": True, "architecture": "DistilBERT", "size": size, "seed": seed}
    (output_dir / "training.json").write_text(json.dumps(note, indent=2) + "\n")
    return output_dir
