"""``make bench``: single-text latency and batch-32 throughput of the seed-style baseline and the ONNX models.

All rows run in one process, on the same SST-2 dev sentences, with the same thread count:

(a) PyTorch FP32 DistilBERT-base, tokenized to 512 with padding like a naive server (the baseline);
(a') the same model with dynamic padding, to show what padding alone costs;
(b) the same DistilBERT-base as ONNX int8 through the inference core (runtime + quantization + dynamic padding);
(c) the bundled model's architecture as ONNX FP32 (the real FP32 export when ``make model`` left it in
    ``build/onnx-fp32``, otherwise the MiniLM-L6 base with an untrained head: same graph, same cost);
(d) the bundled int8 model.

DistilBERT-base weights are random: these rows measure time, not accuracy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from inference.settings import BUNDLED_MODEL_DIR
from model_export.data import DEFAULT_DEV_TSV, read_labeled_tsv

BENCH_DIR = Path("build/bench")
RESULTS_FILE = Path("results/bench/bench.json")


@dataclass
class BenchRow:
    """One model's timings."""

    name: str
    single_p50_ms: float
    single_p99_ms: float
    batch32_texts_per_s: float


def _time_single(predict: Callable[[list[str]], object], texts: list[str]) -> tuple[float, float]:
    timings = []
    for text in texts:
        started = time.perf_counter()
        predict([text])
        timings.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 99))


def time_batches(predict: Callable[[list[str]], object], texts: list[str], batch_size: int = 32) -> float:
    """Texts a second of one pass over ``texts`` in batches of ``batch_size``."""
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        predict(texts[start : start + batch_size])
    return len(texts) / (time.perf_counter() - started)


def _torch_predictor(checkpoint: Path, threads: int, pad_to_max: bool) -> Callable[[list[str]], object]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    padding = "max_length" if pad_to_max else True

    def predict(texts: list[str]) -> object:
        with torch.inference_mode():
            features = tokenizer(
                texts,
                padding=padding,
                truncation=True,
                max_length=512,
                return_tensors="pt",
                return_token_type_ids=False,
            )
            return model(**features).logits.softmax(-1)

    return predict


def _onnx_predictor(model_dir: Path, threads: int) -> Callable[[list[str]], object]:
    from inference.model import SentimentModel

    return SentimentModel.from_files(model_dir, threads=threads).predict_batch


def _ensure_distilbert_base_int8() -> tuple[Path, Path]:
    """Random DistilBERT-base checkpoint and its int8 ONNX export, built once into build/bench."""
    from model_export.export import export_onnx
    from model_export.quantize import quantize_onnx
    from model_export.random_checkpoint import build_random_distilbert

    checkpoint, fp32, int8 = (
        BENCH_DIR / "distilbert-base",
        BENCH_DIR / "distilbert-base-fp32",
        BENCH_DIR / "distilbert-base-int8",
    )
    if not (checkpoint / "config.json").is_file():
        build_random_distilbert(checkpoint, "base")
    if not (fp32 / "model.onnx").is_file():
        export_onnx(str(checkpoint), fp32)
    if not (int8 / "model.onnx").is_file():
        quantize_onnx(fp32, int8, arch="x86" if _is_x86() else "arm64")
    return checkpoint, int8


def _ensure_bundled_fp32() -> tuple[Path, str]:
    """The bundled model's FP32 ONNX: the real one from ``make model`` or the same architecture from the base."""
    real = Path("build/onnx-fp32")
    if (real / "model.onnx").is_file():
        return real, "trained FP32 export from make model"
    from model_export.export import export_onnx
    from model_export.train import LABELS, default_base_checkpoint

    stand_in = BENCH_DIR / "minilm-l6-fp32"
    if not (stand_in / "model.onnx").is_file():
        export_onnx(default_base_checkpoint(), stand_in)
        config = json.loads((stand_in / "config.json").read_text())
        config["id2label"] = {str(index): label for index, label in LABELS.items()}
        (stand_in / "config.json").write_text(json.dumps(config, indent=2))
    return stand_in, "MiniLM-L6 base, untrained head (same graph as the bundled FP32)"


def _is_x86() -> bool:
    import platform

    return platform.machine().lower() in {"x86_64", "amd64"}


def run_bench(threads: int, single_n: int, batch_n: int, data_tsv: Path = DEFAULT_DEV_TSV) -> list[BenchRow]:
    """Time every row on the same sentences; returns the rows in table order."""
    from rich.progress import track

    texts = read_labeled_tsv(data_tsv).texts
    single_texts, batch_texts = texts[:single_n], texts[:batch_n]
    checkpoint, distilbert_int8 = _ensure_distilbert_base_int8()
    bundled_fp32, fp32_note = _ensure_bundled_fp32()
    candidates = [
        ("(a) PyTorch FP32 DistilBERT-base, padded to 512", lambda: _torch_predictor(checkpoint, threads, True)),
        ("(a') PyTorch FP32 DistilBERT-base, dynamic padding", lambda: _torch_predictor(checkpoint, threads, False)),
        ("(b) ONNX int8 DistilBERT-base", lambda: _onnx_predictor(distilbert_int8, threads)),
        (f"(c) ONNX FP32 MiniLM-L6 ({fp32_note})", lambda: _onnx_predictor(bundled_fp32, threads)),
        ("(d) ONNX int8 MiniLM-L6 (bundled model)", lambda: _onnx_predictor(BUNDLED_MODEL_DIR, threads)),
    ]
    rows = []
    for name, make_predictor in track(candidates, description="benchmarking"):
        predict = make_predictor()
        predict(single_texts[:2])
        p50, p99 = _time_single(predict, single_texts)
        rows.append(BenchRow(name, round(p50, 3), round(p99, 3), round(time_batches(predict, batch_texts), 2)))
    return rows


def print_table(rows: list[BenchRow], threads: int, single_n: int, batch_n: int) -> None:
    """Rich table with ratios against the first row."""
    from rich.console import Console
    from rich.table import Table

    baseline = rows[0]
    table = Table(
        title=f"SST-2 dev sentences, {threads} thread(s): {single_n} single texts, {batch_n} in batches of 32"
    )
    for column in ("model", "p50 ms", "p99 ms", "p50 speed-up", "batch-32 texts/s", "throughput ×"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        table.add_row(
            row.name,
            f"{row.single_p50_ms:.2f}",
            f"{row.single_p99_ms:.2f}",
            f"{baseline.single_p50_ms / row.single_p50_ms:.1f}×",
            f"{row.batch32_texts_per_s:.1f}",
            f"{row.batch32_texts_per_s / baseline.batch32_texts_per_s:.1f}×",
        )
    Console(width=max(Console().width, 150)).print(table)


def main(threads: int, single_n: int, batch_n: int) -> int:
    """Run, print, and write ``results/bench/bench.json``."""
    rows = run_bench(threads, single_n, batch_n)
    print_table(rows, threads, single_n, batch_n)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    payload = {"threads": threads, "single_n": single_n, "batch_n": batch_n, "rows": [asdict(row) for row in rows]}
    RESULTS_FILE.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS_FILE}")
    return 0
